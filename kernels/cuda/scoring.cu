/* scoring (CUDA): device twins of the compression statistics in kernels/scoring.h — the window
 * softmax rows, H2O column sums by the log-sum-exp two-pass method, 1-D pooling, per-head top-k
 * with the lowest-position tie rule, and CircuitKV's Neumann iterations. Each follows its CPU
 * reference step by step (same fp16 rounding points, double where the CPU sums in double) so the
 * tests can hold them to tight tolerances. */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/scoring.h"
}

/* ---- logits ---- */

/* q·k/sqrt(d) as the CPU forms it: fp32 scaled product, or with fp16 emulation half(half(q·k)/√d). */
__device__ __forceinline__ float score_logit(float dot, float scale, float sqrt_d, int fp16)
{
    return fp16 ? half_round_dev(half_round_dev(dot) / sqrt_d) : dot * scale;
}

/* ---- window softmax rows ---- */

/* Block (r, h): query i = L-W+r of head h against every key. Warps take keys in turn, lanes split
 * the head dims (NT per lane); the logits go to the output row first, then max, exp and the
 * double-precision sum, then the normalisation (zeros after the causal limit). */
template <int NT>
__global__ void window_softmax_kernel(float *out, const float *q, const float *k, int L, int H, int Hkv, int hd,
                                      int W, int fp16)
{
    __shared__ float red_f[32];
    __shared__ double red_d[32];
    const int r = blockIdx.x, h = blockIdx.y, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nw = blockDim.x >> 5, i = L - W + r, n_valid = i + 1;
    const long qs = (long)H * hd, ks = (long)Hkv * hd, koff = (long)(h / (H / Hkv)) * hd;
    const float sqrt_d = sqrtf((float)hd), scale = 1.0f / sqrt_d;
    float *row = out + ((long)h * W + r) * L;
    float qv[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        int d = lane + 32 * t;
        qv[t] = d < hd ? q[(long)i * qs + (long)h * hd + d] : 0.0f;
    }
    float m = -INFINITY;
    for (int j = warp; j < n_valid; j += nw) {
        const float *kr = k + (long)j * ks + koff;
        float dot = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            int d = lane + 32 * t;
            if (d < hd) dot += qv[t] * kr[d];
        }
        float s = score_logit(warp_sum(dot), scale, sqrt_d, fp16);
        if (lane == 0) row[j] = s;
        m = fmaxf(m, s);
    }
    __syncthreads(); /* the logits are in global memory, written by lane 0 of each warp */
    m = block_max(m, red_f);
    double sum = 0;
    for (int j = threadIdx.x; j < n_valid; j += blockDim.x) {
        float e = expf(row[j] - m);
        row[j] = e;
        sum += e;
    }
    sum = block_sum_d(sum, red_d);
    const float inv = (float)(1.0 / sum);
    for (int j = threadIdx.x; j < L; j += blockDim.x) {
        float p = j < n_valid ? row[j] * inv : 0.0f;
        row[j] = fp16 == SCORE_FP16 && j < n_valid ? half_round_dev(p) : p; /* SCORE_FP16_LOGITS: fp32 rows */
    }
}

extern "C" void window_softmax_cuda(float *out, const float *q, const float *k, int L, int H, int Hkv, int hd,
                                    int W, int fp16, void *stream)
{
    if (W <= 0 || H <= 0) return;
    if (hd > 256 || hd <= 0 || H % Hkv || W > L)
        kv_die("window_softmax_cuda: unsupported shape L=%d W=%d H=%d Hkv=%d head_dim=%d", L, W, H, Hkv, hd);
    cudaStream_t s = (cudaStream_t)stream;
    dim3 grid(W, H);
    if (hd <= 64) window_softmax_kernel<2><<<grid, 256, 0, s>>>(out, q, k, L, H, Hkv, hd, W, fp16);
    else if (hd <= 128) window_softmax_kernel<4><<<grid, 256, 0, s>>>(out, q, k, L, H, Hkv, hd, W, fp16);
    else window_softmax_kernel<8><<<grid, 256, 0, s>>>(out, q, k, L, H, Hkv, hd, W, fp16);
    CUDA_LAUNCH_CHECK();
}

