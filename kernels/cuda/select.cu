/* select (CUDA): the device twins of kernels/select.h. Every reduction whose order the CPU fixes
 * is done in that order (a thread per output walking the same sequence), so the results match the
 * CPU's bit for bit except the CircuitKV head entropies and masses (block reductions; they only
 * order the heads) and the Neumann visits (kernels/cuda/scoring.cu, tested against the CPU). */
#include <thrust/execution_policy.h>
#include <thrust/sort.h>

#include <math.h>

#include "kernels/circuit_rank_score.h"
#include "kernels/cuda/common.cuh"

extern "C" {
#include "kernels/scoring.h"
#include "kernels/select.h"
}

/* ---- SnapKV / PyramidKV / H2O ---- */

__global__ void select_reduce_kernel(float *a, const float *win, int wm, int L, int W, int mean, int fp16)
{
    const int h = blockIdx.y, n = L - W;
    const float *p = win + ((long)h * wm + (wm - W)) * L;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < n; j += gridDim.x * blockDim.x) {
        double acc = 0;
        for (int r = 0; r < W; r++) acc += p[(long)r * L + j];
        float x = (float)(mean ? acc / W : acc);
        a[(long)h * n + j] = fp16 ? half_round_dev(x) : x;
    }
}

extern "C" void select_reduce_cuda(float *a, const float *win, int H, int wm, int L, int W, int mean, int fp16,
                                   void *stream)
{
    if (L - W <= 0 || H <= 0) return;
    dim3 grid(cuda_blocks(L - W, 256, 4096), H);
    select_reduce_kernel<<<grid, 256, 0, (cudaStream_t)stream>>>(a, win, wm, L, W, mean, fp16);
    CUDA_LAUNCH_CHECK();
}

extern "C" void select_pool_cuda(float *out, const float *x, int H, int n, int kernel, int avg, void *stream)
{
    for (int h = 0; h < H; h++) {
        if (avg) pool1d_avg_cuda(out + (long)h * n, x + (long)h * n, n, kernel, stream);
        else pool1d_max_cuda(out + (long)h * n, x + (long)h * n, n, kernel, stream);
    }
}

/* row[m + t] = first + t for t < count; row[t] += add for t < m (top-k indices made absolute). */
__global__ void fill_tail_kernel(int *row, int m, int add, int first, int count)
{
    for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < m + count; t += gridDim.x * blockDim.x) {
        if (t < m) row[t] += add;
        else row[t] = first + (t - m);
    }
}

extern "C" void select_topk_window_cuda(int *pos, const float *score, int H, int L, int W, int n_keep, void *stream)
{
    const int n = L - W;
    for (int h = 0; h < H; h++) {
        int *row = pos + (long)h * (n_keep + W);
        int m = topk_lowest_cuda(row, score + (long)h * n, n, n_keep, NULL, stream);
        fill_tail_kernel<<<cuda_blocks(m + W, 256), 256, 0, (cudaStream_t)stream>>>(row, m, 0, n, W);
        CUDA_LAUNCH_CHECK();
    }
}

/* ---- CircuitKV graphs ---- */

__global__ void graph_copy_kernel(double *aq, double *ah, const float *rows, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        aq[i] = ah[i] = rows[i];
}

/* One block per head: mean row entropy and mean mass past the sinks of its W rows. */
__global__ void head_stats_kernel(double *ent, double *mass, const float *win, int wm, int N, int W, int s)
{
    __shared__ double red_e[256], red_m[256];
    const int h = blockIdx.x;
    const float *P = win + ((long)h * wm + (wm - W)) * N;
    const double tiny_term = -1e-8 * log(1e-8);
    double e = 0, m = 0;
    for (long i = threadIdx.x; i < (long)W * N; i += blockDim.x) {
        double x = P[i];
        e += x >= 1e-8 ? -x * log(x) : tiny_term;
        if (i % N >= s) m += x;
    }
    red_e[threadIdx.x] = e, red_m[threadIdx.x] = m;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k) red_e[threadIdx.x] += red_e[threadIdx.x + k], red_m[threadIdx.x] += red_m[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) ent[h] = red_e[0] / W, mass[h] = red_m[0] / W;
}

/* aq = max over the qi heads, ah = mean over the hi heads, each element in the CPU's head order. */
__global__ void graph_build_kernel(double *aq, double *ah, const float *win, int wm, int N, int W, const int *qi,
                                   int n_qi, const int *hi, int n_hi)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (long)W * N; i += (long)gridDim.x * blockDim.x) {
        const long r = i / N, j = i % N;
        double q = 0, a = 0;
        for (int t = 0; t < n_qi; t++) {
            double x = win[((long)qi[t] * wm + (wm - W) + r) * N + j];
            q = x > q ? x : q;
        }
        for (int t = 0; t < n_hi; t++) a += win[((long)hi[t] * wm + (wm - W) + r) * N + j];
        aq[i] = q;
        ah[i] = a / n_hi;
    }
}

typedef struct {
    double e;
    int h;
} head_entropy;

