/* test_engine: the engine on the demo model (SmolLM2-135M GGUF from ./setup.sh) — the KV-cache
 * decode path agrees with a full prefill, batched decode of many variants equals decoding each
 * alone, every method keeps exactly its budget with the same first token, and methods whose
 * budget covers the prompt reproduce FullKV. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/layer_stats.h"
#include "util/util.h"
#include "tests/check.h"

/* fp32 logits of the same position computed with different summation orders (prefill sgemm vs
 * one decode step): O(10) magnitudes, so absolute error of a few 1e-3 at most. */
#define TOL_LOGIT_ATOL 5e-3
#define TOL_LOGIT_RTOL 1e-4

static const char *text =
    "The city council met on Tuesday to discuss the new budget for public transport. After a long "
    "debate, the members agreed to extend the tram line to the northern districts, which have grown "
    "quickly over the past decade. Residents had complained about crowded buses and long commutes. "
    "The mayor said the project would be financed partly by a regional grant and partly by bonds, and "
    "that construction could begin next spring if the environmental review is completed in time. "
    "Critics argued that the money would be better spent on repairing existing roads and bridges.";

static void test_decode_matches_prefill(engine *e, const int *ids, int n)
{
    int V = e->vocab;
    float *full = kv_malloc(sizeof(float) * V), *step = kv_malloc(sizeof(float) * V);
    CHECK(engine_prefill_logits(e, ids, n, full) == KV_OK, "prefill: %s", kv_lasterr());
    /* prefill n-1 tokens, then feed token n-1 through one decode step with a keep-all view */
    prefix_store ps = {0};
    CHECK(forward_prefill(e, ids, n - 1, &ps, NULL, NULL) == KV_OK, "prefill n-1: %s", kv_lasterr());
    const model_config *c = &e->m.cfg;
    long ks = (long)e->Hkv * e->hd;
    int *pos = kv_malloc(sizeof(int) * c->n_layers * c->n_heads * (n - 1));
    int *len = kv_malloc(sizeof(int) * c->n_layers * c->n_heads);
    for (int r = 0; r < c->n_layers * c->n_heads; r++) {
        len[r] = n - 1;
        for (int j = 0; j < n - 1; j++) pos[r * (n - 1) + j] = j;
    }
    float *kt = kv_malloc(sizeof(float) * c->n_layers * ks), *vt = kv_malloc(sizeof(float) * c->n_layers * ks);
    decode_state ds = {.k_prefix = ps.k, .v_prefix = ps.v, .prefix_layer_stride = (long)(n - 1) * ks,
                       .pos = pos, .len = len, .cap = n - 1, .k_tail = kt, .v_tail = vt, .tail_cap = 1,
                       .n_tail = 0, .position = n - 1};
    CHECK(forward_decode(e, &ds, &ids[n - 1], 1, step) == KV_OK, "decode: %s", kv_lasterr());
    double err;
    int ok = check_close_array(step, full, V, TOL_LOGIT_ATOL, TOL_LOGIT_RTOL, &err);
    CHECK(ok, "decode-step logits vs full-prefill logits: max |diff| %.3g", err);
    prefix_store_free(e, &ps);
    free(pos), free(len), free(kt), free(vt), free(full), free(step);
}

static void make_variants(variant *v, int *nv, int budget)
{
    static const char *const names[] = {"fullkv", "snapkv", "pyramidkv", "h2o", "streamingllm", "circuitkv"};
    *nv = 0;
    for (int i = 0; i < 6; i++) variant_init(&v[(*nv)++], method_find(names[i]), budget, PRESET_REFERENCE_HEAD);
    /* the other preset's knobs too (W = 8, H2O prefix, fp16 score rounding) */
    variant_init(&v[(*nv)++], method_find("snapkv"), budget, PRESET_REFERENCE_2026_01);
    variant_init(&v[(*nv)++], method_find("h2o"), budget, PRESET_REFERENCE_2026_01);
}

