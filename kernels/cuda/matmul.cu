/* matmul (CUDA): out = x · W^T through cuBLAS with fp32 accumulation (CUBLAS_COMPUTE_32F). W lives
 * on the device in the weight type (bf16 by default, fp16, or fp32); the fp32 activations are
 * converted to that type first because cuBLAS wants both operands in one type. fp32 weights use
 * plain fp32 GEMM (the default math mode: no TF32), matching the CPU's sgemm to summation order.
 *
 * Row-major out (n, out_dim) is column-major (out_dim, n): out^T = W · x^T, where the row-major W
 * (out_dim, in_dim) seen column-major is W^T (in_dim, out_dim), hence op(A) = T. */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/matmul.h"
}

void matmul_cuda_typed(float *out, const float *x, const void *w, int n, int in_dim, int out_dim,
                       cublasHandle_t handle, kv_wtype t)
{
    if (n <= 0 || out_dim <= 0) return;
    const float one = 1.0f, zero = 0.0f;
    const void *b = x;
    cudaDataType_t ab = CUDA_R_32F;
    if (t != KV_WTYPE_F32) {
        cudaStream_t s;
        CUBLAS_CHECK(kv_cublas.get_stream(handle, &s));
        void *xc = cuda_scratch(s, SCRATCH_MATMUL_X, kv_wtype_size(t) * (size_t)n * in_dim);
        cuda_convert_f32(xc, x, (long)n * in_dim, t, s);
        b = xc;
        ab = t == KV_WTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    }
    CUBLAS_CHECK(kv_cublas.gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, out_dim, n, in_dim, &one, w, ab, in_dim, b, ab,
                              in_dim, &zero, out, CUDA_R_32F, out_dim, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

extern "C" void matmul_cuda(float *out, const float *x, const void *w, int n, int in_dim, int out_dim,
                            void *handle)
{
    matmul_cuda_typed(out, x, w, n, in_dim, out_dim, (cublasHandle_t)handle, KV_WTYPE_BF16);
}
