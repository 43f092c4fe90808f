/* attention (CUDA): causal GQA prefill attention, flash-style. A block owns AP_BQ consecutive query
 * rows of one head and streams the keys 0..last row through shared memory in tiles of AP_BK with
 * the online softmax (running max m, running sum l, rescaled output), so memory is O(tile) and
 * never L×L. Each warp keeps AP_ROWS query rows; lane j scores key j of the tile for all of them
 * (one K load serves AP_ROWS rows), then the probabilities are broadcast with shuffles for the
 * P·V update, where each lane owns head dims lane, lane+32, ... (NT of them). The row's natural-log
 * log-sum-exp m + log(l) is written for the H2O statistics.
 *
 * fp32 SIMT arithmetic, no FMA contraction (-fmad=false): the CPU reference's numbers up to
 * summation order. The backend runs it
 * with fp32 weights; with bf16/fp16 weights it runs the tensor-core twin in attention_tc.cu. */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/attention.h"
}

#define AP_WARPS 8
#define AP_ROWS 4
#define AP_BQ (AP_WARPS * AP_ROWS)
#define AP_BK 32

template <int NT>
__global__ void __launch_bounds__(AP_WARPS * 32)
    attention_prefill_kernel(float *out, float *lse, const float *q, const float *k, const float *v, int L, int H,
                             int Hkv, int hd, float scale)
{
    extern __shared__ float smem[];
    const int kstride = hd + 1; /* padded: lane j reading row j, column d hits bank (j + d) % 32 */
    float *qs = smem;                        /* (AP_BQ, hd) */
    float *ks_tile = qs + AP_BQ * hd;        /* (AP_BK, hd + 1) */
    float *vs_tile = ks_tile + AP_BK * kstride; /* (AP_BK, hd) */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int qb = gridDim.x - 1 - blockIdx.x; /* long (late) row blocks first */
    const int h = blockIdx.y, kvh = h / (H / Hkv);
    const int r0 = qb * AP_BQ;
    const long qstride = (long)H * hd, kvs = (long)Hkv * hd;

    for (int t = tid; t < AP_BQ * hd; t += blockDim.x) {
        int r = t / hd, d = t % hd;
        qs[t] = r0 + r < L ? q[(long)(r0 + r) * qstride + (long)h * hd + d] : 0.0f;
    }

    float m[AP_ROWS], l[AP_ROWS], o[AP_ROWS][NT];
#pragma unroll
    for (int r = 0; r < AP_ROWS; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++) o[r][t] = 0.0f;
    }
    const int row0 = r0 + warp * AP_ROWS; /* this warp's first query row */
    const int last_row = min(L - 1, r0 + AP_BQ - 1);
    const int n_tiles = last_row / AP_BK + 1;

    for (int tile = 0; tile < n_tiles; tile++) {
        const int j0 = tile * AP_BK;
        __syncthreads(); /* the previous tile is consumed (and qs is written, on the first pass) */
        for (int t = tid; t < AP_BK * hd; t += blockDim.x) {
            int j = t / hd, d = t % hd;
            bool ok = j0 + j < L;
            long off = (long)(j0 + j) * kvs + (long)kvh * hd + d;
            ks_tile[j * kstride + d] = ok ? k[off] : 0.0f;
            vs_tile[j * hd + d] = ok ? v[off] : 0.0f;
        }
        __syncthreads();
        if (j0 > row0 + AP_ROWS - 1) continue; /* every key of the tile is in this warp's future */

        float s[AP_ROWS];
#pragma unroll
        for (int r = 0; r < AP_ROWS; r++) s[r] = 0.0f;
        const float *kr = ks_tile + lane * kstride;
        const float *qw = qs + warp * AP_ROWS * hd;
        for (int d = 0; d < hd; d++) {
            float kd = kr[d];
#pragma unroll
            for (int r = 0; r < AP_ROWS; r++) s[r] += qw[r * hd + d] * kd;
        }
        const int j = j0 + lane;
        float p[AP_ROWS];
#pragma unroll
        for (int r = 0; r < AP_ROWS; r++) {
            const int i = row0 + r;
            const bool visible = i < L && j <= i;
            const float sc = visible ? s[r] * scale : -INFINITY;
            const float m_new = fmaxf(m[r], warp_max(sc));
            if (m_new == -INFINITY) { /* nothing visible yet (only padding rows past L) */
                p[r] = 0.0f;
                continue;
            }
            p[r] = visible ? expf(sc - m_new) : 0.0f;
            const float alpha = expf(m[r] - m_new); /* 0 on the first visible tile */
            l[r] = l[r] * alpha + warp_sum(p[r]);
#pragma unroll
            for (int t = 0; t < NT; t++) o[r][t] *= alpha;
            m[r] = m_new;
        }
        for (int jj = 0; jj < AP_BK; jj++) {
            float pj[AP_ROWS];
#pragma unroll
            for (int r = 0; r < AP_ROWS; r++) pj[r] = __shfl_sync(0xffffffffu, p[r], jj);
            const float *vr = vs_tile + jj * hd;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const int d = lane + 32 * t;
                const float vd = d < hd ? vr[d] : 0.0f;
#pragma unroll
                for (int r = 0; r < AP_ROWS; r++) o[r][t] += pj[r] * vd;
            }
        }
    }

#pragma unroll
    for (int r = 0; r < AP_ROWS; r++) {
        const int i = row0 + r;
        if (i >= L) continue;
        const float inv = 1.0f / l[r];
        float *orow = out + (long)i * qstride + (long)h * hd;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const int d = lane + 32 * t;
            if (d < hd) orow[d] = o[r][t] * inv;
        }
        if (lane == 0) lse[(long)h * L + i] = m[r] + logf(l[r]);
    }
}

template <int NT>
static void attention_prefill_launch(float *out, float *lse, const float *q, const float *k, const float *v, int L,
                                     int H, int Hkv, int hd, cudaStream_t stream)
{
    const size_t smem = sizeof(float) * ((size_t)AP_BQ * hd + (size_t)AP_BK * (hd + 1) + (size_t)AP_BK * hd);
    CUDA_CHECK(cudaFuncSetAttribute(attention_prefill_kernel<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)smem));
    dim3 grid((L + AP_BQ - 1) / AP_BQ, H);
    attention_prefill_kernel<NT><<<grid, AP_WARPS * 32, smem, stream>>>(out, lse, q, k, v, L, H, Hkv, hd,
                                                                        1.0f / sqrtf((float)hd));
    CUDA_LAUNCH_CHECK();
}

extern "C" void attention_prefill_cuda(float *out, float *lse, const float *q, const float *k, const float *v,
                                       int L, int H, int Hkv, int hd, void *stream)
{
    if (L <= 0 || H <= 0) return;
    if (hd > 256 || hd <= 0 || Hkv <= 0 || H % Hkv)
        kv_die("attention_prefill_cuda: unsupported shape H=%d Hkv=%d head_dim=%d (head_dim <= 256, H %% Hkv == 0)",
               H, Hkv, hd);
    cudaStream_t s = (cudaStream_t)stream;
    if (hd <= 64) attention_prefill_launch<2>(out, lse, q, k, v, L, H, Hkv, hd, s);
    else if (hd <= 128) attention_prefill_launch<4>(out, lse, q, k, v, L, H, Hkv, hd, s);
    else attention_prefill_launch<8>(out, lse, q, k, v, L, H, Hkv, hd, s);
}
