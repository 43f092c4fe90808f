/* TOVA: score each prompt key by the attention the last query pays it, averaged over all query
 * heads of the layer (kvpress TOVAPress: the last query's softmax over all L keys, mean over
 * heads, the same scores for every KV head — so one set shared by all heads of a layer). The
 * last position is always kept (TOVAPress pads it with the maximum score); `window` W > 1
 * generalises to the mean over the last W queries with the last W positions kept (W = 1 is TOVA).
 * The window softmax rows come from layer_stats (fp32), shared with SnapKV-like variants. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

static const method_knob tova_knobs[] = {
    {"window", {1, 1}, NULL, "last W queries whose head-averaged attention scores the keys; the last W kept (TOVA: 1)"},
};

static int tova_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    int w;
    if (method_knob_int(v, "window", 1, 1 << 20, &w)) return KV_ERR;
    if (v->budget <= w) {
        kv_seterr("TOVA: budget %d must exceed the window %d", v->budget, w);
        return KV_ERR;
    }
    return KV_OK;
}

static int tova_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int L = st->L, W = (int)variant_knob(v, "window"), H = view->n_heads, n = L - W;
    if (L < v->budget) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    if (!layer_stats_window(st, 0, W, SCORE_FP32)) {
        kv_seterr("TOVA: layer %d: window softmax rows (W=%d) were not computed", layer, W);
        return KV_ERR;
    }
    double *acc = kv_calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    float *score = kv_malloc(sizeof(float) * (size_t)L), *scratch = kv_malloc(sizeof(float) * (size_t)L);
    /* s[j] = mean over heads h and window rows r of P[h, r, j], j < L-W */
    for (int h = 0; h < H; h++) {
        const float *p = layer_stats_window(st, h, W, SCORE_FP32);
        for (int r = 0; r < W; r++)
            for (int j = 0; j < n; j++) acc[j] += p[(long)r * L + j];
    }
    for (int j = 0; j < n; j++) score[j] = (float)(acc[j] / ((double)H * W));
    for (int j = n; j < L; j++) score[j] = INFINITY;
    /* one set for the layer: every query head reads it */
    press_keep_kvhead(view, layer, 0, H, score, L, v->budget, scratch);
    free(acc);
    free(score);
    free(scratch);
    return KV_OK;
}

/* The last W queries' rows (fp32), whose head mean scores the keys; those W are kept. */
static void tova_needs(const variant *v, method_needs *out)
{
    out->window_rows = out->keeps_last = (int)variant_knob(v, "window");
    out->window_prec = SCORE_FP32;
}

const method_desc method_tova = {
    .name = "tova",
    .display = "TOVA",
    .n_knobs = 1,
    .knobs = tova_knobs,
    .compresses = 1,
    .check = tova_check,
    .expected_kept = method_expected_budget,
    .select_layer = tova_select_layer,
    .needs = tova_needs,
};
