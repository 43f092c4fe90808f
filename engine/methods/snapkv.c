/* SnapKV: score each prompt key by the attention the last W queries (the observation window)
 * pay it, smooth the scores with a 1-D pool, keep the top C-W per query head plus the window
 * (DESIGN §4). The window softmax rows come from layer_stats, shared by every variant. */
#include <stdlib.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

static const char *const snapkv_pooling[] = {"max", "avg", NULL};
static const char *const snapkv_reduction[] = {"sum", "mean", NULL};

static const method_knob snapkv_knobs[] = {
    {"window", {64, 8}, NULL, "observation window W: the last W queries score the keys and are kept"},
    {"kernel", {7, 7}, NULL, "1-D pooling kernel over the scores"},
    {"pooling", {0, 0}, snapkv_pooling, "pooling of the window scores: max or avg"},
    {"reduction", {0, 0}, snapkv_reduction, "reduction over the window rows: sum or mean"},
    {"fp16", {0, 1}, NULL, "1: round logits, softmax outputs and window sums to fp16 like the reference"},
};

static int snapkv_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    int w, kernel, pool, red, fp16;
    if (method_knob_int(v, "window", 1, 1 << 20, &w) || method_knob_int(v, "kernel", 1, 1 << 20, &kernel) ||
        method_knob_int(v, "pooling", 0, 1, &pool) || method_knob_int(v, "reduction", 0, 1, &red) ||
        method_knob_int(v, "fp16", 0, 1, &fp16))
        return KV_ERR;
    if (v->budget <= w) {
        kv_seterr("%s: budget %d must exceed the window %d", v->method->display, v->budget, w);
        return KV_ERR;
    }
    return KV_OK;
}

int snapkv_select_keep(const variant *v, const struct layer_stats *st, int layer, kv_view *view, int n_keep)
{
    const int L = st->L, W = (int)variant_knob(v, "window"), kernel = (int)variant_knob(v, "kernel");
    const int avg = variant_knob(v, "pooling") == 1, mean = variant_knob(v, "reduction") == 1;
    const int fp16 = variant_knob(v, "fp16") == 1, H = view->n_heads, n = L - W;
    int missing = 0;
#pragma omp parallel
    {
        float *a = kv_malloc(sizeof(float) * (size_t)n), *s = kv_malloc(sizeof(float) * (size_t)n);
        float *scratch = kv_malloc(sizeof(float) * (size_t)n);
        double *acc = kv_malloc(sizeof(double) * (size_t)n);
#pragma omp for schedule(dynamic, 1)
        for (int h = 0; h < H; h++) {
            const float *p = layer_stats_window(st, h, W, fp16);
            if (!p) {
#pragma omp atomic write
                missing = 1;
                continue;
            }
            /* A[j] = Σ_r P[r, j] over the window rows, j < L-W (mean: / W) */
            for (int j = 0; j < n; j++) acc[j] = 0;
            for (int r = 0; r < W; r++)
                for (int j = 0; j < n; j++) acc[j] += p[(long)r * L + j];
            for (int j = 0; j < n; j++) { /* one rounding of the reduced value, as torch's sum/mean */
                float x = (float)(mean ? acc[j] / W : acc[j]);
                a[j] = fp16 ? half_round(x) : x;
            }
            if (avg) pool1d_avg_cpu(s, a, n, kernel);
            else pool1d_max_cpu(s, a, n, kernel);
            method_keep_topk_window(view, layer, h, s, L, W, n_keep, scratch);
        }
        free(a);
        free(s);
        free(scratch);
        free(acc);
    }
    if (missing) {
        kv_seterr("%s: layer %d: window softmax rows (W=%d%s) were not computed", v->method->display, layer, W,
                  fp16 ? ", fp16" : "");
        return KV_ERR;
    }
    return KV_OK;
}

static int snapkv_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    if (st->L < v->budget) {
        kv_view_keep_all(view, layer, st->L);
        return KV_OK;
    }
    return snapkv_select_keep(v, st, layer, view, v->budget - (int)variant_knob(v, "window"));
}

/* The window rows at the variant's precision; the window is always kept. */
static void snapkv_needs(const variant *v, method_needs *out)
{
    out->window_rows = out->keeps_last = (int)variant_knob(v, "window");
    out->window_prec = variant_knob(v, "fp16") == 1 ? SCORE_FP16 : SCORE_FP32;
}

const method_desc method_snapkv = {
    .name = "snapkv",
    .display = "SnapKV",
    .n_knobs = 5,
    .knobs = snapkv_knobs,
    .compresses = 1,
    .check = snapkv_check,
    .expected_kept = method_expected_budget,
    .select_layer = snapkv_select_layer,
    .needs = snapkv_needs,
};
