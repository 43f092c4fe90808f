/* FullKV: no compression — every prompt position of every layer and head is kept. The
 * uncompressed baseline row of the results table. */
#include "engine/methods/methods.h"
#include "util/util.h"

static int fullkv_check(const variant *v, const model_config *cfg)
{
    (void)v;
    (void)cfg;
    return KV_OK;
}

static int fullkv_expected_kept(const variant *v, const model_config *cfg, int L, int layer)
{
    (void)v;
    (void)cfg;
    (void)layer;
    return L;
}

static int fullkv_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    (void)v;
    kv_view_keep_all(view, layer, st->L);
    return KV_OK;
}

const method_desc method_fullkv = {
    .name = "fullkv",
    .display = "FullKV",
    .n_knobs = 0,
    .knobs = NULL,
    .compresses = 0,
    .check = fullkv_check,
    .expected_kept = fullkv_expected_kept,
    .select_layer = fullkv_select_layer,
};
