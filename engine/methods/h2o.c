/* H2O (heavy hitters): score each prompt key by the attention all prompt queries pay it
 * (column sums), keep the top C-W per query head plus the recent window, no pooling
 * (DESIGN §4). The column sums (three modes) come from layer_stats, computed without an L×L buffer. */
#include <stdlib.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

static const char *const h2o_modes[] = {"causal", "prefix", "upstream", NULL};

static const method_knob h2o_knobs[] = {
    {"window", {64, 8}, NULL, "recent window W, always kept; scored keys are 0..L-W-1"},
    {"mode", {H2O_CAUSAL, H2O_PREFIX}, h2o_modes,
     "causal: full causal softmax; prefix: keys 0..L-W-1 only; upstream: mask only the last W×W block"},
    {"fp16", {0, 1}, NULL, "1: round logits, softmax outputs and column sums to fp16 like the reference"},
};

static int h2o_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    int w, mode, fp16;
    if (method_knob_int(v, "window", 1, 1 << 20, &w) || method_knob_int(v, "mode", 0, 2, &mode) ||
        method_knob_int(v, "fp16", 0, 1, &fp16))
        return KV_ERR;
    if (v->budget <= w) {
        kv_seterr("H2O: budget %d must exceed the window %d", v->budget, w);
        return KV_ERR;
    }
    return KV_OK;
}

static int h2o_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int L = st->L, C = v->budget, W = (int)variant_knob(v, "window");
    const int mode = (int)variant_knob(v, "mode"), fp16 = variant_knob(v, "fp16") == 1;
    if (L < C) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    if (!layer_stats_h2o_colsum(st, 0, mode, W, fp16)) {
        kv_seterr("H2O: layer %d: column sums (mode %s, W=%d) were not computed", layer, h2o_modes[mode], W);
        return KV_ERR;
    }
    float *scratch = kv_malloc(sizeof(float) * (size_t)L);
    for (int h = 0; h < view->n_heads; h++)
        method_keep_topk_window(view, layer, h, layer_stats_h2o_colsum(st, h, mode, W, fp16), L, W, C - W,
                                scratch);
    free(scratch);
    return KV_OK;
}

/* The column sums of its (mode, window, fp16), not the rows; the recent window is always kept. */
static void h2o_needs(const variant *v, method_needs *out)
{
    out->colsum_window = out->keeps_last = (int)variant_knob(v, "window");
    out->colsum_mode = (int)variant_knob(v, "mode");
    out->colsum_fp16 = (int)variant_knob(v, "fp16");
}

const method_desc method_h2o = {
    .name = "h2o",
    .display = "H2O",
    .n_knobs = 3,
    .knobs = h2o_knobs,
    .compresses = 1,
    .check = h2o_check,
    .expected_kept = method_expected_budget,
    .select_layer = h2o_select_layer,
    .needs = h2o_needs,
};
