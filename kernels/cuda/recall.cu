/* recall (CUDA): the attention recall of each sequence and query head (kernels/recall.h), twin of
 * attention_recall_cpu. Block (head, sequence): each thread runs an online softmax over its strided
 * share of the L prompt keys and the tail, carrying (max, total mass, evicted mass); the block merges
 * the threads' triples. Whether prompt position j is kept is a binary search of the sorted kept row.
 * Descriptors travel by value as a kernel parameter, so a captured decode graph holds them; the tail
 * length is read from n_tail_at when set, as in decode_attention. */
#include "kernels/cuda/common.cuh"

#include <string.h>

extern "C" {
#include "kernels/recall.h"
}

#define RC_THREADS 256
#define RC_MAX_SEQS 32 /* 32 descriptors of 64 bytes per launch: under the 4 KiB parameter limit */

typedef struct {
    recall_seq s[RC_MAX_SEQS];
} rc_batch;

__device__ static int rc_kept(const int *pos, int n, int j)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = (lo + hi) >> 1;
        if (pos[mid] < j) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && pos[lo] == j;
}

/* Merge (m2, s2, d2) into (m, s, d): masses rescaled to the larger max. */
__device__ static void rc_merge(float &m, float &s, float &d, float m2, float s2, float d2)
{
    if (m2 == -INFINITY) return;
    if (m == -INFINITY) {
        m = m2, s = s2, d = d2;
        return;
    }
    const float mn = fmaxf(m, m2), a = expf(m - mn), b = expf(m2 - mn);
    s = s * a + s2 * b, d = d * a + d2 * b, m = mn;
}

__global__ void __launch_bounds__(RC_THREADS)
    recall_kernel(const rc_batch batch, const float *q, float *out, int H, int Hkv, int hd, float scale)
{
    __shared__ float sm[3][RC_THREADS];
    const int h = blockIdx.x, b = blockIdx.y;
    const recall_seq &sq = batch.s[b];
    const int L = sq.L, n = L + (sq.n_tail_at ? *sq.n_tail_at : sq.n_tail), np = sq.len[h];
    const long ks = (long)Hkv * hd, off = (long)(h / (H / Hkv)) * hd;
    const int *pos = sq.pos + (long)h * sq.cap;
    const float *qv = q + ((long)b * H + h) * hd;
    float m = -INFINITY, s = 0.0f, d = 0.0f;
    for (int j = threadIdx.x; j < n; j += RC_THREADS) {
        const float *kr = j < L ? sq.k_prefix + (long)j * ks + off : sq.k_tail + (long)(j - L) * ks + off;
        float dot = 0.0f;
        for (int t = 0; t < hd; t++) dot += qv[t] * kr[t];
        const float x = dot * scale, dropped = j < L && !rc_kept(pos, np, j);
        rc_merge(m, s, d, x, 1.0f, dropped);
    }
    sm[0][threadIdx.x] = m, sm[1][threadIdx.x] = s, sm[2][threadIdx.x] = d;
    __syncthreads();
    for (int w = RC_THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) {
            float mm = sm[0][threadIdx.x], ss = sm[1][threadIdx.x], dd = sm[2][threadIdx.x];
            rc_merge(mm, ss, dd, sm[0][threadIdx.x + w], sm[1][threadIdx.x + w], sm[2][threadIdx.x + w]);
            sm[0][threadIdx.x] = mm, sm[1][threadIdx.x] = ss, sm[2][threadIdx.x] = dd;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[(long)b * H + h] = sm[2][0] == 0.0f ? 1.0f : 1.0f - sm[2][0] / sm[1][0];
}

extern "C" void attention_recall_cuda(float *out, const float *q, const recall_seq *seqs, int B, int H, int Hkv,
                                      int hd, void *stream)
{
    if (B <= 0 || H <= 0) return;
    if (hd <= 0 || Hkv <= 0 || H % Hkv)
        kv_die("attention_recall_cuda: unsupported shape H=%d Hkv=%d head_dim=%d (H %% Hkv == 0)", H, Hkv, hd);
    const float scale = 1.0f / sqrtf((float)hd);
    for (int b0 = 0; b0 < B; b0 += RC_MAX_SEQS) {
        const int nb = B - b0 < RC_MAX_SEQS ? B - b0 : RC_MAX_SEQS;
        rc_batch batch;
        memset(&batch, 0, sizeof batch);
        memcpy(batch.s, seqs + b0, sizeof(recall_seq) * (size_t)nb);
        recall_kernel<<<dim3(H, nb), RC_THREADS, 0, (cudaStream_t)stream>>>(batch, q + (long)b0 * H * hd,
                                                                           out + (long)b0 * H, H, Hkv, hd, scale);
        CUDA_LAUNCH_CHECK();
    }
}
