/* rmsnorm (CUDA): one block per row; the mean of squares accumulated in double like the CPU
 * reference, so the two agree to fp32 rounding of the final products. out may alias x: each
 * thread rewrites only the elements it read. */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/rmsnorm.h"
}

__global__ void rmsnorm_kernel(float *out, const float *x, const float *w, int dim, float eps)
{
    __shared__ double red[32];
    const float *xr = x + (long)blockIdx.x * dim;
    float *yr = out + (long)blockIdx.x * dim;
    double ss = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += (double)xr[i] * xr[i];
    ss = block_sum_d(ss, red);
    const float scale = (float)(1.0 / sqrt(ss / dim + eps));
    for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = w[i] * (xr[i] * scale);
}

extern "C" void rmsnorm_cuda(float *out, const float *x, const float *w, int n_rows, int dim, float eps,
                             void *stream)
{
    if (n_rows <= 0) return;
    int threads = dim >= 4096 ? 1024 : dim >= 1024 ? 512 : 256;
    rmsnorm_kernel<<<n_rows, threads, 0, (cudaStream_t)stream>>>(out, x, w, dim, eps);
    CUDA_LAUNCH_CHECK();
}
