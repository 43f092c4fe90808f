/* KeyDiff: keep the keys least similar to the layer's mean key direction (kvpress KeyDiffPress,
 * score = -cos(k_j, mean_j k_j/||k_j||)). Per KV head over all L positions, no window and no
 * sinks, as KeyDiffPress; the query heads of a group share their KV head's set. The cosines are a
 * per-layer statistic (LAYER_NEED_KEYCOS) computed once for every variant. */
#include "engine/methods/methods.h"
#include "util/util.h"

static int keydiff_check(const variant *v, const model_config *cfg)
{
    (void)v;
    (void)cfg;
    return KV_OK;
}

/* The key cosines with the mean key (host statistics). */
static void keydiff_needs(const variant *v, method_needs *out)
{
    (void)v;
    out->host = LAYER_NEED_KEYCOS;
}

static int keydiff_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    return press_keep_lowest(v, st, layer, view, st->keycos, "key cosines");
}

const method_desc method_keydiff = {
    .name = "keydiff",
    .display = "KeyDiff",
    .n_knobs = 0,
    .knobs = NULL,
    .compresses = 1,
    .check = keydiff_check,
    .expected_kept = method_expected_budget,
    .select_layer = keydiff_select_layer,
    .needs = keydiff_needs,
};
