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
#include "engine/select_device.h"
#include "util/util.h"
#include "kernels/scoring.h"
#include "kernels/select.h"

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

static int circuitkv_params_read(const variant *v, circuit_params *p, int *per_head, int *prec)
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
        method_knob_int(v, "per_head", 0, 1, per_head) || method_knob_int(v, "fp16_logits", 0, 1, prec))
        return KV_ERR;
    *prec = *prec ? SCORE_FP16_LOGITS : SCORE_FP32;
    return KV_OK;
}

static int circuitkv_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    circuit_params p;
    int per_head, prec;
    if (circuitkv_params_read(v, &p, &per_head, &prec)) return KV_ERR;
    if (v->budget <= p.s + p.W) {
        kv_seterr("CircuitKV: budget %d must exceed sinks + window = %d + %d (nothing left to select)", v->budget,
                  p.s, p.W);
        return KV_ERR;
    }
    return KV_OK;
}

/* The window rows this variant reads: their base (H, wm, N) and wm, or KV_ERR. */
static int circuitkv_rows(const variant *v, const struct layer_stats *st, int layer, circuit_params *p,
                          int *per_head, const float **win, int *wm)
{
    int prec;
    if (circuitkv_params_read(v, p, per_head, &prec)) return KV_ERR;
    if (!layer_stats_window(st, 0, p->W, prec)) {
        kv_seterr("CircuitKV: layer %d: window softmax rows (W=%d) were not computed", layer, p->W);
        return KV_ERR;
    }
    *win = st->win[prec];
    *wm = st->wmax[prec];
    return KV_OK;
}

/* The ranks of the layer's graphs: per head (per_head: H graphs) or one shared, each rq then rh
 * (N ints each), in one malloc'd block. */
static int *circuitkv_ranks(const float *win, int H, int wm, int N, const circuit_params *p, int per_head)
{
    const int n_graphs = per_head ? H : 1;
    const size_t graph = sizeof(double) * (size_t)p->W * N;
    int *ranks = kv_malloc(sizeof(int) * 2 * (size_t)N * n_graphs);
#pragma omp parallel if (n_graphs > 1)
    {
        double *aq = kv_malloc(graph), *ah = kv_malloc(graph);
#pragma omp for schedule(dynamic, 1)
        for (int g = 0; g < n_graphs; g++) {
            circuit_graph_cpu(aq, ah, win, H, wm, N, p, per_head ? g : -1);
            circuit_ranks_cpu(ranks + 2 * (size_t)N * g, ranks + 2 * (size_t)N * g + N, aq, ah, N, p);
        }
        free(aq), free(ah);
    }
    return ranks;
}

/* Each head's kept set of budget C from its graph's ranks (per_head), or the one shared set. */
static void circuitkv_select_ranks(kv_view *view, int layer, int H, const int *ranks, int per_head, int N,
                                   const circuit_params *p, int C)
{
    for (int h = 0; h < H; h++) {
        int *row = kv_view_row(view, layer, h);
        if (per_head || h == 0) {
            const int *rq = ranks + 2 * (size_t)N * (per_head ? h : 0);
            view->len[layer * H + h] = circuit_select_cpu(row, rq, rq + N, N, p->s, p->W, C - p->s - p->W);
        } else {
            memcpy(row, kv_view_row(view, layer, 0), sizeof(int) * (size_t)view->len[layer * H]);
            view->len[layer * H + h] = view->len[layer * H];
        }
    }
}

static int circuitkv_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int N = st->L, C = v->budget, H = view->n_heads;
    circuit_params p;
    int per_head, wm;
    const float *win;
    if (N < C) {
        kv_view_keep_all(view, layer, N);
        return KV_OK;
    }
    if (circuitkv_rows(v, st, layer, &p, &per_head, &win, &wm) != KV_OK) return KV_ERR;
    /* the ranks (rq, rh per graph: one graph per head, or one shared) do not depend on the budget:
     * walked once per layer for all of this method's budgets with the same knobs */
    int *ranks = layer_memo_find(st, v), *own = NULL;
    if (!ranks) {
        ranks = circuitkv_ranks(win, H, wm, N, &p, per_head);
        if (!layer_memo_put(st, v, ranks)) own = ranks;
    }
    circuitkv_select_ranks(view, layer, H, ranks, per_head, N, &p, C);
    free(own);
    return KV_OK;
}

/* Steps 1-6 through the backend: graphs, chains and Neumann visits, smoothing and ranks, the
 * kept set — per head, or once (row 0) for the shared set every head reads. */
static int circuitkv_select_device(const variant *v, const select_dev *d, int layer, select_dev_out *out)
{
    const struct layer_stats *st = d->st;
    const int N = st->L, C = v->budget, H = st->cfg->n_heads;
    circuit_params p;
    int per_head, wm;
    const float *win;
    if (circuitkv_rows(v, st, layer, &p, &per_head, &win, &wm) != KV_OK) return KV_ERR;
    backend *be = d->be;
    const int n_cand = N - p.W - p.s, k = C - p.s - p.W;
    const int count = p.s + p.W + (k < n_cand ? k : n_cand);
    if ((long)p.W * N > d->gcap) {
        kv_seterr("CircuitKV: layer %d: graph scratch of %ld doubles < W*N = %ld", layer, d->gcap, (long)p.W * N);
        return KV_ERR;
    }
    for (int h = per_head ? 0 : -1; h < (per_head ? H : 0); h++) {
        be->circuit_graph(be->ctx, d->ga, d->gb, win, H, wm, N, &p, h);
        int m = be->circuit_select(be->ctx, d->pos + (long)(h < 0 ? 0 : h) * count, d->ga, d->gb, N, &p, C);
        if (m != count) {
            kv_seterr("CircuitKV: layer %d: the backend kept %d positions, expected %d", layer, m, count);
            return KV_ERR;
        }
    }
    *out = (select_dev_out){count, !per_head};
    return KV_OK;
}

/* The shared mode selects one set from every head's rows (all-gathered under TP). */
static int circuitkv_shared(const variant *v) { return variant_knob(v, "per_head") == 0; }

/* The window rows at its logits precision; the window and the sinks are always kept. */
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
    .select_device = circuitkv_select_device,
    .select_shared = circuitkv_shared,
    .needs = circuitkv_needs,
};
