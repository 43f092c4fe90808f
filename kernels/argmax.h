/* argmax: greedy token choice, the lowest index winning ties. */
#ifndef KV_ARGMAX_H
#define KV_ARGMAX_H

/* For each of n_rows rows of x (n_rows, n): out[r] = argmax, lowest index on ties. */
void argmax_cpu(int *out, const float *x, int n_rows, int n);
void argmax_cuda(int *out, const float *x, int n_rows, int n, void *stream);

#endif
