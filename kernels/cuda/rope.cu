/* rope (CUDA): rotate-half RoPE, one thread per (row, head, frequency) pair. The angle is the same
 * fp32 product the CPU forms and cos/sin are taken in double, so both backends agree to rounding
 * even at positions near 128k where fp32 sincos of a large argument would drift. */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/rope.h"
}

__global__ void rope_kernel(float *x, long n_pairs, int n_heads, int half, const int *positions,
                            const float *inv_freq)
{
    for (long t = blockIdx.x * (long)blockDim.x + threadIdx.x; t < n_pairs; t += (long)gridDim.x * blockDim.x) {
        const int i = (int)(t % half);
        const long rh = t / half; /* row * n_heads + head */
        const long r = rh / n_heads;
        const float ang = (float)positions[r] * inv_freq[i];
        double s, c;
        sincos((double)ang, &s, &c);
        float *v = x + rh * 2 * half;
        const float a = v[i], b = v[i + half];
        v[i] = a * (float)c - b * (float)s;
        v[i + half] = b * (float)c + a * (float)s;
    }
}

extern "C" void rope_cuda(float *x, int n_rows, int n_heads, int head_dim, const int *positions,
                          const float *inv_freq, void *stream)
{
    const long n_pairs = (long)n_rows * n_heads * (head_dim / 2);
    if (n_pairs <= 0) return;
    rope_kernel<<<cuda_blocks(n_pairs, 256), 256, 0, (cudaStream_t)stream>>>(x, n_pairs, n_heads, head_dim / 2,
                                                                            positions, inv_freq);
    CUDA_LAUNCH_CHECK();
}