/* ---- H2O column sums ---- */

/* Keys visible to query i (keys 0..last-1), per mode, as in h2o_colsum_cpu. */
__device__ __forceinline__ int h2o_last(int mode, int i, int L, int n_cols)
{
    return mode == H2O_PREFIX ? n_cols : mode == H2O_UPSTREAM ? (i < n_cols ? L : i + 1) : i + 1;
}

#define H2O_WARPS 8
#define H2O_ROWS 4
#define H2O_BK 32
static_assert(H2O_WARPS * H2O_ROWS == H2O_BK && H2O_BK == 32, "pass 1 splits a 32-key tile over the warps");

/* Pass 1, every mode: per query row i the max logit m_i and inv_i = 1/Σ exp(s - m_i) over its
 * visible keys, from the same fp32 logits pass 2 sums (the prefill's LSE is not used: with bf16
 * weights it comes from the tensor-core attention's bf16-rounded q·k, and P would no longer sum to
 * one over a row). Tiled like pass 2: block (32-row tile, head) holds its 32 query rows in shared
 * memory, lane r owning row r; key tiles of 32 are loaded once per block and split over the
 * warps (4 keys each). Each lane keeps an online (max, double sum) of its row over its warp's
 * keys; the warps' partial sums meet in shared memory at the end. */
__global__ void __launch_bounds__(H2O_WARPS * 32)
    h2o_rowstats_kernel(float2 *stats, const float *q, const float *k, int L, int H, int Hkv, int hd, int n_cols,
                        int mode, int fp16)
{
    extern __shared__ float sm[];
    const int kstride = hd + 1;
    float *q_tile = sm;                       /* (32, hd + 1): the block's query rows */
    float *k_tile = q_tile + 32 * kstride;    /* (H2O_BK, hd + 1) */
    __shared__ float m_w[H2O_WARPS][32];
    __shared__ double s_w[H2O_WARPS][32];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, h = blockIdx.y, i0 = blockIdx.x * 32;
    const long qs = (long)H * hd, ks = (long)Hkv * hd, koff = (long)(h / (H / Hkv)) * hd;
    const float sqrt_d = sqrtf((float)hd), scale = 1.0f / sqrt_d;
    for (int t = tid; t < 32 * hd; t += blockDim.x) {
        int r = t / hd, d = t % hd;
        q_tile[r * kstride + d] = i0 + r < L ? q[(long)(i0 + r) * qs + (long)h * hd + d] : 0.0f;
    }
    const int i = i0 + lane;
    const int last = i < L ? h2o_last(mode, i, L, n_cols) : 0;
    /* the keys any row of the tile sees: the last row's in causal mode, else up to L */
    const int i_hi = min(L, i0 + 32) - 1;
    const int j_end = mode == H2O_PREFIX ? n_cols : mode == H2O_CAUSAL ? i_hi + 1 : L;
    float m = -INFINITY;
    double sum = 0;
    const float *qr = q_tile + lane * kstride;
    for (int j0 = 0; j0 < j_end; j0 += H2O_BK) {
        __syncthreads(); /* the previous key tile is consumed (and, first time, q_tile is written) */
        for (int t = tid; t < H2O_BK * hd; t += blockDim.x) {
            int jj = t / hd, d = t % hd;
            k_tile[jj * kstride + d] = j0 + jj < j_end ? k[(long)(j0 + jj) * ks + koff + d] : 0.0f;
        }
        __syncthreads();
        float s[H2O_ROWS];
#pragma unroll
        for (int r = 0; r < H2O_ROWS; r++) s[r] = 0.0f;
        for (int d = 0; d < hd; d++) {
            const float qd = qr[d];
#pragma unroll
            for (int r = 0; r < H2O_ROWS; r++) s[r] += qd * k_tile[(warp + H2O_WARPS * r) * kstride + d];
        }
#pragma unroll
        for (int r = 0; r < H2O_ROWS; r++) {
            const int j = j0 + warp + H2O_WARPS * r;
            if (j >= last) continue;
            const float sc = score_logit(s[r], scale, sqrt_d, fp16);
            if (sc > m) {
                if (sum > 0) sum *= exp((double)m - (double)sc);
                m = sc;
            }
            sum += expf(sc - m);
        }
    }
    m_w[warp][lane] = m;
    s_w[warp][lane] = sum;
    __syncthreads();
    if (warp == 0 && i < L) {
        float mx = -INFINITY;
        for (int w = 0; w < H2O_WARPS; w++) mx = fmaxf(mx, m_w[w][lane]);
        double tot = 0;
        for (int w = 0; w < H2O_WARPS; w++)
            if (s_w[w][lane] > 0) tot += s_w[w][lane] * exp((double)m_w[w][lane] - (double)mx);
        stats[(long)h * L + i] = make_float2(mx, (float)(1.0 / tot));
    }
}

