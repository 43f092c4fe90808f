/* StreamingLLM: attention sinks plus a recent window — keep positions 0..sinks-1 and the last
 * C-sinks positions, the same for every layer and head (DESIGN §4). Needs no statistics. */
#include "engine/methods/methods.h"
#include "util/util.h"

static const method_knob streamingllm_knobs[] = {
    {"sinks", {4, 4}, NULL, "initial positions always kept (attention sinks)"},
};

static int streamingllm_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    int sinks;
    if (method_knob_int(v, "sinks", 0, 1 << 30, &sinks)) return KV_ERR;
    if (v->budget <= sinks) {
        kv_seterr("StreamingLLM: budget %d must exceed sinks %d (the recent part would be empty)", v->budget,
                  sinks);
        return KV_ERR;
    }
    return KV_OK;
}

static int streamingllm_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int L = st->L, C = v->budget, sinks = (int)variant_knob(v, "sinks");
    if (L < C) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    for (int h = 0; h < view->n_heads; h++) {
        int *row = kv_view_row(view, layer, h), m = 0;
        for (int j = 0; j < sinks; j++) row[m++] = j;
        for (int j = L - (C - sinks); j < L; j++) row[m++] = j;
        view->len[layer * view->n_heads + h] = m;
    }
    return KV_OK;
}

/* No statistics: the sinks and the most recent positions are kept by position alone. */
static void streamingllm_needs(const variant *v, method_needs *out) { out->keeps_first = (int)variant_knob(v, "sinks"); }

const method_desc method_streamingllm = {
    .name = "streamingllm",
    .display = "StreamingLLM",
    .n_knobs = 1,
    .knobs = streamingllm_knobs,
    .compresses = 1,
    .check = streamingllm_check,
    .expected_kept = method_expected_budget,
    .select_layer = streamingllm_select_layer,
    .needs = streamingllm_needs,
};
