/* Random: the seeded baseline (kvpress RandomPress) — every prompt position of a KV head gets a
 * uniform score fixed by (seed, layer, KV head, L, position) and the top C are kept; the query
 * heads of a group share their KV head's set. No window and no sinks, as RandomPress. The seed is
 * a knob, so it is recorded with every result. */
#include <stdlib.h>

#include "engine/methods/methods.h"
#include "util/util.h"

static const method_knob random_knobs[] = {
    {"seed", {0, 0}, NULL, "seed of the per-position uniform scores (recorded with each result)"},
};

static int random_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    int seed;
    return method_knob_int(v, "seed", 0, 2147483647, &seed);
}

static int random_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int L = st->L, Hkv = st->cfg->n_kv_heads, n_rep = view->n_heads / Hkv;
    const unsigned long long seed = (unsigned long long)variant_knob(v, "seed");
    if (L < v->budget) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    float *score = kv_malloc(sizeof(float) * (size_t)L), *scratch = kv_malloc(sizeof(float) * (size_t)L);
    for (int g = 0; g < Hkv; g++) {
        for (int j = 0; j < L; j++) score[j] = (float)press_random_uniform(seed, layer, g, L, j);
        press_keep_kvhead(view, layer, g, n_rep, score, L, v->budget, scratch);
    }
    free(score);
    free(scratch);
    return KV_OK;
}

const method_desc method_random = {
    .name = "random",
    .display = "Random",
    .n_knobs = 1,
    .knobs = random_knobs,
    .compresses = 1,
    .check = random_check,
    .expected_kept = method_expected_budget,
    .select_layer = random_select_layer,
};
