/* scoring (CPU): the reference implementations of the compression statistics declared in
 * kernels/scoring.h. Logits come from sgemm per head (and per row block for H2O, so memory stays
 * O(block·L)); everything else is scalar C with OpenMP over heads. CircuitKV runs in double. */
#include "kernels/circuit_rank_score.h"
#include "kernels/scoring.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/expf_simd.h"
#include "util/util.h"

/* Logits of nr query rows (stride qs) against n_keys keys (stride ks) into s (nr, n_keys).
 * fp32: q·k scaled inside sgemm, as the prefill attention does. fp16: the reference computes
 * half(q·k) then half(· / sqrt(d)). */
static void logits_block(float *s, const float *q, int qs, const float *k, int ks, int nr, int n_keys, int hd,
                         int fp16)
{
    const float sqrt_d = sqrtf((float)hd);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, n_keys, hd, fp16 ? 1.0f : 1.0f / sqrt_d, q, qs, k,
                ks, 0.0f, s, n_keys);
    if (fp16) half_round_div_n(s, (long)nr * n_keys, sqrt_d);
}

/* In place: row[0..n) → softmax over row[0..n_valid), zeros after. Returns nothing; fp16 rounds
 * the outputs. Sum in double so the normaliser does not depend on L's size. */
static void softmax_row(float *row, int n_valid, int n, int fp16)
{
    float m = -FLT_MAX;
    for (int j = 0; j < n_valid; j++) m = row[j] > m ? row[j] : m;
    double sum = 0;
    expf_shifted_cpu(row, row, m, n_valid); /* expf(row[j] - m), 8 at a time */
    for (int j = 0; j < n_valid; j++) sum += row[j];
    float inv = (float)(1.0 / sum);
    if (fp16) half_round_mul_n(row, n_valid, inv);
    else
        for (int j = 0; j < n_valid; j++) row[j] *= inv;
    for (int j = n_valid; j < n; j++) row[j] = 0.0f;
}

void window_softmax_cpu(float *out, const float *q, const float *k, int L, int H, int Hkv, int hd, int W,
                        int fp16)
{
    const int n_rep = H / Hkv, qs = H * hd, ks = Hkv * hd;
#pragma omp parallel for schedule(dynamic, 1)
    for (int h = 0; h < H; h++) {
        float *p = out + (long)h * W * L;
        logits_block(p, q + (long)(L - W) * qs + h * hd, qs, k + (h / n_rep) * hd, ks, W, L, hd, fp16);
        for (int r = 0; r < W; r++) softmax_row(p + (long)r * L, L - W + r + 1, L, fp16 == SCORE_FP16);
    }
}

/* ---- H2O ---- */

#define H2O_BLOCK 64

void h2o_colsum_cpu(float *out, const float *q, const float *k, const float *lse, int L, int H, int Hkv,
                    int hd, int W, h2o_mode mode, int fp16)
{
    const int n_rep = H / Hkv, qs = H * hd, ks = Hkv * hd, n_cols = L - W;
    const int use_lse = mode == H2O_CAUSAL && !fp16;
#pragma omp parallel
    {
        float *s = kv_malloc(sizeof(float) * H2O_BLOCK * (size_t)L);
        double *acc = kv_malloc(sizeof(double) * (size_t)(n_cols > 0 ? n_cols : 1));
#pragma omp for schedule(dynamic, 1)
        for (int h = 0; h < H; h++) {
            memset(acc, 0, sizeof(double) * (size_t)n_cols);
            for (int r0 = 0; r0 < L; r0 += H2O_BLOCK) {
                int nr = L - r0 < H2O_BLOCK ? L - r0 : H2O_BLOCK;
                /* Keys the block needs: the columns summed (j < L-W) and, when the block computes
                 * its own normalisers, every key its rows attend to. */
                int n_keys;
                if (mode == H2O_PREFIX) n_keys = n_cols;
                else if (mode == H2O_UPSTREAM) n_keys = L;
                else n_keys = use_lse ? (r0 + nr < n_cols ? r0 + nr : n_cols) : r0 + nr;
                if (n_keys <= 0) continue;
                logits_block(s, q + (long)r0 * qs + h * hd, qs, k + (h / n_rep) * hd, ks, nr, n_keys, hd, fp16);
                for (int t = 0; t < nr; t++) {
                    int i = r0 + t;
                    float *row = s + (long)t * n_keys;
                    /* keys 0..last-1 are visible to query i */
                    int last = mode == H2O_PREFIX ? n_cols : mode == H2O_UPSTREAM ? (i < n_cols ? L : i + 1) : i + 1;
                    if (use_lse) {
                        int nj = last < n_cols ? last : n_cols;
                        float l = lse[(long)h * L + i];
                        expf_shifted_cpu(row, row, l, nj); /* expf(row[j] - l), 8 at a time */
                        for (int j = 0; j < nj; j++) acc[j] += row[j];
                    } else {
                        softmax_row(row, last, last, fp16);
                        int nj = last < n_cols ? last : n_cols;
                        for (int j = 0; j < nj; j++) acc[j] += row[j];
                    }
                }
            }
            float *o = out + (long)h * n_cols;
            for (int j = 0; j < n_cols; j++) o[j] = fp16 ? half_round((float)acc[j]) : (float)acc[j];
        }
        free(s);
        free(acc);
    }
}

