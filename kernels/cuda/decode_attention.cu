/* decode_attention (CUDA): one new query per sequence over its view of the shared prompt K/V (the
 * kept positions of each query head) plus its own generated tail, split over the key axis
 * (flash-decoding): block (split, head, sequence) runs an online softmax over its slice of keys,
 * one warp per key at a time with the head dims spread over the lanes, and writes a partial
 * (max, sum, unnormalised output); a second kernel merges the splits with the usual rescaling.
 * Keys are read in place through the position list: no gathered copy of the cache exists.
 *
 * The sequence descriptors travel as a kernel parameter (by value), so a captured CUDA graph holds
 * them. Descriptors with n_tail_at read the tail length from device memory when the kernel runs
 * (n_tail is then only the bound the splits are sized for): the engine captures a decode step once
 * and replays it, uploading the new lengths before each launch. */
#include "kernels/cuda/common.cuh"

#include <string.h>

extern "C" {
#include "kernels/decode_attention.h"
}

#define DA_WARPS 4
#define DA_MAX_SEQS 32 /* per launch: 32 descriptors of 80 bytes stay under the 4 KiB parameter limit */
#define DA_MIN_SPLIT 64

typedef struct {
    decode_seq s[DA_MAX_SEQS];
} da_batch;

template <int NT>
__global__ void __launch_bounds__(DA_WARPS * 32)
    decode_partial_kernel(const da_batch batch, const float *q, float *part, int H, int Hkv, int hd, int split_len,
                          float scale)
{
    __shared__ float sm_m[DA_WARPS], sm_l[DA_WARPS];
    extern __shared__ float sm_o[]; /* (DA_WARPS, hd) */
    const int sp = blockIdx.x, h = blockIdx.y, b = blockIdx.z, n_split = gridDim.x;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const decode_seq &sq = batch.s[b];
    const int np = sq.len[h], n = np + (sq.n_tail_at ? *sq.n_tail_at : sq.n_tail);
    const long ks = (long)Hkv * hd, off = (long)(h / (H / Hkv)) * hd;
    const int *pos = sq.pos + (long)h * sq.cap;
    const int j0 = sp * split_len, j1 = min(n, j0 + split_len);

    float qv[NT], o[NT];
    const float *qrow = q + ((long)b * H + h) * hd;
#pragma unroll
    for (int t = 0; t < NT; t++) {
        const int d = lane + 32 * t;
        qv[t] = d < hd ? qrow[d] : 0.0f;
        o[t] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int j = j0 + warp; j < j1; j += DA_WARPS) {
        const long row = j < np ? (long)pos[j] * ks + off : (long)(j - np) * ks + off;
        const float *kr = (j < np ? sq.k_prefix : sq.k_tail) + row;
        const float *vr = (j < np ? sq.v_prefix : sq.v_tail) + row;
        float dot = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const int d = lane + 32 * t;
            if (d < hd) dot += qv[t] * kr[d];
        }
        const float s = warp_sum(dot) * scale;
        const float m_new = fmaxf(m, s);
        const float alpha = expf(m - m_new), p = expf(s - m_new);
        l = l * alpha + p;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const int d = lane + 32 * t;
            o[t] = o[t] * alpha + (d < hd ? p * vr[d] : 0.0f);
        }
        m = m_new;
    }
    /* merge the warps of the block */
    if (lane == 0) {
        sm_m[warp] = m;
        sm_l[warp] = l;
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        const int d = lane + 32 * t;
        if (d < hd) sm_o[warp * hd + d] = o[t];
    }
    __syncthreads();
    float mm = -INFINITY;
    for (int w = 0; w < DA_WARPS; w++) mm = fmaxf(mm, sm_m[w]);
    float *dst = part + (((long)b * H + h) * n_split + sp) * (hd + 2);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.0f;
        if (mm != -INFINITY)
            for (int w = 0; w < DA_WARPS; w++)
                if (sm_m[w] != -INFINITY) acc += sm_o[w * hd + d] * expf(sm_m[w] - mm);
        dst[2 + d] = acc;
    }
    if (threadIdx.x == 0) {
        float ll = 0.0f;
        if (mm != -INFINITY)
            for (int w = 0; w < DA_WARPS; w++)
                if (sm_m[w] != -INFINITY) ll += sm_l[w] * expf(sm_m[w] - mm);
        dst[0] = mm;
        dst[1] = ll;
    }
}

