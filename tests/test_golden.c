/* test_golden: the demo model's forward pass against Hugging Face transformers (fp32, same GGUF;
 * tests/data/smollm2_golden.json + smollm2_logits.f32 from tools/golden_smollm2.py): our tokenizer
 * gives transformers' ids, last-position logits agree within a named tolerance, and greedy decoding
 * through our KV cache reproduces transformers' 40 tokens. Twice: with the weights in fp32 (the
 * oracle path, BLAS) and as stored (Q4_1 blocks through the fused dequantize-dot kernels; the same
 * dequantized values, so the same tolerance holds). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "util/util.h"
#include "tests/check.h"

#define GOLDEN_JSON "tests/data/smollm2_golden.json"
#define GOLDEN_LOGITS "tests/data/smollm2_logits.f32"
/* Both sides compute in fp32 from the same dequantized weights; only summation order differs
 * (BLAS vs torch kernels, 30 layers deep). Logits are O(10–30). */
#define TOL_GOLDEN_LOGIT_ATOL 5e-4
#define TOL_GOLDEN_LOGIT_RTOL 0
#define MIN_GREEDY_MATCH 32

static void golden_run(int wformat, json_t *g, const char *raw, size_t raw_len)
{
    engine *e;
    engine_opts o = {.backend = "cpu", .weights = wformat};
    const char *fmt = model_wformat_name(wformat);
    if (engine_open(DEMO_MODEL, &o, &e) != KV_OK) {
        CHECK(0, "engine_open: %s (run ./setup.sh)", kv_lasterr());
        return;
    }
    int V = (int)json_integer_value(json_object_get(g, "vocab_size"));
    CHECK(V == engine_config(e)->vocab_size, "vocab %d vs golden %d", engine_config(e)->vocab_size, V);
    const float *ref_logits = (const float *)raw;
    json_t *prompts = json_object_get(g, "prompts");
    int n_greedy_prompts = 0;
    for (size_t p = 0; p < json_array_size(prompts); p++) {
        json_t *pr = json_array_get(prompts, p);
        const char *name = json_string_value(json_object_get(pr, "name"));
        const char *text = json_string_value(json_object_get(pr, "text"));
        json_t *jids = json_object_get(pr, "ids"), *jg = json_object_get(pr, "greedy");
        int n = (int)json_array_size(jids);
        int *ids = kv_malloc(sizeof(int) * n);
        for (int i = 0; i < n; i++) ids[i] = (int)json_integer_value(json_array_get(jids, i));

        int *ours = NULL, n_ours = 0;
        CHECK(tokenizer_encode(engine_tokenizer(e), text, strlen(text), 0, &ours, &n_ours) == KV_OK, "encode");
        CHECK(n_ours == n && !memcmp(ours, ids, sizeof(int) * n), "%s: our token ids differ from transformers'",
              name);
        free(ours);

        long k = json_integer_value(json_object_get(pr, "logits_index"));
        CHECK((size_t)(k + 1) * V * sizeof(float) <= raw_len, "logits index inside the golden file");
        float *logits = kv_malloc(sizeof(float) * V);
        CHECK(engine_prefill_logits(e, ids, n, logits) == KV_OK, "prefill: %s", kv_lasterr());
        double err;
        int ok = check_close_array(logits, ref_logits + k * V, V, TOL_GOLDEN_LOGIT_ATOL, TOL_GOLDEN_LOGIT_RTOL, &err);
        CHECK(ok, "%s, %s weights (%d tokens): last-position logits max |diff| %.3g vs transformers", name, fmt, n,
              err);
        printf("ok %s, %s weights: %d tokens, logits max |diff| %.3g\n", name, fmt, n, err);

        variant v;
        variant_init(&v, method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
        int n_ref = (int)json_array_size(jg);
        gen_params gp = {.max_new_tokens = n_ref};
        gen_result r;
        CHECK(engine_generate(e, ids, n, &v, 1, &gp, &r, NULL) == KV_OK, "generate: %s", kv_lasterr());
        int same = 0;
        while (same < r.n_ids && same < n_ref && r.ids[same] == json_integer_value(json_array_get(jg, same))) same++;
        CHECK(same >= MIN_GREEDY_MATCH, "%s, %s weights: greedy tokens match transformers for %d steps (need %d)",
              name, fmt, same, MIN_GREEDY_MATCH);
        printf("ok %s, %s weights: greedy identical for %d of %d steps\n", name, fmt, same, n_ref);
        n_greedy_prompts += same >= MIN_GREEDY_MATCH;
        gen_result_free(&r);
        free(logits);
        free(ids);
    }
    CHECK(n_greedy_prompts >= 3, "at least 3 prompts with %d identical greedy steps (got %d)", MIN_GREEDY_MATCH,
          n_greedy_prompts);
    engine_close(e);
}

int main(void)
{
    json_error_t jerr;
    json_t *g = json_load_file(GOLDEN_JSON, 0, &jerr);
    if (!g) {
        fprintf(stderr, "FAIL: %s:%d: %s\n", GOLDEN_JSON, jerr.line, jerr.text);
        return 1;
    }
    char *raw;
    size_t raw_len;
    if (kv_read_file(GOLDEN_LOGITS, &raw, &raw_len) != KV_OK) {
        fprintf(stderr, "FAIL: %s\n", kv_lasterr());
        return 1;
    }
    golden_run(MODEL_WEIGHTS_F32, g, raw, raw_len);
    golden_run(MODEL_WEIGHTS_AS_STORED, g, raw, raw_len);
    free(raw);
    json_decref(g);
    return check_report("test_golden");
}