/* ---- pooling, top-k ---- */

void pool1d_max_cpu(float *out, const float *x, int n, int k)
{
    const int pad = k / 2;
    for (int i = 0; i < n; i++) {
        float m = -INFINITY;
        for (int t = i - pad; t < i - pad + k; t++)
            if (t >= 0 && t < n && x[t] > m) m = x[t];
        out[i] = m;
    }
}

void pool1d_avg_cpu(float *out, const float *x, int n, int k)
{
    const int pad = k / 2;
    for (int i = 0; i < n; i++) {
        float sum = 0.0f;
        for (int t = i - pad; t < i - pad + k; t++)
            if (t >= 0 && t < n) sum += x[t];
        out[i] = sum / (float)k;
    }
}

/* The value of rank `target` (0 = largest) in a[0..n): Hoare quickselect, expected O(n). */
static float select_desc(float *a, int n, int target)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        float pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y)); /* median of 3 */
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (target <= j) hi = j;
        else if (target >= i) lo = i;
        else return a[target];
    }
    return a[target];
}

int topk_lowest_cpu(int *out, const float *score, int n, int k, float *scratch)
{
    if (k <= 0) return 0;
    if (k >= n) {
        for (int j = 0; j < n; j++) out[j] = j;
        return n;
    }
    memcpy(scratch, score, sizeof(float) * (size_t)n);
    float v = select_desc(scratch, n, k - 1); /* the k-th largest score */
    int greater = 0;
    for (int j = 0; j < n; j++) greater += score[j] > v;
    int equal_left = k - greater, m = 0; /* ties at v: the lowest positions win */
    for (int j = 0; j < n; j++) {
        if (score[j] > v) out[m++] = j;
        else if (score[j] == v && equal_left > 0) {
            out[m++] = j;
            equal_left--;
        }
    }
    return m;
}

/* ---- CircuitKV ---- */

void circuit_chain_init(circuit_chain *ch, const float *a32, const double *a64, int N, int W, int s)
{
    const int P = N - W;
    ch->N = N;
    ch->W = W;
    ch->s = s;
    ch->win = kv_malloc(sizeof(double) * (size_t)W * N);
    ch->h = kv_calloc((size_t)(P > 0 ? P : 1), sizeof(double));
    ch->cum = kv_malloc(sizeof(double) * (size_t)(P > 0 ? P : 1));
    for (int r = 0; r < W; r++) {
        double *row = ch->win + (long)r * N, sum = 0;
        for (int j = 0; j < N; j++) {
            row[j] = a32 ? (double)a32[(long)r * N + j] : a64[(long)r * N + j];
            sum += row[j];
        }
        for (int j = 0; j < P; j++) ch->h[j] += row[j]; /* h: column sums of the raw A */
        double inv = 1.0 / (sum > 1e-8 ? sum : 1e-8);
        for (int j = 0; j < N; j++) row[j] *= inv;
    }
    double c = 0;
    for (int j = 0; j < P; j++) {
        if (ch->h[j] < 1e-6) ch->h[j] = 1e-6;
        c += ch->h[j];
        ch->cum[j] = c;
    }
}