/* out (b, h) = Σ_s e^{m_s - M} o_s / Σ_s e^{m_s - M} l_s over the splits that saw any key. */
__global__ void decode_combine_kernel(float *out, const float *part, int H, int hd, int n_split)
{
    const int h = blockIdx.x, b = blockIdx.y;
    const float *src = part + ((long)b * H + h) * n_split * (hd + 2);
    float mm = -INFINITY;
    for (int s = 0; s < n_split; s++) mm = fmaxf(mm, src[(long)s * (hd + 2)]);
    float den = 0.0f;
    for (int s = 0; s < n_split; s++) {
        const float ms = src[(long)s * (hd + 2)];
        if (ms != -INFINITY) den += src[(long)s * (hd + 2) + 1] * expf(ms - mm);
    }
    const float inv = 1.0f / den;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float num = 0.0f;
        for (int s = 0; s < n_split; s++) {
            const float ms = src[(long)s * (hd + 2)];
            if (ms != -INFINITY) num += src[(long)s * (hd + 2) + 2 + d] * expf(ms - mm);
        }
        out[((long)b * H + h) * hd + d] = num * inv;
    }
}

template <int NT>
static void decode_launch(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd,
                          cudaStream_t stream)
{
    int sm_count = 132, dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, dev));
    const float scale = 1.0f / sqrtf((float)hd);
    for (int b0 = 0; b0 < B; b0 += DA_MAX_SEQS) {
        const int nb = B - b0 < DA_MAX_SEQS ? B - b0 : DA_MAX_SEQS;
        da_batch batch;
        memset(&batch, 0, sizeof batch);
        int max_keys = 1;
        for (int b = 0; b < nb; b++) {
            batch.s[b] = seqs[b0 + b];
            /* len[h] <= cap is the view's contract; the host knows cap, not len (device memory). */
            int n = seqs[b0 + b].cap + seqs[b0 + b].n_tail;
            max_keys = n > max_keys ? n : max_keys;
        }
        /* Enough splits for ~4 blocks per SM, each at least DA_MIN_SPLIT keys. */
        int n_split = (4 * sm_count + nb * H - 1) / (nb * H);
        int max_split = (max_keys + DA_MIN_SPLIT - 1) / DA_MIN_SPLIT;
        n_split = n_split < 1 ? 1 : n_split > max_split ? max_split : n_split;
        const int split_len = (max_keys + n_split - 1) / n_split;
        float *part = (float *)cuda_scratch(stream, SCRATCH_DECODE_PART,
                                            sizeof(float) * (size_t)nb * H * n_split * (hd + 2));
        dim3 grid(n_split, H, nb);
        decode_partial_kernel<NT><<<grid, DA_WARPS * 32, sizeof(float) * DA_WARPS * hd, stream>>>(
            batch, q + (long)b0 * H * hd, part, H, Hkv, hd, split_len, scale);
        CUDA_LAUNCH_CHECK();
        decode_combine_kernel<<<dim3(H, nb), hd < 128 ? 64 : 128, 0, stream>>>(out + (long)b0 * H * hd, part, H, hd,
                                                                              n_split);
        CUDA_LAUNCH_CHECK();
    }
}

extern "C" void decode_attention_cuda(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv,
                                      int hd, void *stream)
{
    if (B <= 0 || H <= 0) return;
    if (hd > 256 || hd <= 0 || Hkv <= 0 || H % Hkv)
        kv_die("decode_attention_cuda: unsupported shape H=%d Hkv=%d head_dim=%d (head_dim <= 256, H %% Hkv == 0)",
               H, Hkv, hd);
    cudaStream_t s = (cudaStream_t)stream;
    if (hd <= 64) decode_launch<2>(out, q, seqs, B, H, Hkv, hd, s);
    else if (hd <= 128) decode_launch<4>(out, q, seqs, B, H, Hkv, hd, s);
    else decode_launch<8>(out, q, seqs, B, H, Hkv, hd, s);
}

/* Block b copies row b of k_new/v_new into its sequence's tail slot. */
__global__ void tail_store_kernel(const da_batch batch, const float *k_new, const float *v_new, int kv_dim)
{
    const decode_seq &sq = batch.s[blockIdx.x];
    const long slot = (long)((sq.n_tail_at ? *sq.n_tail_at : sq.n_tail) - 1) * kv_dim;
    const float *kr = k_new + (long)blockIdx.x * kv_dim, *vr = v_new + (long)blockIdx.x * kv_dim;
    for (int d = threadIdx.x; d < kv_dim; d += blockDim.x) {
        sq.k_tail[slot + d] = kr[d];
        sq.v_tail[slot + d] = vr[d];
    }
}

extern "C" void decode_tail_store_cuda(const decode_seq *seqs, int B, const float *k_new, const float *v_new,
                                       int kv_dim, void *stream)
{
    for (int b0 = 0; b0 < B; b0 += DA_MAX_SEQS) {
        const int nb = B - b0 < DA_MAX_SEQS ? B - b0 : DA_MAX_SEQS;
        da_batch batch;
        memset(&batch, 0, sizeof batch);
        memcpy(batch.s, seqs + b0, sizeof(decode_seq) * (size_t)nb);
        tail_store_kernel<<<nb, 256, 0, (cudaStream_t)stream>>>(batch, k_new + (long)b0 * kv_dim,
                                                                 v_new + (long)b0 * kv_dim, kv_dim);
        CUDA_LAUNCH_CHECK();
    }
}