/* Pass 2: block (key tile, head) holds 32 keys in shared memory; warps sweep the query rows four
 * at a time, lane j scoring key j, and accumulate P[i, j] = exp(s - m_i) · inv_i in double (rounded
 * to half under fp16 as the CPU's softmax output is). The warps' sums meet in shared memory; fp16
 * rounds the final column sum. */
__global__ void __launch_bounds__(H2O_WARPS * 32)
    h2o_colsum_kernel(float *out, const float *q, const float *k, const float2 *stats, int L, int H, int Hkv, int hd,
                      int n_cols, int mode, int fp16)
{
    extern __shared__ float sm[];
    const int kstride = hd + 1;
    float *ks_tile = sm;                          /* (H2O_BK, hd + 1) */
    float *qs_w = ks_tile + H2O_BK * kstride;     /* (H2O_WARPS, H2O_ROWS, hd) */
    __shared__ double acc_w[H2O_WARPS][H2O_BK];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, h = blockIdx.y, j0 = blockIdx.x * H2O_BK;
    const long qs = (long)H * hd, ks = (long)Hkv * hd, koff = (long)(h / (H / Hkv)) * hd;
    const float sqrt_d = sqrtf((float)hd), scale = 1.0f / sqrt_d;

    for (int t = tid; t < H2O_BK * hd; t += blockDim.x) {
        int j = t / hd, d = t % hd;
        ks_tile[j * kstride + d] = j0 + j < n_cols ? k[(long)(j0 + j) * ks + koff + d] : 0.0f;
    }
    __syncthreads();
    const int j = j0 + lane;
    double acc = 0;
    /* causal rows before j0 see none of these keys */
    const int i_begin = mode == H2O_CAUSAL ? j0 : 0;
    float *qw = qs_w + warp * H2O_ROWS * hd;
    for (int g = i_begin + warp * H2O_ROWS; g < L; g += H2O_WARPS * H2O_ROWS) {
        for (int t = lane; t < H2O_ROWS * hd; t += 32) {
            int r = t / hd, d = t % hd;
            qw[t] = g + r < L ? q[(long)(g + r) * qs + (long)h * hd + d] : 0.0f;
        }
        __syncwarp();
        float s[H2O_ROWS];
#pragma unroll
        for (int r = 0; r < H2O_ROWS; r++) s[r] = 0.0f;
        const float *kr = ks_tile + lane * kstride;
        for (int d = 0; d < hd; d++) {
            float kd = kr[d];
#pragma unroll
            for (int r = 0; r < H2O_ROWS; r++) s[r] += qw[r * hd + d] * kd;
        }
#pragma unroll
        for (int r = 0; r < H2O_ROWS; r++) {
            const int i = g + r;
            if (i >= L || j >= n_cols || j >= h2o_last(mode, i, L, n_cols)) continue;
            const float2 st = stats[(long)h * L + i];
            float p = expf(score_logit(s[r], scale, sqrt_d, fp16) - st.x) * st.y;
            if (fp16) p = half_round_dev(p);
            acc += p;
        }
        __syncwarp(); /* qw is rewritten by the next group */
    }
    acc_w[warp][lane] = acc;
    __syncthreads();
    if (warp == 0 && j < n_cols) {
        double tot = 0;
        for (int w = 0; w < H2O_WARPS; w++) tot += acc_w[w][lane];
        out[(long)h * n_cols + j] = fp16 ? half_round_dev((float)tot) : (float)tot;
    }
}

