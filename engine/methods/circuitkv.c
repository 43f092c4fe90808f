/* CircuitKV: rank prompt positions by how often an absorbing random walk over the attention
 * graph visits them (DESIGN §4). Two walks on two graphs built from the window softmax rows —
 * QI (query-influence: max over the lowest-entropy heads, starting at the last prompt token) and
 * HI (head-importance: mean over the heads that put mass past the sinks, uniform start) — with
 * expected visit counts from a truncated Neumann series computed in O(K·W·N) (no N×N matrix).
 * One kept set is shared by all heads (per_head = 1: each head walks its own graph). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

static const method_knob circuitkv_knobs[] = {
    {"window", {64, 64}, NULL, "window W: rows of the graph, always kept"},
    {"sinks", {4, 4}, NULL, "absorbing sink states s, always kept"},
    {"n_qi_heads", {10, 10}, NULL, "lowest-entropy heads whose max forms the QI graph"},
    {"mass_threshold", {0.5, 0.5}, NULL, "heads with transient mass >= this form the HI graph (mean)"},
    {"neumann_k", {10, 10}, NULL, "Neumann series terms K"},
    {"gamma", {1, 1}, NULL, "discount of each Neumann step"},
    {"qi_kernel", {3, 3}, NULL, "Gaussian smoothing kernel of the QI scores"},
    {"qi_sigma", {0.5, 0.5}, NULL, "Gaussian sigma of the QI scores"},
    {"hi_kernel", {5, 5}, NULL, "Gaussian smoothing kernel of the HI scores"},
    {"hi_sigma", {1.0, 1.0}, NULL, "Gaussian sigma of the HI scores"},
    {"sink_weight", {0.01, 0.01}, NULL, "each sink's score as a fraction of the total transient visits"},
    {"per_head", {0, 0}, NULL, "1: each head selects from its own graph instead of one shared set"},
    {"fp16_logits", {0, 1}, NULL,
     "1: round the window logits to fp16 like the reference's fp16 model (softmax stays fp32)"},
};

typedef struct {
    int W, s, n_qi, K, qi_kernel, hi_kernel, per_head, prec; /* prec: the window rows' SCORE_* mode */
    double mass_threshold, gamma, qi_sigma, hi_sigma, sink_weight;
} circuitkv_params;

static int circuitkv_params_read(const variant *v, circuitkv_params *p)
{
    if (method_knob_int(v, "window", 1, 1 << 20, &p->W) || method_knob_int(v, "sinks", 0, 1 << 20, &p->s) ||
        method_knob_int(v, "n_qi_heads", 1, 1 << 20, &p->n_qi) ||
        method_knob_real(v, "mass_threshold", 0, 1, &p->mass_threshold) ||
        method_knob_int(v, "neumann_k", 0, 10000, &p->K) || method_knob_real(v, "gamma", 0, 1, &p->gamma) ||
        method_knob_int(v, "qi_kernel", 1, 1 << 20, &p->qi_kernel) ||
        method_knob_real(v, "qi_sigma", 1e-6, 1e6, &p->qi_sigma) ||
        method_knob_int(v, "hi_kernel", 1, 1 << 20, &p->hi_kernel) ||
        method_knob_real(v, "hi_sigma", 1e-6, 1e6, &p->hi_sigma) ||
        method_knob_real(v, "sink_weight", 0, 1e6, &p->sink_weight) ||
        method_knob_int(v, "per_head", 0, 1, &p->per_head) || method_knob_int(v, "fp16_logits", 0, 1, &p->prec))
        return KV_ERR;
    p->prec = p->prec ? SCORE_FP16_LOGITS : SCORE_FP32;
    return KV_OK;
}

static int circuitkv_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    circuitkv_params p;
    if (circuitkv_params_read(v, &p)) return KV_ERR;
    if (v->budget <= p.s + p.W) {
        kv_seterr("CircuitKV: budget %d must exceed sinks + window = %d + %d (nothing left to select)", v->budget,
                  p.s, p.W);
        return KV_ERR;
    }
    return KV_OK;
}

