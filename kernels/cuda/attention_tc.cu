/* attention_tc (CUDA): causal GQA prefill attention on the tensor cores (bf16 or fp16 WMMA — the
 * compute dtype's —, fp32 accumulation, softmax in fp32 as eager attention does), flash-style like attention.cu and with the same contract (out, and each row's
 * natural-log log-sum-exp for the H2O statistics). Used when the weights are bf16/fp16 — the
 * arithmetic is then half precision anyway — while fp32 weights keep the fp32 SIMT kernel whose
 * numbers equal the CPU's to summation order.
 *
 * A block owns TC_BM = 64 query rows of one head, 16 per warp, and streams the keys 0..its last
 * row in tiles of TC_BN = 64 through shared memory, converted to the half type T on the way in. Per tile each
 * warp computes its 16×64 scores S = Q·Kᵀ with WMMA into shared memory, runs the online softmax
 * row by row (the whole warp on one row: max, rescale, sum) writing P in T and rescaling its
 * fp32 output rows O, then accumulates O += P·V with WMMA, the accumulator loaded from and stored
 * back to O. Every per-row step is warp-local; only the K/V tile loads need the block. Memory is
 * O(tile), never L×L. Head dims 64 and 128 (Llama-3, SmolLM2); other sizes use attention.cu. */
#include "kernels/cuda/common.cuh"

#include <mma.h>

extern "C" {
#include "kernels/attention.h"
}

using namespace nvcuda;

#define TC_WARPS 4
#define TC_BM (TC_WARPS * 16)
#define TC_BN 64
#define TC_PAD_H 8 /* half-type row padding: rows stay 32-byte aligned, banks spread */
#define TC_PAD_F 4 /* fp32 row padding */

/* The half type's round-to-nearest conversion (bf16 or fp16 WMMA operands). */
template <typename T> __device__ __forceinline__ T tc_half(float x);
template <> __device__ __forceinline__ __nv_bfloat16 tc_half<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ __half tc_half<__half>(float x) { return __float2half_rn(x); }

template <typename T, int HD>
struct tc_layout {
    static constexpr int ldh = HD + TC_PAD_H;    /* Q, K, V tiles (bf16) */
    static constexpr int lds = TC_BN + TC_PAD_F; /* S per warp (fp32) */
    static constexpr int ldp = TC_BN + TC_PAD_H; /* P per warp (bf16) */
    static constexpr int ldo = HD + TC_PAD_F;    /* O per warp (fp32) */
    static constexpr size_t q_bytes = sizeof(T) * TC_BM * ldh;
    static constexpr size_t kv_bytes = sizeof(T) * TC_BN * ldh;
    static constexpr size_t s_bytes = sizeof(float) * TC_WARPS * 16 * lds;
    static constexpr size_t p_bytes = sizeof(T) * TC_WARPS * 16 * ldp;
    static constexpr size_t o_bytes = sizeof(float) * TC_WARPS * 16 * ldo;
    static constexpr size_t total = q_bytes + 2 * kv_bytes + s_bytes + p_bytes + o_bytes;
};

