/* add: the residual connection, x += y elementwise. */
#ifndef KV_ADD_H
#define KV_ADD_H

void add_cpu(float *x, const float *y, long n);
void add_cuda(float *x, const float *y, long n, void *stream);

#endif
