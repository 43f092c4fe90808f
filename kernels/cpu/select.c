/* select (CPU): the selection steps of kernels/select.h — the reference the host plug-ins and the
 * CPU backend's selection ops share. */
#include "kernels/select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "kernels/scoring.h"

void select_reduce_row_cpu(float *a, double *acc, const float *p, int L, int W, int mean, int fp16)
{
    const int n = L - W;
    for (int j = 0; j < n; j++) acc[j] = 0;
    for (int r = 0; r < W; r++)
        for (int j = 0; j < n; j++) acc[j] += p[(long)r * L + j];
    for (int j = 0; j < n; j++) { /* one rounding of the reduced value, as torch's sum/mean */
        float x = (float)(mean ? acc[j] / W : acc[j]);
        a[j] = fp16 ? half_round(x) : x;
    }
}

void select_reduce_cpu(float *a, const float *win, int H, int wm, int L, int W, int mean, int fp16)
{
    const int n = L - W;
#pragma omp parallel
    {
        double *acc = kv_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
#pragma omp for schedule(dynamic, 1)
        for (int h = 0; h < H; h++)
            select_reduce_row_cpu(a + (long)h * n, acc, win + ((long)h * wm + (wm - W)) * L, L, W, mean, fp16);
        free(acc);
    }
}

void select_pool_cpu(float *out, const float *x, int H, int n, int kernel, int avg)
{
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++) {
        if (avg) pool1d_avg_cpu(out + (long)h * n, x + (long)h * n, n, kernel);
        else pool1d_max_cpu(out + (long)h * n, x + (long)h * n, n, kernel);
    }
}

void select_topk_window_cpu(int *pos, const float *score, int H, int L, int W, int n_keep)
{
    const int n = L - W;
#pragma omp parallel
    {
        float *scratch = kv_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
#pragma omp for schedule(dynamic, 1)
        for (int h = 0; h < H; h++) {
            int *row = pos + (long)h * (n_keep + W);
            int m = topk_lowest_cpu(row, score + (long)h * n, n, n_keep, scratch);
            for (int j = n; j < L; j++) row[m++] = j;
        }
        free(scratch);
    }
}

typedef struct {
    double e;
    int h;
} head_entropy;

static int cmp_head_entropy(const void *pa, const void *pb)
{
    const head_entropy *a = pa, *b = pb;
    if (a->e != b->e) return a->e < b->e ? -1 : 1;
    return a->h - b->h;
}

/* Per head: mean row entropy (p clamped >= 1e-8) and mean mass past the sinks of rows (W, N). */
static void circuit_head_stats(head_entropy *ent, double *mass, const float *win, int H, int wm, int N,
                               const circuit_params *p)
{
    const int W = p->W;
    const double tiny_term = -1e-8 * log(1e-8);
#pragma omp parallel for schedule(dynamic, 1)
    for (int h = 0; h < H; h++) {
        const float *P = win + ((long)h * wm + (wm - W)) * N;
        double e = 0, m = 0;
        for (int r = 0; r < W; r++) {
            const float *row = P + (long)r * N;
            double er = 0, mr = 0;
            for (int j = 0; j < N; j++) {
                double x = row[j];
                er += x >= 1e-8 ? -x * log(x) : tiny_term;
                if (j >= p->s) mr += x;
            }
            e += er;
            m += mr;
        }
        ent[h] = (head_entropy){e / W, h};
        mass[h] = m / W;
    }
}

void circuit_graph_cpu(double *aq, double *ah, const float *win, int H, int wm, int N, const circuit_params *p,
                       int head)
{
    const int W = p->W;
#define WROW(h, r) (win + ((long)(h) * wm + (wm - W) + (r)) * N)
    if (head >= 0) {
        for (long i = 0; i < (long)W * N; i++) aq[i] = ah[i] = WROW(head, 0)[i];
        return;
    }
    head_entropy *ent = kv_malloc(sizeof(head_entropy) * (size_t)H);
    double *mass = kv_malloc(sizeof(double) * (size_t)H);
    circuit_head_stats(ent, mass, win, H, wm, N, p);
    qsort(ent, (size_t)H, sizeof *ent, cmp_head_entropy);
    const int n_qi = p->n_qi < H ? p->n_qi : H;
    int *hi_heads = kv_malloc(sizeof(int) * (size_t)H), n_hi = 0;
    for (int h = 0; h < H; h++)
        if (mass[h] >= p->mass_threshold) hi_heads[n_hi++] = h;
    if (n_hi == 0)
        for (int h = 0; h < H; h++) hi_heads[n_hi++] = h;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < W; r++) {
        double *q_row = aq + (long)r * N, *h_row = ah + (long)r * N;
        for (int j = 0; j < N; j++) q_row[j] = h_row[j] = 0;
        for (int t = 0; t < n_qi; t++) {
            const float *row = WROW(ent[t].h, r);
            for (int j = 0; j < N; j++) q_row[j] = row[j] > q_row[j] ? row[j] : q_row[j];
        }
        for (int t = 0; t < n_hi; t++) {
            const float *row = WROW(hi_heads[t], r);
            for (int j = 0; j < N; j++) h_row[j] += row[j];
        }
        for (int j = 0; j < N; j++) h_row[j] /= n_hi;
    }
#undef WROW
    free(ent);
    free(mass);
    free(hi_heads);
}

void circuit_ranks_cpu(int *rq, int *rh, const double *aq, const double *ah, int N, const circuit_params *p)
{
    circuit_chain cq, ch;
    circuit_chain_init(&cq, NULL, aq, N, p->W, p->s);
    circuit_chain_init(&ch, NULL, ah, N, p->W, p->s);
    double *qi = kv_malloc(sizeof(double) * (size_t)N), *hi = kv_malloc(sizeof(double) * (size_t)N);
    circuit_neumann_cpu(qi, hi, &cq, &ch, p->K, p->gamma);
    circuit_rank_cpu(rq, qi, N, p->s, p->sink_weight, p->qi_kernel, p->qi_sigma);
    circuit_rank_cpu(rh, hi, N, p->s, p->sink_weight, p->hi_kernel, p->hi_sigma);
    circuit_chain_free(&cq);
    circuit_chain_free(&ch);
    free(qi), free(hi);
}

int circuit_select_graph_cpu(int *out, const double *aq, const double *ah, int N, const circuit_params *p, int C)
{
    int *rq = kv_malloc(sizeof(int) * (size_t)N), *rh = kv_malloc(sizeof(int) * (size_t)N);
    circuit_ranks_cpu(rq, rh, aq, ah, N, p);
    int m = circuit_select_cpu(out, rq, rh, N, p->s, p->W, C - p->s - p->W);
    free(rq), free(rh);
    return m;
}
