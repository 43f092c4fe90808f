/* Knorm: keep the keys of lowest L2 norm (kvpress KnormPress, score = -||k_j||; KVCache-Factory
 * L2Norm). Per KV head over all L positions, no window and no sinks (KnormPress keeps none);
 * the query heads of a group share their KV head's set. The norms are a per-layer statistic
 * (LAYER_NEED_KNORM) computed once for every variant that reads them. */
#include "engine/methods/methods.h"
#include "util/util.h"

static int knorm_check(const variant *v, const model_config *cfg)
{
    (void)v;
    (void)cfg;
    return KV_OK;
}

/* The key norms (host statistics). */
static void knorm_needs(const variant *v, method_needs *out)
{
    (void)v;
    out->host = LAYER_NEED_KNORM;
}

static int knorm_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    return press_keep_lowest(v, st, layer, view, st->knorm, "key norms");
}

const method_desc method_knorm = {
    .name = "knorm",
    .display = "Knorm",
    .n_knobs = 0,
    .knobs = NULL,
    .compresses = 1,
    .check = knorm_check,
    .expected_kept = method_expected_budget,
    .select_layer = knorm_select_layer,
    .needs = knorm_needs,
};