static int cmp_head_entropy(const void *pa, const void *pb)
{
    const head_entropy *a = (const head_entropy *)pa, *b = (const head_entropy *)pb;
    if (a->e != b->e) return a->e < b->e ? -1 : 1;
    return a->h - b->h;
}

extern "C" void circuit_graph_cuda(double *aq, double *ah, const float *win, int H, int wm, int N,
                                   const circuit_params *p, int head, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    const long n = (long)p->W * N;
    if (head >= 0) {
        graph_copy_kernel<<<cuda_blocks(n, 256), 256, 0, s>>>(aq, ah, win + ((long)head * wm + (wm - p->W)) * N, n);
        CUDA_LAUNCH_CHECK();
        return;
    }
    /* head statistics (2H doubles) to the host, the head lists (at most 2H ints) back */
    double *d_stats = (double *)cuda_scratch(s, SCRATCH_CIRCUIT_GRAPH, sizeof(double) * 2 * H + sizeof(int) * 2 * H);
    int *d_heads = (int *)(d_stats + 2 * H);
    head_stats_kernel<<<H, 256, 0, s>>>(d_stats, d_stats + H, win, wm, N, p->W, p->s);
    CUDA_LAUNCH_CHECK();
    double *stats = (double *)kv_malloc(sizeof(double) * 2 * H);
    CUDA_CHECK(cudaMemcpyAsync(stats, d_stats, sizeof(double) * 2 * H, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    head_entropy *ent = (head_entropy *)kv_malloc(sizeof(head_entropy) * H);
    for (int h = 0; h < H; h++) ent[h] = head_entropy{stats[h], h};
    qsort(ent, (size_t)H, sizeof *ent, cmp_head_entropy);
    const int n_qi = p->n_qi < H ? p->n_qi : H;
    int *heads = (int *)kv_malloc(sizeof(int) * 2 * H), n_hi = 0;
    for (int t = 0; t < n_qi; t++) heads[t] = ent[t].h;
    for (int h = 0; h < H; h++)
        if (stats[H + h] >= p->mass_threshold) heads[n_qi + n_hi++] = h;
    if (n_hi == 0)
        for (int h = 0; h < H; h++) heads[n_qi + n_hi++] = h;
    CUDA_CHECK(cudaMemcpyAsync(d_heads, heads, sizeof(int) * (n_qi + n_hi), cudaMemcpyHostToDevice, s));
    graph_build_kernel<<<cuda_blocks(n, 256), 256, 0, s>>>(aq, ah, win, wm, N, p->W, d_heads, n_qi, d_heads + n_qi,
                                                          n_hi);
    CUDA_LAUNCH_CHECK();
    CUDA_CHECK(cudaStreamSynchronize(s)); /* the pageable heads buffer is freed next */
    free(stats), free(ent), free(heads);
}

/* ---- CircuitKV chains, ranks, selection ---- */

/* Row r: normalised copy of a's row into win (the CPU's sequential row sum). */
__global__ void chain_rows_kernel(double *win, const double *a, int N, int W)
{
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < W; r += gridDim.x * blockDim.x) {
        double sum = 0;
        for (int j = 0; j < N; j++) sum += a[(long)r * N + j];
        double inv = 1.0 / (sum > 1e-8 ? sum : 1e-8);
        for (int j = 0; j < N; j++) win[(long)r * N + j] = a[(long)r * N + j] * inv;
    }
}

/* h[j] = max(Σ_r a[r, j], 1e-6) in row order, for j < P. */
__global__ void chain_h_kernel(double *h, const double *a, int N, int W, int P)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < P; j += gridDim.x * blockDim.x) {
        double x = 0;
        for (int r = 0; r < W; r++) x += a[(long)r * N + j];
        h[j] = x < 1e-6 ? 1e-6 : x;
    }
}

/* One thread: the prefix sums (the CPU's order). */
__global__ void chain_cum_kernel(double *cum, const double *h, int P)
{
    double c = 0;
    for (int j = 0; j < P; j++) cum[j] = (c += h[j]);
}

static void chain_build(circuit_chain *ch, double *buf, const double *a, int N, const circuit_params *p,
                        cudaStream_t s)
{
    const int P = N - p->W;
    *ch = circuit_chain{N, p->W, p->s, buf, buf + (long)p->W * N, buf + (long)p->W * N + P};
    chain_rows_kernel<<<cuda_blocks(p->W, 64), 64, 0, s>>>(ch->win, a, N, p->W);
    chain_h_kernel<<<cuda_blocks(P, 256), 256, 0, s>>>(ch->h, a, N, p->W, P);
    chain_cum_kernel<<<1, 1, 0, s>>>(ch->cum, ch->h, P);
    CUDA_LAUNCH_CHECK();
}

#define RANK_MAX_KERNEL 64
typedef struct {
    double w[RANK_MAX_KERNEL]; /* g[t] / gs, computed on the host as the CPU does */
    int kernel;
} gauss_weights;