void circuit_chain_free(circuit_chain *ch)
{
    free(ch->win);
    free(ch->h);
    free(ch->cum);
    ch->win = ch->h = ch->cum = NULL;
}

void circuit_apply_qt_cpu(double *y, const double *x, const circuit_chain *ch)
{
    const int N = ch->N, W = ch->W, s = ch->s, P = N - W;
    memset(y, 0, sizeof(double) * (size_t)N);
    /* window rows i = N-W+r: y[j] += Qwin[r,j] x[i] over transient columns */
    for (int r = 0; r < W; r++) {
        int i = P + r;
        double xi = x[i];
        if (i < s || xi == 0.0) continue;
        const double *row = ch->win + (long)r * N;
        for (int j = s; j < N; j++) y[j] += row[j] * xi;
    }
    /* prefix rows: Q[i,j] = h[j] / (C[i-1]+1e-8) / norm_i for j < i, so
     * y[j] = h[j] · Σ_{i>j} g[i] with g[i] = x[i] / (C[i-1]+1e-8) / norm_i (a suffix sum). */
    double run = 0;
    for (int j = P - 1; j >= s; j--) {
        y[j] += ch->h[j] * run;
        if (j >= 1) {
            double c = ch->cum[j - 1], denom = c + 1e-8, norm = c / denom;
            run += x[j] / denom / norm;
        }
    }
}

