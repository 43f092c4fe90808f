/* swiglu (CUDA): out = silu(gate) * up, elementwise with accurate expf (no fast-math). */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/swiglu.h"
}

__global__ void swiglu_kernel(float *out, const float *gate, const float *up, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" void swiglu_cuda(float *out, const float *gate, const float *up, long n, void *stream)
{
    if (n <= 0) return;
    swiglu_kernel<<<cuda_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(out, gate, up, n);
    CUDA_LAUNCH_CHECK();
}
