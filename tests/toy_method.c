/* Toy: the "adding a method" example of the README, built only into test_toy_method (the
 * Makefile compiles engine/method.c for it with -DMETHOD_EXTRA=method_toy: that is its one
 * registry line). Rule: keep the C positions nearest the end on the stride grid through the last
 * position (L-1, L-1-stride, ...), filling up from the nearest other positions when the grid has
 * fewer than C; L < C keeps everything. It declares the last query's softmax row, which it only
 * checks is there, to show that compress computes what a method declares. */
#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

static const method_knob toy_knobs[] = {
    {"stride", {3, 3}, NULL, "keep every stride-th position counting back from the last"},
};

static int toy_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    int stride;
    if (method_knob_int(v, "stride", 1, 1 << 20, &stride)) return KV_ERR;
    if (v->budget < 1) {
        kv_seterr("Toy: budget %d must be at least 1", v->budget);
        return KV_ERR;
    }
    return KV_OK;
}

static int toy_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int L = st->L, C = v->budget, stride = (int)variant_knob(v, "stride");
    if (L < C) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    for (int h = 0; h < view->n_heads; h++) {
        if (!layer_stats_window(st, h, 1, SCORE_FP32)) {
            kv_seterr("Toy: layer %d head %d: the declared last-query row was not computed", layer, h);
            return KV_ERR;
        }
        int *row = kv_view_row(view, layer, h), m = 0, on_grid = 0;
        for (int j = L - 1; j >= 0; j -= stride) on_grid++;
        int extra = C > on_grid ? C - on_grid : 0; /* nearest off-grid positions to add */
        for (int j = 0; j < L; j++) {
            int grid = (L - 1 - j) % stride == 0;
            int grid_rank = (L - 1 - j) / stride; /* 0 for L-1 */
            int off_rank = (L - 1 - j) - grid_rank - 1; /* off-grid positions after j */
            if ((grid && grid_rank < C) || (!grid && off_rank < extra)) row[m++] = j;
        }
        view->len[layer * view->n_heads + h] = m;
    }
    return KV_OK;
}

/* The last query's softmax row (fp32); the last position is always kept. */
static void toy_needs(const variant *v, method_needs *out)
{
    (void)v;
    out->window_rows = 1;
    out->window_prec = SCORE_FP32;
    out->keeps_last = 1;
}

const method_desc method_toy = {
    .name = "toy",
    .display = "Toy",
    .n_knobs = 1,
    .knobs = toy_knobs,
    .compresses = 1,
    .check = toy_check,
    .expected_kept = method_expected_budget,
    .select_layer = toy_select_layer,
    .needs = toy_needs,
};
