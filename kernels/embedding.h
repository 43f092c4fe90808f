/* embedding: gather rows of the token-embedding table. */
#ifndef KV_EMBEDDING_H
#define KV_EMBEDDING_H

/* out (n, dim) = table[ids[i]] rows. */
void embedding_cpu(float *out, const float *table, const int *ids, int n, int dim);
void embedding_cuda(float *out, const void *table, const int *ids, int n, int dim, void *stream);

#endif