static void test_batched_equals_separate(engine *e, const int *ids, int n)
{
    variant v[8];
    int nv;
    make_variants(v, &nv, 80);
    gen_params gp = {.max_new_tokens = 8};
    gen_result batched[8], one;
    CHECK(engine_generate(e, ids, n, v, nv, &gp, batched, NULL) == KV_OK, "batched: %s", kv_lasterr());
    int changed = 0;
    for (int i = 0; i < nv; i++) {
        CHECK(engine_generate(e, ids, n, &v[i], 1, &gp, &one, NULL) == KV_OK, "alone: %s", kv_lasterr());
        CHECK(one.n_ids == batched[i].n_ids && !memcmp(one.ids, batched[i].ids, sizeof(int) * one.n_ids),
              "variant %s: batched decode differs from decoding it alone", v[i].method->name);
        CHECK(batched[i].ids[0] == batched[0].ids[0], "variant %s: first token %d differs from FullKV's %d",
              v[i].method->name, batched[i].ids[0], batched[0].ids[0]);
        if (i == 0) {
            CHECK(batched[i].kept_min == n && batched[i].kept_max == n, "FullKV keeps the whole prompt");
        } else if (strcmp(v[i].method->name, "pyramidkv")) {
            CHECK(batched[i].kept_min == 80 && batched[i].kept_max == 80, "%s keeps exactly the budget: %d..%d",
                  v[i].method->name, batched[i].kept_min, batched[i].kept_max);
        }
        /* The result carries the plug-in's promise, so the harness never calls the plug-in. */
        int promised = v[i].method->expected_kept ? v[i].method->expected_kept(&v[i], engine_config(e), n, 0) : -1;
        CHECK(batched[i].kept_expected == promised, "%s: kept_expected %d, the plug-in promises %d",
              v[i].method->name, batched[i].kept_expected, promised);
        CHECK(batched[i].decoded_with < i && (batched[i].decoded_with < 0 ||
                                              batched[i].kept_mean == batched[batched[i].decoded_with].kept_mean),
              "%s: decoded_with %d is an earlier variant with the same kept counts", v[i].method->name,
              batched[i].decoded_with);
        changed += batched[i].n_ids != batched[0].n_ids ||
                   memcmp(batched[i].ids, batched[0].ids, sizeof(int) * batched[0].n_ids);
        gen_result_free(&one);
    }
    CHECK(changed > 0, "a budget of 80 of %d tokens should change at least one continuation", n);
    for (int i = 0; i < nv; i++) gen_result_free(&batched[i]);
}

static void test_budget_above_prompt(engine *e, const int *ids, int n)
{
    variant v[8];
    int nv;
    make_variants(v, &nv, n + 10);
    gen_params gp = {.max_new_tokens = 8};
    gen_result r[8];
    CHECK(engine_generate(e, ids, n, v, nv, &gp, r, NULL) == KV_OK, "generate: %s", kv_lasterr());
    CHECK(r[0].decoded_with == -1, "FullKV is decoded itself (decoded_with %d)", r[0].decoded_with);
    for (int i = 1; i < nv; i++) {
        CHECK(r[i].kept_min == n && r[i].kept_max == n, "%s with budget > L keeps all %d", v[i].method->name, n);
        /* the same view as FullKV: decoded once with it, its tokens copied ... */
        CHECK(r[i].decoded_with == 0, "%s with budget > L is FullKV's twin (decoded_with %d)", v[i].method->name,
              r[i].decoded_with);
        CHECK(r[i].n_ids == r[0].n_ids && !memcmp(r[i].ids, r[0].ids, sizeof(int) * r[0].n_ids),
              "%s with budget > L must equal FullKV", v[i].method->name);
        /* ... which is what decoding it on its own gives */
        gen_result one;
        CHECK(engine_generate(e, ids, n, &v[i], 1, &gp, &one, NULL) == KV_OK, "alone: %s", kv_lasterr());
        CHECK(one.decoded_with == -1 && one.n_ids == r[i].n_ids && !memcmp(one.ids, r[i].ids, sizeof(int) * one.n_ids),
              "%s with budget > L alone differs from the twin's copied tokens", v[i].method->name);
        gen_result_free(&one);
    }
    for (int i = 0; i < nv; i++) gen_result_free(&r[i]);
}

