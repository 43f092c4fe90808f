/* add (CUDA): the residual connection x += y. */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/add.h"
}

__global__ void add_kernel(float *x, const float *y, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        x[i] += y[i];
}

extern "C" void add_cuda(float *x, const float *y, long n, void *stream)
{
    if (n <= 0) return;
    add_kernel<<<cuda_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(x, y, n);
    CUDA_LAUNCH_CHECK();
}