/* Visits → ranks → the kept set of one pair of chains, into out. Returns the count. */
static int circuitkv_select_chains(int *out, const circuit_chain *cq, const circuit_chain *ch,
                                   const circuitkv_params *p, int N, int C)
{
    double *qi = kv_malloc(sizeof(double) * (size_t)N), *hi = kv_malloc(sizeof(double) * (size_t)N);
    int *rq = kv_malloc(sizeof(int) * (size_t)N), *rh = kv_malloc(sizeof(int) * (size_t)N);
    circuit_neumann_cpu(qi, hi, cq, ch, p->K, p->gamma);
    circuit_rank_cpu(rq, qi, N, p->s, p->sink_weight, p->qi_kernel, p->qi_sigma);
    circuit_rank_cpu(rh, hi, N, p->s, p->sink_weight, p->hi_kernel, p->hi_sigma);
    int m = circuit_select_cpu(out, rq, rh, N, p->s, p->W, C - p->s - p->W);
    free(qi);
    free(hi);
    free(rq);
    free(rh);
    return m;
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

/* Per head h of the layer: ent[h] = its mean row entropy over the W window rows (p clamped
 * >= 1e-8), mass[h] = its mean attention mass past the p->s sinks. */
static void head_stats(const struct layer_stats *st, const circuitkv_params *p, int H, head_entropy *ent,
                       double *mass)
{
    const int N = st->L, W = p->W;
    const double tiny_term = -1e-8 * log(1e-8);
#pragma omp parallel for schedule(dynamic, 1)
    for (int h = 0; h < H; h++) {
        const float *P = layer_stats_window(st, h, W, p->prec);
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

/* The two (W, N) graphs: aq = elementwise max over the n_qi heads first in ent (lowest entropy),
 * ah = mean over the n_hi heads in hi_heads. */
static void build_graphs(const struct layer_stats *st, const circuitkv_params *p, const head_entropy *ent, int n_qi,
                         const int *hi_heads, int n_hi, double *aq, double *ah)
{
    const int N = st->L, W = p->W;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < W; r++) {
        double *q_row = aq + (long)r * N, *h_row = ah + (long)r * N;
        for (int j = 0; j < N; j++) {
            q_row[j] = 0;
            h_row[j] = 0;
        }
        for (int t = 0; t < n_qi; t++) {
            const float *row = layer_stats_window(st, ent[t].h, W, p->prec) + (long)r * N;
            for (int j = 0; j < N; j++) q_row[j] = row[j] > q_row[j] ? row[j] : q_row[j];
        }
        for (int t = 0; t < n_hi; t++) {
            const float *row = layer_stats_window(st, hi_heads[t], W, p->prec) + (long)r * N;
            for (int j = 0; j < N; j++) h_row[j] += row[j];
        }
        for (int j = 0; j < N; j++) h_row[j] /= n_hi;
    }
}

static int circuitkv_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int N = st->L, C = v->budget, H = view->n_heads;
    circuitkv_params p;
    if (circuitkv_params_read(v, &p)) return KV_ERR;
    if (N < C) {
        kv_view_keep_all(view, layer, N);
        return KV_OK;
    }
    const int W = p.W;
    if (!layer_stats_window(st, 0, W, p.prec)) {
        kv_seterr("CircuitKV: layer %d: window softmax rows (W=%d) were not computed", layer, W);
        return KV_ERR;
    }
    if (p.per_head) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int h = 0; h < H; h++) {
            circuit_chain ch;
            circuit_chain_init(&ch, layer_stats_window(st, h, W, p.prec), NULL, N, W, p.s);
            view->len[layer * H + h] = circuitkv_select_chains(kv_view_row(view, layer, h), &ch, &ch, &p, N, C);
            circuit_chain_free(&ch);
        }
        return KV_OK;
    }
    /* 1. per head: mean row entropy and mean mass past the sinks */
    head_entropy *ent = kv_malloc(sizeof(head_entropy) * (size_t)H);
    double *mass = kv_malloc(sizeof(double) * (size_t)H);
    head_stats(st, &p, H, ent, mass);
    /* 2. QI graph: max over the n_qi lowest-entropy heads; HI graph: mean over massive heads */
    qsort(ent, (size_t)H, sizeof *ent, cmp_head_entropy);
    const int n_qi = p.n_qi < H ? p.n_qi : H;
    int *hi_heads = kv_malloc(sizeof(int) * (size_t)H), n_hi = 0;
    for (int h = 0; h < H; h++)
        if (mass[h] >= p.mass_threshold) hi_heads[n_hi++] = h;
    if (n_hi == 0)
        for (int h = 0; h < H; h++) hi_heads[n_hi++] = h;
    double *aq = kv_malloc(sizeof(double) * (size_t)W * N), *ah = kv_malloc(sizeof(double) * (size_t)W * N);
    build_graphs(st, &p, ent, n_qi, hi_heads, n_hi, aq, ah);
    /* 3-6. chains, Neumann visits, ranks, one shared set */
    circuit_chain cq, ch;
    circuit_chain_init(&cq, NULL, aq, N, W, p.s);
    circuit_chain_init(&ch, NULL, ah, N, W, p.s);
    int *row0 = kv_view_row(view, layer, 0);
    int m = circuitkv_select_chains(row0, &cq, &ch, &p, N, C);
    for (int h = 0; h < H; h++) {
        if (h) memcpy(kv_view_row(view, layer, h), row0, sizeof(int) * (size_t)m);
        view->len[layer * H + h] = m;
    }
    circuit_chain_free(&cq);
    circuit_chain_free(&ch);
    free(aq);
    free(ah);
    free(ent);
    free(mass);
    free(hi_heads);
    return KV_OK;
}

/* The window rows (fp32 or fp16 logits) its graphs are built from; sinks and window always kept. */
static void circuitkv_needs(const variant *v, method_needs *out)
{
    out->window_rows = out->keeps_last = (int)variant_knob(v, "window");
    out->window_prec = variant_knob(v, "fp16_logits") == 1 ? SCORE_FP16_LOGITS : SCORE_FP32;
    out->keeps_first = (int)variant_knob(v, "sinks");
}

const method_desc method_circuitkv = {
    .name = "circuitkv",
    .display = "CircuitKV",
    .n_knobs = sizeof circuitkv_knobs / sizeof circuitkv_knobs[0],
    .knobs = circuitkv_knobs,
    .compresses = 1,
    .check = circuitkv_check,
    .expected_kept = method_expected_budget,
    .select_layer = circuitkv_select_layer,
    .needs = circuitkv_needs,
};
