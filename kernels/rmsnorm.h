/* rmsnorm: y = x / sqrt(mean(x^2) + eps) * w, per row (Llama RMSNorm, fp32 statistics). */
#ifndef KV_RMSNORM_H
#define KV_RMSNORM_H

/* out, x: (n_rows, dim); w: (dim). out may alias x. */
void rmsnorm_cpu(float *out, const float *x, const float *w, int n_rows, int dim, float eps);
void rmsnorm_cuda(float *out, const float *x, const float *w, int n_rows, int dim, float eps, void *stream);

#endif
