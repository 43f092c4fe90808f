/* embedding (CUDA): row gather from the device copy of the token-embedding table, converted to
 * fp32 on the way out. One block per token. */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/embedding.h"
}

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <typename T>
__global__ void embedding_kernel(float *out, const T *table, const int *ids, int dim)
{
    const long row = blockIdx.x;
    const T *src = table + (long)ids[row] * dim;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) out[row * dim + c] = to_f32(src[c]);
}

void embedding_cuda_typed(float *out, const void *table, const int *ids, int n, int dim, kv_wtype t,
                          cudaStream_t stream)
{
    if (n <= 0) return;
    if (t == KV_WTYPE_BF16)
        embedding_kernel<<<n, 256, 0, stream>>>(out, (const __nv_bfloat16 *)table, ids, dim);
    else if (t == KV_WTYPE_F16)
        embedding_kernel<<<n, 256, 0, stream>>>(out, (const __half *)table, ids, dim);
    else
        embedding_kernel<<<n, 256, 0, stream>>>(out, (const float *)table, ids, dim);
    CUDA_LAUNCH_CHECK();
}

extern "C" void embedding_cuda(float *out, const void *table, const int *ids, int n, int dim, void *stream)
{
    embedding_cuda_typed(out, table, ids, n, dim, KV_WTYPE_BF16, (cudaStream_t)stream);
}