static void test_stop_rules(engine *e, const int *ids, int n)
{
    variant v;
    variant_init(&v, method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    gen_params gp = {.max_new_tokens = 6};
    gen_result a, b;
    CHECK(engine_generate(e, ids, n, &v, 1, &gp, &a, NULL) == KV_OK, "generate: %s", kv_lasterr());
    CHECK(a.n_ids == 6 && !a.stopped, "no stop ids: exactly max_new_tokens (%d)", a.n_ids);
    /* make the first and third tokens stop ids: masked at step one, stop at step three */
    int stops[2] = {a.ids[0], a.ids[2]};
    gp.stop_ids = stops, gp.n_stop_ids = 2, gp.mask_first = 1;
    CHECK(engine_generate(e, ids, n, &v, 1, &gp, &b, NULL) == KV_OK, "generate: %s", kv_lasterr());
    CHECK(b.n_ids >= 1 && b.ids[0] != stops[0], "a stop id is masked at the first step");
    for (int i = 0; i < b.n_ids; i++) CHECK(b.ids[i] != stops[0] && b.ids[i] != stops[1], "stop ids never emitted");
    gen_result_free(&a), gen_result_free(&b);
}

/* Two prompts of different lengths decoded together equal each prompt generated on its own. */
static void test_multi_prompt_batch(engine *e, const int *ids, int n)
{
    variant v[8];
    int nv;
    make_variants(v, &nv, 72);
    const int *prompts[2] = {ids, ids + 7};
    int lens[2] = {n, n - 20};
    gen_params gp = {.max_new_tokens = 6};
    gen_result both[16], one[8];
    CHECK(engine_generate_batch(e, prompts, lens, 2, v, nv, &gp, both, NULL) == KV_OK, "batch: %s", kv_lasterr());
    for (int p = 0; p < 2; p++) {
        CHECK(engine_generate(e, prompts[p], lens[p], v, nv, &gp, one, NULL) == KV_OK, "one: %s", kv_lasterr());
        for (int i = 0; i < nv; i++) {
            gen_result *b = &both[p * nv + i];
            CHECK(b->n_ids == one[i].n_ids && !memcmp(b->ids, one[i].ids, sizeof(int) * b->n_ids),
                  "prompt %d variant %s: multi-prompt batch differs from the prompt alone", p, v[i].method->name);
            CHECK(b->kept_mean == one[i].kept_mean, "kept counts equal");
            CHECK(b->decoded_with == -1 || (b->decoded_with >= p * nv && b->decoded_with < p * nv + i),
                  "prompt %d variant %d: a twin is an earlier variant of the same prompt (%d)", p, i, b->decoded_with);
            gen_result_free(&one[i]);
        }
    }
    for (int i = 0; i < 2 * nv; i++) gen_result_free(&both[i]);
}

/* The layer memo: found for a later variant of the same method, preset and knobs whatever its budget,
 * not for other knobs or another method; a full memo hands the data back to the caller. */
static void test_layer_memo(void)
{
    layer_memo m = {0};
    struct layer_stats st = {.memo = &m};
    variant a, b, c, d;
    variant_init(&a, method_find("circuitkv"), 128, PRESET_REFERENCE_HEAD);
    variant_init(&b, method_find("circuitkv"), 2048, PRESET_REFERENCE_HEAD);
    variant_init(&c, method_find("circuitkv"), 128, PRESET_REFERENCE_HEAD);
    variant_set_knob(&c, "per_head", "1");
    variant_init(&d, method_find("snapkv"), 128, PRESET_REFERENCE_HEAD);
    int *data = malloc(sizeof(int));
    CHECK(layer_memo_find(&st, &a) == NULL && layer_memo_put(&st, &a, data) == 1, "memo: kept");
    CHECK(layer_memo_find(&st, &b) == data, "memo: another budget, same knobs: found");
    CHECK(layer_memo_find(&st, &c) == NULL, "memo: other knobs (per_head): not found");
    CHECK(layer_memo_find(&st, &d) == NULL, "memo: another method: not found");
    for (int i = 1; i < LAYER_MEMO_MAX; i++) layer_memo_put(&st, &d, malloc(1));
    int *more = malloc(sizeof(int));
    CHECK(layer_memo_put(&st, &c, more) == 0, "memo: full: the caller keeps the data");
    free(more);
    layer_memo_clear(&m);
    CHECK(m.n == 0 && layer_memo_find(&st, &b) == NULL, "memo: emptied");
    struct layer_stats none = {0};
    int local = 0;
    CHECK(layer_memo_put(&none, &a, &local) == 0 && layer_memo_find(&none, &a) == NULL, "no memo: nothing kept");
}

/* CircuitKV at several budgets in one run walks each layer's graphs once (the ranks are shared
 * through the layer memo) and keeps, per budget, exactly the positions it keeps alone; the shared
 * set and the per-head mode alike. */
static void test_circuit_budgets_share_ranks(engine *e, const int *ids, int n)
{
    variant v[6];
    const int budgets[3] = {70, 75, 80}; /* above sinks + window (4 + 64), below the prompt */
    for (int i = 0; i < 6; i++) {
        variant_init(&v[i], method_find("circuitkv"), budgets[i % 3], PRESET_REFERENCE_HEAD);
        if (i >= 3) CHECK(variant_set_knob(&v[i], "per_head", "1") == KV_OK, "per_head knob: %s", kv_lasterr());
    }
    gen_params gp = {.max_new_tokens = 4, .keep_views = 1};
    gen_result all[6], one;
    CHECK(engine_generate(e, ids, n, v, 6, &gp, all, NULL) == KV_OK, "batched: %s", kv_lasterr());
    for (int i = 0; i < 6; i++) {
        CHECK(engine_generate(e, ids, n, &v[i], 1, &gp, &one, NULL) == KV_OK, "alone: %s", kv_lasterr());
        const kv_view *a = &all[i].view, *b = &one.view;
        long rows = (long)a->n_layers * a->n_heads;
        int same = !memcmp(a->len, b->len, sizeof(int) * rows);
        for (long r = 0; same && r < rows; r++)
            same = !memcmp(a->pos + r * a->cap, b->pos + r * b->cap, sizeof(int) * a->len[r]);
        CHECK(same, "CircuitKV budget %d%s: kept positions with the other budgets = alone", budgets[i % 3],
              i >= 3 ? " per head" : "");
        CHECK(one.n_ids == all[i].n_ids && !memcmp(one.ids, all[i].ids, sizeof(int) * one.n_ids),
              "CircuitKV budget %d%s: tokens with the other budgets = alone", budgets[i % 3], i >= 3 ? " per head" : "");
        gen_result_free(&one);
    }
    CHECK(all[0].kept_mean < all[1].kept_mean && all[1].kept_mean < all[2].kept_mean,
          "budgets 70 < 75 < 80 keep more positions (%.1f, %.1f, %.1f)", all[0].kept_mean, all[1].kept_mean,
          all[2].kept_mean);
    for (int i = 0; i < 6; i++) gen_result_free(&all[i]);
}

int main(void)
{
    if (!kv_file_exists(DEMO_MODEL)) {
        fprintf(stderr, "FAIL: %s missing: run ./setup.sh\n", DEMO_MODEL);
        return 1;
    }
    engine *e;
    engine_opts o = {.backend = "cpu"};
    if (engine_open(DEMO_MODEL, &o, &e) != KV_OK) {
        fprintf(stderr, "FAIL: engine_open: %s\n", kv_lasterr());
        return 1;
    }
    int *ids, n;
    CHECK(tokenizer_encode(engine_tokenizer(e), text, strlen(text), 0, &ids, &n) == KV_OK, "encode");
    test_decode_matches_prefill(e, ids, n);
    test_batched_equals_separate(e, ids, n);
    test_budget_above_prompt(e, ids, n);
    test_stop_rules(e, ids, n);
    test_multi_prompt_batch(e, ids, n);
    test_circuit_budgets_share_ranks(e, ids, n);
    test_layer_memo();
    free(ids);
    engine_close(e);
    return check_report("test_engine");
}