static double max_abs(const double *x, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* The shared Neumann loop; step(y, x, ctx_i) applies Q_i^T. */
typedef void (*qt_fn)(double *y, const double *x, const void *ctx);

static int neumann_run(double *qi, double *hi, qt_fn step, const void *cq, const void *ch, int N, int s, int K,
                       double gamma)
{
    double *x = kv_calloc((size_t)N, sizeof(double)), *u = kv_calloc((size_t)N, sizeof(double));
    double *y = kv_malloc(sizeof(double) * (size_t)N);
    x[N - 1] = 1.0; /* start at the last prompt token */
    for (int j = s; j < N; j++) u[j] = 1.0 / (N - s);
    memcpy(qi, x, sizeof(double) * (size_t)N);
    memcpy(hi, u, sizeof(double) * (size_t)N);
    int steps = 0;
    for (int it = 1; it <= K; it++) {
        step(y, x, cq);
        for (int j = 0; j < N; j++) x[j] = gamma * y[j];
        step(y, u, ch);
        for (int j = 0; j < N; j++) u[j] = gamma * y[j];
        for (int j = 0; j < N; j++) {
            qi[j] += x[j];
            hi[j] += u[j];
        }
        steps = it;
        if (max_abs(x, N) < 1e-8 && max_abs(u, N) < 1e-8) break;
    }
    free(x);
    free(u);
    free(y);
    return steps;
}

static void structured_step(double *y, const double *x, const void *ctx)
{
    circuit_apply_qt_cpu(y, x, ctx);
}

int circuit_neumann_cpu(double *qi, double *hi, const circuit_chain *cq, const circuit_chain *ch, int K,
                        double gamma)
{
    return neumann_run(qi, hi, structured_step, cq, ch, cq->N, cq->s, K, gamma);
}

double *circuit_dense_q(const circuit_chain *ch)
{
    const int N = ch->N, W = ch->W, s = ch->s, P = N - W;
    double *q = kv_calloc((size_t)N * N, sizeof(double));
    for (int i = s; i < N; i++) {
        double *row = q + (long)i * N;
        if (i >= P) {
            memcpy(row, ch->win + (long)(i - P) * N, sizeof(double) * (size_t)N);
        } else if (i >= 1) {
            double sum = 0;
            for (int j = 0; j < i; j++) {
                row[j] = ch->h[j] / (ch->cum[i - 1] + 1e-8);
                sum += row[j];
            }
            for (int j = 0; j < i; j++) row[j] /= sum;
        }
        for (int j = 0; j < s; j++) row[j] = 0.0; /* absorbing columns leave Q */
    }
    return q;
}

typedef struct {
    const double *q;
    int N, s;
} dense_ctx;

static void dense_step(double *y, const double *x, const void *ctx)
{
    const dense_ctx *d = ctx;
    memset(y, 0, sizeof(double) * (size_t)d->N);
    for (int i = d->s; i < d->N; i++)
        for (int j = 0; j < d->N; j++) y[j] += d->q[(long)i * d->N + j] * x[i];
}

int circuit_neumann_dense_cpu(double *qi, double *hi, const double *q_qi, const double *q_hi, int N, int s,
                              int K, double gamma)
{
    dense_ctx a = {q_qi, N, s}, b = {q_hi, N, s};
    return neumann_run(qi, hi, dense_step, &a, &b, N, s, K, gamma);
}

typedef struct {
    double score;
    int pos;
} score_pos;

static int cmp_score_pos(const void *pa, const void *pb)
{
    const score_pos *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

void circuit_rank_cpu(int *rank, const double *visits, int N, int s, double sink_weight, int kernel,
                      double sigma)
{
    double *score = kv_malloc(sizeof(double) * (size_t)N);
    circuit_rank_score(score, visits, N, s, sink_weight);
    if (N > kernel && kernel > 1) { /* zero-padded Gaussian smoothing, kernel normalised to sum 1 */
        double *g = kv_malloc(sizeof(double) * (size_t)kernel), gs = 0;
        const int c = kernel / 2;
        for (int t = 0; t < kernel; t++) {
            g[t] = exp(-(double)(t - c) * (t - c) / (2 * sigma * sigma));
            gs += g[t];
        }
        double *sm = kv_malloc(sizeof(double) * (size_t)N);
        for (int i = 0; i < N; i++) {
            double acc = 0;
            for (int t = 0; t < kernel; t++) {
                int j = i + t - c;
                if (j >= 0 && j < N) acc += g[t] / gs * score[j];
            }
            sm[i] = acc;
        }
        free(score);
        free(g);
        score = sm;
    }
    score_pos *sp = kv_malloc(sizeof(score_pos) * (size_t)N);
    for (int j = 0; j < N; j++) sp[j] = (score_pos){score[j], j};
    qsort(sp, (size_t)N, sizeof *sp, cmp_score_pos); /* ascending on (score, position): a strict order */
    for (int r = 0; r < N; r++) rank[sp[r].pos] = r;
    free(sp);
    free(score);
}

typedef struct {
    int combined, pos;
} circuit_cand;

/* The reference's top-k on the combined score: higher combined rank first, then the lower
 * position (DESIGN §4 step 6; nothing else breaks ties). */
static int cmp_cand(const void *pa, const void *pb)
{
    const circuit_cand *a = pa, *b = pb;
    if (a->combined != b->combined) return a->combined > b->combined ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

int circuit_select_cpu(int *out, const int *rank_qi, const int *rank_hi, int N, int s, int W, int k)
{
    const int n_cand = N - W - s;
    if (k > n_cand) k = n_cand;
    if (k < 0) k = 0;
    circuit_cand *c = kv_malloc(sizeof(circuit_cand) * (size_t)(n_cand > 0 ? n_cand : 1));
    for (int t = 0; t < n_cand; t++) {
        int j = s + t, a = rank_qi[j], b = rank_hi[j];
        c[t] = (circuit_cand){a > b ? a : b, j};
    }
    qsort(c, (size_t)n_cand, sizeof *c, cmp_cand);
    unsigned char *keep = kv_calloc((size_t)N, 1);
    for (int j = 0; j < s; j++) keep[j] = 1;
    for (int t = 0; t < k; t++) keep[c[t].pos] = 1;
    for (int j = N - W; j < N; j++) keep[j] = 1;
    int m = 0;
    for (int j = 0; j < N; j++)
        if (keep[j]) out[m++] = j;
    free(c);
    free(keep);
    return m;
}
