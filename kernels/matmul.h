/* matmul: the linear layers, out = x · W^T with W stored (out_dim, in_dim) row-major as in HF. */
#ifndef KV_MATMUL_H
#define KV_MATMUL_H

/* out (n, out_dim) = x (n, in_dim) · w^T; w (out_dim, in_dim). BLAS sgemm. */
void matmul_cpu(float *out, const float *x, const float *w, int n, int in_dim, int out_dim);
/* w in bf16 on the device, fp32 accumulate (cuBLAS). handle: a cublasHandle_t; its stream is used. */
void matmul_cuda(float *out, const float *x, const void *w, int n, int in_dim, int out_dim, void *handle);

#endif
