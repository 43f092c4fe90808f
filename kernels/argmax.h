/* argmax: greedy token choice, the lowest index winning ties. */
#ifndef KV_ARGMAX_H
#define KV_ARGMAX_H

/* For each of n_rows rows of x (n_rows, n): out[r] = argmax, lowest index on ties. */
void argmax_cpu(int *out, const float *x, int n_rows, int n);
/* The same with the kernel of one instruction set (qmm_isa; tests run each against the scalar one). */
void argmax_cpu_isa(int isa, int *out, const float *x, int n_rows, int n);
void argmax_cuda(int *out, const float *x, int n_rows, int n, void *stream);

#endif
