/* PyramidKV: SnapKV's scoring with a per-layer budget that shrinks linearly with depth — lower
 * layers keep more, upper layers less, same total (DESIGN §4; floor divisions as the reference). */
#include <math.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

static const char *const pyramidkv_pooling[] = {"max", "avg", NULL};
static const char *const pyramidkv_reduction[] = {"sum", "mean", NULL};

static const method_knob pyramidkv_knobs[] = {
    {"window", {64, 8}, NULL, "observation window W: the last W queries score the keys and are kept"},
    {"kernel", {7, 7}, NULL, "1-D pooling kernel over the scores"},
    {"pooling", {0, 0}, pyramidkv_pooling, "pooling of the window scores: max or avg"},
    {"reduction", {0, 0}, pyramidkv_reduction, "reduction over the window rows: sum or mean"},
    {"fp16", {0, 1}, NULL, "1: round logits, softmax outputs and window sums to fp16 like the reference"},
    {"beta", {20, 20}, NULL, "pyramid slope: the top layer keeps about (C-W)/beta"},
};

/* Python floor division (the reference's //). */
static long floordiv(long a, long b)
{
    long q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Prompt positions of 0..L-W-1 kept by layer `layer` (the window comes on top). */
static long pyramidkv_k(long C, long W, long beta, long n_layers, long L, long layer)
{
    if (L < 2 * (C - W)) return C - W; /* C <= L < 2(C-W): uniform, plain SnapKV */
    long mn = floordiv(C - W, beta), mx = 2 * (C - W) - mn;
    if (mx >= L - W) {
        mx = L - W;
        mn = 2 * (C - W) - mx;
    }
    long steps = n_layers > 1 ? floordiv(mx - mn, n_layers - 1) : 0;
    return mx - layer * steps;
}

static int pyramidkv_check(const variant *v, const model_config *cfg)
{
    int w, kernel, pool, red, fp16, beta;
    if (method_knob_int(v, "window", 1, 1 << 20, &w) || method_knob_int(v, "kernel", 1, 1 << 20, &kernel) ||
        method_knob_int(v, "pooling", 0, 1, &pool) || method_knob_int(v, "reduction", 0, 1, &red) ||
        method_knob_int(v, "fp16", 0, 1, &fp16) || method_knob_int(v, "beta", 1, 1 << 20, &beta))
        return KV_ERR;
    if (v->budget <= w) {
        kv_seterr("PyramidKV: budget %d must exceed the window %d", v->budget, w);
        return KV_ERR;
    }
    if (cfg->n_layers < 1) {
        kv_seterr("PyramidKV: the model has %d layers", cfg->n_layers);
        return KV_ERR;
    }
    return KV_OK;
}

static int pyramidkv_expected_kept(const variant *v, const model_config *cfg, int L, int layer)
{
    const int C = v->budget, W = (int)variant_knob(v, "window");
    if (L < C) return L;
    return (int)pyramidkv_k(C, W, (long)variant_knob(v, "beta"), cfg->n_layers, L, layer) + W;
}

static int pyramidkv_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int L = st->L, C = v->budget, W = (int)variant_knob(v, "window");
    if (L < C) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    long k = pyramidkv_k(C, W, (long)variant_knob(v, "beta"), st->cfg->n_layers, L, layer);
    return snapkv_select_keep(v, st, layer, view, (int)k);
}

/* SnapKV's: the window rows at the variant's precision; the window is always kept. */
static void pyramidkv_needs(const variant *v, method_needs *out)
{
    out->window_rows = out->keeps_last = (int)variant_knob(v, "window");
    out->window_prec = variant_knob(v, "fp16") == 1 ? SCORE_FP16 : SCORE_FP32;
}

const method_desc method_pyramidkv = {
    .name = "pyramidkv",
    .display = "PyramidKV",
    .n_knobs = 6,
    .knobs = pyramidkv_knobs,
    .compresses = 1,
    .check = pyramidkv_check,
    .expected_kept = pyramidkv_expected_kept,
    .select_layer = pyramidkv_select_layer,
    .needs = pyramidkv_needs,
};