/* One thread: sink scores, the max and the division (the CPU's order). */
__global__ void rank_score_kernel(double *score, const double *visits, int N, int s, double sink_weight)
{
    circuit_rank_score(score, visits, N, s, sink_weight);
}

__global__ void rank_smooth_kernel(double *out, const double *score, int N, gauss_weights g, int *order)
{
    const int c = g.kernel / 2;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x) {
        double acc = 0;
        for (int t = 0; t < g.kernel; t++) {
            int j = i + t - c;
            if (j >= 0 && j < N) acc += g.w[t] * score[j];
        }
        out[i] = g.kernel > 1 ? acc : score[i];
        order[i] = i;
    }
}

__global__ void rank_scatter_kernel(int *rank, const int *order, int N)
{
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < N; r += gridDim.x * blockDim.x) rank[order[r]] = r;
}

/* Ranks 0..N-1 of the smoothed scores, stable on (score, position) (circuit_rank_cpu). */
static void rank_device(int *rank, const double *visits, double *score, double *sm, int *order, int N,
                        const circuit_params *p, int kernel, double sigma, cudaStream_t s)
{
    if (kernel > RANK_MAX_KERNEL) kv_die("circuit_select_graph_cuda: smoothing kernel %d > %d", kernel, RANK_MAX_KERNEL);
    gauss_weights g = {{0}, N > kernel && kernel > 1 ? kernel : 1};
    if (g.kernel > 1) { /* the CPU's weights: exp on the host, then each divided by the sum */
        double gs = 0, raw[RANK_MAX_KERNEL];
        for (int t = 0; t < kernel; t++) gs += raw[t] = exp(-(double)(t - kernel / 2) * (t - kernel / 2) / (2 * sigma * sigma));
        for (int t = 0; t < kernel; t++) g.w[t] = raw[t] / gs;
    }
    rank_score_kernel<<<1, 1, 0, s>>>(score, visits, N, p->s, p->sink_weight);
    rank_smooth_kernel<<<cuda_blocks(N, 256), 256, 0, s>>>(sm, score, N, g, order);
    CUDA_LAUNCH_CHECK();
    thrust::stable_sort_by_key(thrust::cuda::par.on(s), sm, sm + N, order);
    rank_scatter_kernel<<<cuda_blocks(N, 256), 256, 0, s>>>(rank, order, N);
    CUDA_LAUNCH_CHECK();
}

/* comb[t] = max(rank_qi, rank_hi) of candidate s + t, as a float (exact below 2^24). */
__global__ void combine_kernel(float *comb, const int *rq, const int *rh, int s, int n_cand)
{
    for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < n_cand; t += gridDim.x * blockDim.x) {
        int a = rq[s + t], b = rh[s + t];
        comb[t] = (float)(a > b ? a : b);
    }
}

__global__ void iota_from_kernel(int *out, int first, int n)
{
    for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < n; t += gridDim.x * blockDim.x) out[t] = first + t;
}

extern "C" int circuit_select_graph_cuda(int *out, const double *aq, const double *ah, int N,
                                         const circuit_params *p, int C, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    const int W = p->W, sk = p->s, P = N - W, n_cand = N - W - sk;
    if (N > (1 << 24)) kv_die("circuit_select_graph_cuda: N %d above the float-exact ranks (2^24)", N);
    const long chain = (long)W * N + 2L * P;
    char *buf = (char *)cuda_scratch(s, SCRATCH_CIRCUIT_CHAIN,
                                     sizeof(double) * (2 * chain + 6L * N) + sizeof(int) * 3L * N + sizeof(float) * N);
    double *d = (double *)buf, *qi = d + 2 * chain, *hi = qi + N, *score = hi + N, *sm = score + N;
    int *rq = (int *)(sm + 2L * N), *rh = rq + N, *order = rh + N;
    float *comb = (float *)(order + N);
    circuit_chain cq, ch;
    chain_build(&cq, d, aq, N, p, s);
    chain_build(&ch, d + chain, ah, N, p, s);
    circuit_neumann_cuda(qi, hi, &cq, &ch, p->K, p->gamma, stream);
    rank_device(rq, qi, score, sm, order, N, p, p->qi_kernel, p->qi_sigma, s);
    rank_device(rh, hi, score, sm, order, N, p, p->hi_kernel, p->hi_sigma, s);
    int k = C - sk - W;
    k = k > n_cand ? n_cand : k < 0 ? 0 : k;
    combine_kernel<<<cuda_blocks(n_cand > 0 ? n_cand : 1, 256), 256, 0, s>>>(comb, rq, rh, sk, n_cand);
    if (sk > 0) iota_from_kernel<<<cuda_blocks(sk, 256), 256, 0, s>>>(out, 0, sk);
    CUDA_LAUNCH_CHECK();
    int m = topk_lowest_cuda(out + sk, comb, n_cand, k, NULL, stream);
    fill_tail_kernel<<<cuda_blocks(m + W, 256), 256, 0, s>>>(out + sk, m, sk, P, W);
    CUDA_LAUNCH_CHECK();
    return sk + m + W;
}
