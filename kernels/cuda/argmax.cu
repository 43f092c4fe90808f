/* argmax (CUDA): one block per row reduces (value, index) pairs with the CPU's rule — the larger
 * value wins, equal values go to the lower index — then the indices are copied to the host (the
 * call synchronizes the stream: greedy decoding needs the token on the host anyway). */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/argmax.h"
}

__device__ __forceinline__ void argmax_pick(float &bv, int &bi, float v, int i)
{
    if (v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

__global__ void argmax_kernel(int *out, const float *x, int n)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const float *row = x + (long)blockIdx.x * n;
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < n; i += blockDim.x) argmax_pick(bv, bi, row[i], i);
    for (int o = 16; o > 0; o >>= 1) {
        float v = __shfl_xor_sync(0xffffffffu, bv, o);
        int i = __shfl_xor_sync(0xffffffffu, bi, o);
        argmax_pick(bv, bi, v, i);
    }
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) {
        sv[wid] = bv;
        si[wid] = bi;
    }
    __syncthreads();
    if (wid == 0) {
        const int nw = blockDim.x >> 5;
        bv = lane < nw ? sv[lane] : -INFINITY;
        bi = lane < nw ? si[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            float v = __shfl_xor_sync(0xffffffffu, bv, o);
            int i = __shfl_xor_sync(0xffffffffu, bi, o);
            argmax_pick(bv, bi, v, i);
        }
        /* A row of NaN/-inf only: the CPU keeps index 0. */
        if (lane == 0) out[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
    }
}

extern "C" void argmax_cuda(int *out, const float *x, int n_rows, int n, void *stream)
{
    if (n_rows <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    if (cuda_stream_capturing(s)) kv_die("argmax_cuda: called inside a CUDA graph capture (it returns to the host)");
    int *d = (int *)cuda_scratch(s, SCRATCH_ARGMAX, sizeof(int) * (size_t)n_rows);
    argmax_kernel<<<n_rows, 1024, 0, s>>>(d, x, n);
    CUDA_LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(out, d, sizeof(int) * (size_t)n_rows, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}