extern "C" void h2o_colsum_cuda(float *out, const float *q, const float *k, const float *lse, int L, int H, int Hkv,
                                int hd, int W, h2o_mode mode, int fp16, void *stream)
{
    (void)lse; /* the row statistics come from this kernel's own logits (pass 1) */
    const int n_cols = L - W;
    if (n_cols <= 0 || H <= 0) return;
    if (hd > 256 || hd <= 0 || H % Hkv)
        kv_die("h2o_colsum_cuda: unsupported shape H=%d Hkv=%d head_dim=%d", H, Hkv, hd);
    cudaStream_t s = (cudaStream_t)stream;
    float2 *stats = (float2 *)cuda_scratch(s, SCRATCH_H2O_ROWS, sizeof(float2) * (size_t)H * L);
    const size_t smem1 = sizeof(float) * (size_t)(32 + H2O_BK) * (hd + 1);
    CUDA_CHECK(cudaFuncSetAttribute(h2o_rowstats_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem1));
    dim3 g1((L + 31) / 32, H);
    h2o_rowstats_kernel<<<g1, H2O_WARPS * 32, smem1, s>>>(stats, q, k, L, H, Hkv, hd, n_cols, (int)mode, fp16);
    CUDA_LAUNCH_CHECK();
    const size_t smem = sizeof(float) * ((size_t)H2O_BK * (hd + 1) + (size_t)H2O_WARPS * H2O_ROWS * hd);
    CUDA_CHECK(cudaFuncSetAttribute(h2o_colsum_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 g2((n_cols + H2O_BK - 1) / H2O_BK, H);
    h2o_colsum_kernel<<<g2, H2O_WARPS * 32, smem, s>>>(out, q, k, stats, L, H, Hkv, hd, n_cols, (int)mode, fp16);
    CUDA_LAUNCH_CHECK();
}

/* ---- pooling ---- */

__global__ void pool1d_kernel(float *out, const float *x, int n, int k, int avg)
{
    const int pad = k / 2;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float m = -INFINITY, sum = 0.0f;
        for (int t = i - pad; t < i - pad + k; t++) {
            if (t < 0 || t >= n) continue;
            float v = x[t];
            if (v > m) m = v;
            sum += v;
        }
        out[i] = avg ? sum / (float)k : m;
    }
}

extern "C" void pool1d_max_cuda(float *out, const float *x, int n, int k, void *stream)
{
    if (n <= 0) return;
    pool1d_kernel<<<cuda_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(out, x, n, k, 0);
    CUDA_LAUNCH_CHECK();
}

extern "C" void pool1d_avg_cuda(float *out, const float *x, int n, int k, void *stream)
{
    if (n <= 0) return;
    pool1d_kernel<<<cuda_blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(out, x, n, k, 1);
    CUDA_LAUNCH_CHECK();
}

/* ---- top-k ---- */

/* Order-preserving map float → uint32 (larger float, larger key); +0 and -0 map to one key so
 * they tie, as the CPU's == comparison has them. */
__device__ __forceinline__ unsigned topk_key(float x)
{
    unsigned b = x == 0.0f ? 0u : __float_as_uint(x);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

#define TOPK_THREADS 1024

/* One block: radix-select the k-th largest key (four 8-bit digits, most significant first), then
 * an ordered compaction: positions with a larger key, and the first `need_eq` positions holding
 * the k-th key itself (ties go to the lower position), written in ascending position order. */
__global__ void __launch_bounds__(TOPK_THREADS) topk_kernel(int *out, const float *score, int n, int k)
{
    __shared__ unsigned hist[256];
    __shared__ unsigned s_prefix, s_remaining;
    __shared__ int warp_gt[32], warp_eq[32];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    if (tid == 0) {
        s_prefix = 0;
        s_remaining = (unsigned)k; /* rank (1-based, from the top) still to find inside the prefix */
    }
    unsigned mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = tid; b < 256; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        const unsigned prefix = s_prefix;
        for (int i = tid; i < n; i += blockDim.x) {
            unsigned key = topk_key(score[i]);
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid == 0) {
            unsigned rem = s_remaining, cum = 0;
            int b = 255;
            for (; b > 0; b--) {
                if (cum + hist[b] >= rem) break;
                cum += hist[b];
            }
            s_remaining = rem - cum;
            s_prefix = prefix | ((unsigned)b << shift);
        }
        mask |= 255u << shift;
        __syncthreads();
    }
    const unsigned kth = s_prefix;
    const int need_eq = (int)s_remaining; /* how many positions holding the k-th key are taken */
    int eq_before = 0, out_before = 0;    /* running totals over earlier chunks (every thread) */
    for (int base = 0; base < n; base += blockDim.x) {
        const int i = base + tid;
        unsigned key = i < n ? topk_key(score[i]) : 0u;
        const bool gt = i < n && key > kth, eq = i < n && key == kth;
        const unsigned lt_mask = (1u << lane) - 1u;
        const unsigned b_eq = __ballot_sync(0xffffffffu, eq);
        if (lane == 0) warp_eq[warp] = __popc(b_eq);
        __syncthreads();
        int eq_rank = eq_before + __popc(b_eq & lt_mask);
        for (int w = 0; w < warp; w++) eq_rank += warp_eq[w];
        const bool take = gt || (eq && eq_rank < need_eq);
        const unsigned b_take = __ballot_sync(0xffffffffu, take);
        if (lane == 0) warp_gt[warp] = __popc(b_take);
        __syncthreads();
        int slot = out_before + __popc(b_take & lt_mask);
        for (int w = 0; w < warp; w++) slot += warp_gt[w];
        if (take) out[slot] = i;
        const int nw = blockDim.x >> 5;
        for (int w = 0; w < nw; w++) {
            eq_before += warp_eq[w];
            out_before += warp_gt[w];
        }
        __syncthreads(); /* warp_eq / warp_gt are rewritten by the next chunk */
    }
}

__global__ void iota_kernel(int *out, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) out[i] = i;
}