template <typename T, int HD>
__global__ void __launch_bounds__(TC_WARPS * 32)
    attention_tc_kernel(float *out, float *lse, const float *q, const float *k, const float *v, int L, int H, int Hkv,
                        float scale)
{
    typedef tc_layout<T, HD> lay;
    extern __shared__ __align__(128) unsigned char smem[];
    T *qs = (T *)smem;
    T *ks = (T *)(smem + lay::q_bytes);
    T *vs = (T *)(smem + lay::q_bytes + lay::kv_bytes);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    float *sw = (float *)(smem + lay::q_bytes + 2 * lay::kv_bytes) + warp * 16 * lay::lds;
    T *pw =
        (T *)(smem + lay::q_bytes + 2 * lay::kv_bytes + lay::s_bytes) + warp * 16 * lay::ldp;
    float *ow = (float *)(smem + lay::q_bytes + 2 * lay::kv_bytes + lay::s_bytes + lay::p_bytes) + warp * 16 * lay::ldo;

    const int qb = gridDim.x - 1 - blockIdx.x; /* long (late) row blocks first */
    const int h = blockIdx.y, kvh = h / (H / Hkv);
    const int r0 = qb * TC_BM, w0 = r0 + warp * 16; /* the block's and this warp's first row */
    const long qstride = (long)H * HD, kvs = (long)Hkv * HD;

    for (int t = tid; t < TC_BM * HD; t += blockDim.x) {
        const int r = t / HD, d = t % HD;
        const float x = r0 + r < L ? q[(long)(r0 + r) * qstride + (long)h * HD + d] : 0.0f;
        qs[r * lay::ldh + d] = tc_half<T>(x);
    }
    for (int t = lane; t < 16 * HD; t += 32) ow[(t / HD) * lay::ldo + t % HD] = 0.0f;
    float m[16], l[16]; /* per row of the warp, the same in every lane */
#pragma unroll
    for (int r = 0; r < 16; r++) m[r] = -INFINITY, l[r] = 0.0f;

    const int last_row = min(L - 1, r0 + TC_BM - 1);
    const int n_tiles = last_row / TC_BN + 1;
    for (int tile = 0; tile < n_tiles; tile++) {
        const int j0 = tile * TC_BN;
        __syncthreads(); /* the previous tile is consumed (and qs is written, on the first pass) */
        for (int t = tid; t < TC_BN * HD; t += blockDim.x) {
            const int j = t / HD, d = t % HD;
            const bool ok = j0 + j < L;
            const long off = (long)(j0 + j) * kvs + (long)kvh * HD + d;
            ks[j * lay::ldh + d] = tc_half<T>(ok ? k[off] : 0.0f);
            vs[j * lay::ldh + d] = tc_half<T>(ok ? v[off] : 0.0f);
        }
        __syncthreads();
        if (j0 > w0 + 15 || w0 >= L) continue; /* the whole tile is in this warp's future */

        /* S = Q Kᵀ for the warp's 16 rows: K stored row-major is Kᵀ column-major. */
        for (int n = 0; n < TC_BN / 16; n++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
                wmma::load_matrix_sync(a, qs + warp * 16 * lay::ldh + kk * 16, lay::ldh);
                wmma::load_matrix_sync(b, ks + n * 16 * lay::ldh + kk * 16, lay::ldh);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(sw + n * 16, acc, lay::lds, wmma::mem_row_major);
        }
        __syncwarp();

        /* Online softmax, one row at a time; lane c owns columns c and c + 32. */
#pragma unroll
        for (int r = 0; r < 16; r++) {
            const int i = w0 + r;
            float sc[2], p[2];
#pragma unroll
            for (int u = 0; u < 2; u++) {
                const int c = lane + 32 * u, j = j0 + c;
                sc[u] = i < L && j <= i ? sw[r * lay::lds + c] * scale : -INFINITY;
            }
            const float m_new = fmaxf(m[r], warp_max(fmaxf(sc[0], sc[1])));
            float alpha = 1.0f;
            if (m_new == -INFINITY) { /* nothing visible yet (a padding row past L) */
                p[0] = p[1] = 0.0f;
            } else {
                p[0] = expf(sc[0] - m_new), p[1] = expf(sc[1] - m_new); /* exp(-inf) = 0 for masked keys */
                alpha = expf(m[r] - m_new);                           /* 0 on the first visible tile */
                l[r] = l[r] * alpha + warp_sum(p[0] + p[1]);
                m[r] = m_new;
            }
            pw[r * lay::ldp + lane] = tc_half<T>(p[0]);
            pw[r * lay::ldp + lane + 32] = tc_half<T>(p[1]);
            if (alpha != 1.0f)
                for (int d = lane; d < HD; d += 32) ow[r * lay::ldo + d] *= alpha;
        }
        __syncwarp();

        /* O += P V, the accumulator round-tripping through the warp's O rows. */
        for (int n = 0; n < HD / 16; n++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, ow + n * 16, lay::ldo, wmma::mem_row_major);
#pragma unroll
            for (int kk = 0; kk < TC_BN / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
                wmma::load_matrix_sync(a, pw + kk * 16, lay::ldp);
                wmma::load_matrix_sync(b, vs + kk * 16 * lay::ldh + n * 16, lay::ldh);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(ow + n * 16, acc, lay::ldo, wmma::mem_row_major);
        }
        __syncwarp();
    }

#pragma unroll
    for (int r = 0; r < 16; r++) {
        const int i = w0 + r;
        if (i >= L) continue;
        const float inv = 1.0f / l[r];
        float *orow = out + (long)i * qstride + (long)h * HD;
        for (int d = lane; d < HD; d += 32) orow[d] = ow[r * lay::ldo + d] * inv;
        if (lane == 0) lse[(long)h * L + i] = m[r] + logf(l[r]);
    }
}

template <typename T, int HD>
static void attention_tc_launch(float *out, float *lse, const float *q, const float *k, const float *v, int L, int H,
                                int Hkv, cudaStream_t stream)
{
    const size_t smem = tc_layout<T, HD>::total;
    CUDA_CHECK(cudaFuncSetAttribute(attention_tc_kernel<T, HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid((L + TC_BM - 1) / TC_BM, H);
    attention_tc_kernel<T, HD><<<grid, TC_WARPS * 32, smem, stream>>>(out, lse, q, k, v, L, H, Hkv,
                                                                   1.0f / sqrtf((float)HD));
    CUDA_LAUNCH_CHECK();
}

extern "C" void attention_prefill_tc_cuda(float *out, float *lse, const float *q, const float *k, const float *v,
                                          int L, int H, int Hkv, int hd, int fp16, void *stream)
{
    if (L <= 0 || H <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    if (Hkv <= 0 || H % Hkv)
        kv_die("attention_prefill_tc_cuda: unsupported shape H=%d Hkv=%d (H %% Hkv == 0)", H, Hkv);
    if (hd == 64 && fp16) attention_tc_launch<__half, 64>(out, lse, q, k, v, L, H, Hkv, s);
    else if (hd == 64) attention_tc_launch<__nv_bfloat16, 64>(out, lse, q, k, v, L, H, Hkv, s);
    else if (hd == 128 && fp16) attention_tc_launch<__half, 128>(out, lse, q, k, v, L, H, Hkv, s);
    else if (hd == 128) attention_tc_launch<__nv_bfloat16, 128>(out, lse, q, k, v, L, H, Hkv, s);
    else attention_prefill_cuda(out, lse, q, k, v, L, H, Hkv, hd, stream); /* no tensor-core shape: fp32 */
}