extern "C" int topk_lowest_cuda(int *out, const float *score, int n, int k, float *scratch, void *stream)
{
    (void)scratch; /* the radix select needs no copy of the scores */
    cudaStream_t s = (cudaStream_t)stream;
    if (k <= 0 || n <= 0) return 0;
    if (k >= n) {
        iota_kernel<<<cuda_blocks(n, 256), 256, 0, s>>>(out, n);
        CUDA_LAUNCH_CHECK();
        return n;
    }
    topk_kernel<<<1, TOPK_THREADS, 0, s>>>(out, score, n, k);
    CUDA_LAUNCH_CHECK();
    return k;
}

/* ---- CircuitKV Neumann series ---- */

#define NEU_THREADS 1024

/* y = Q^T x on one chain (see circuit_apply_qt_cpu): the window rows as a W×N mat-vec over
 * transient columns, the prefix rows as an exclusive suffix sum of g[i] = x[i]/(C[i-1]+1e-8)/norm_i
 * scaled by h[j]. The suffix sum is blocked: each thread owns a contiguous segment, the segment
 * totals are scanned in shared memory, then each thread walks its segment from the top. */
__device__ void neumann_apply(double *y, const double *x, const double *win, const double *hh, const double *cum,
                              int N, int W, int s, double *seg_sum)
{
    const int tid = threadIdx.x, P = N - W;
    for (int j = tid; j < N; j += blockDim.x) {
        double acc = 0;
        if (j >= s)
            for (int r = 0; r < W; r++) {
                const int i = P + r;
                if (i >= s) acc += win[(long)r * N + j] * x[i];
            }
        y[j] = acc;
    }
    const int seg = (P + blockDim.x - 1) / blockDim.x;
    const int lo = tid * seg, hi = min(P, lo + seg);
    double local = 0;
    for (int i = lo; i < hi; i++)
        if (i >= s && i >= 1) {
            const double c = cum[i - 1], denom = c + 1e-8, norm = c / denom;
            local += x[i] / denom / norm;
        }
    seg_sum[tid] = local;
    __syncthreads();
    if (tid == 0) { /* exclusive suffix sums of the segment totals (1024 adds: negligible) */
        double run = 0;
        for (int t = blockDim.x - 1; t >= 0; t--) {
            double v = seg_sum[t];
            seg_sum[t] = run;
            run += v;
        }
    }
    __syncthreads();
    double run = seg_sum[tid];
    for (int j = hi - 1; j >= lo; j--) {
        if (j >= s) y[j] += hh[j] * run;
        if (j >= s && j >= 1) {
            const double c = cum[j - 1], denom = c + 1e-8, norm = c / denom;
            run += x[j] / denom / norm;
        }
    }
    __syncthreads();
}

__device__ double block_max_abs(const double *x, int n, double *red)
{
    double m = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) m = fmax(m, fabs(x[j]));
    for (int o = 16; o > 0; o >>= 1) m = fmax(m, __shfl_xor_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = m;
    __syncthreads();
    double t = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) t = fmax(t, red[w]);
    __syncthreads();
    return t;
}

/* One block runs the whole series so the early-stop test costs no host round trip. */
__global__ void __launch_bounds__(NEU_THREADS)
    neumann_kernel(double *qi, double *hi, double *x, double *u, double *y, int *steps_out, const double *win_q,
                   const double *h_q, const double *cum_q, const double *win_h, const double *h_h,
                   const double *cum_h, int N, int W, int s, int K, double gamma)
{
    __shared__ double seg_sum[NEU_THREADS];
    __shared__ double red[32];
    const int tid = threadIdx.x;
    for (int j = tid; j < N; j += blockDim.x) {
        x[j] = j == N - 1 ? 1.0 : 0.0; /* start at the last prompt token */
        u[j] = j >= s ? 1.0 / (N - s) : 0.0;
        qi[j] = x[j];
        hi[j] = u[j];
    }
    __syncthreads();
    int steps = 0;
    for (int it = 1; it <= K; it++) {
        neumann_apply(y, x, win_q, h_q, cum_q, N, W, s, seg_sum);
        for (int j = tid; j < N; j += blockDim.x) x[j] = gamma * y[j];
        __syncthreads();
        neumann_apply(y, u, win_h, h_h, cum_h, N, W, s, seg_sum);
        for (int j = tid; j < N; j += blockDim.x) {
            u[j] = gamma * y[j];
            qi[j] += x[j];
            hi[j] += u[j];
        }
        __syncthreads();
        steps = it;
        const double mx = block_max_abs(x, N, red), mu = block_max_abs(u, N, red);
        if (mx < 1e-8 && mu < 1e-8) break;
    }
    if (tid == 0) *steps_out = steps;
}

extern "C" int circuit_neumann_cuda(double *qi, double *hi, const circuit_chain *cq, const circuit_chain *ch, int K,
                                    double gamma, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    const int N = cq->N;
    if (ch->N != N || ch->W != cq->W || ch->s != cq->s)
        kv_die("circuit_neumann_cuda: the two chains differ in shape (N %d/%d, W %d/%d, s %d/%d)", cq->N, ch->N,
               cq->W, ch->W, cq->s, ch->s);
    double *buf = (double *)cuda_scratch(s, SCRATCH_NEUMANN, sizeof(double) * 3 * (size_t)N + sizeof(int));
    int *d_steps = (int *)(buf + 3 * (size_t)N);
    neumann_kernel<<<1, NEU_THREADS, 0, s>>>(qi, hi, buf, buf + N, buf + 2 * (size_t)N, d_steps, cq->win, cq->h,
                                             cq->cum, ch->win, ch->h, ch->cum, N, cq->W, cq->s, K, gamma);
    CUDA_LAUNCH_CHECK();
    int steps = 0;
    CUDA_CHECK(cudaMemcpyAsync(&steps, d_steps, sizeof(int), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return steps;
}
