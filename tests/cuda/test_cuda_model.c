/* test_cuda_model: the whole model on the CUDA backend against the CPU backend on the demo model
 * (SmolLM2-135M-Instruct Q4_1): last-position prefill logits, and the greedy tokens of FullKV and
 * every compression method decoded as one batch. With fp32 weights on the device
 * (KVBENCH_CUDA_WEIGHTS=fp32) the two backends differ only in summation order, so the logits must
 * agree tightly and the greedy tokens exactly; with the default bf16 weights the logits must stay
 * within a named fraction of their range and the CUDA top-1 within the CPU's top 5. Decode steps
 * run as CUDA graphs (captured once per batch composition, then replayed): the same generation
 * with KVBENCH_CUDA_GRAPHS=0 must give the same tokens, and a stop token that ends variants at
 * different steps (new compositions, new captures) must end them exactly where the CPU does.
 * The model: KVBENCH_TEST_MODEL (a .gguf or HF folder), else the demo model when models/ has it,
 * else seeded random weights of the demo model's shape (`--random smollm2-135m`, what the device
 * bundle uses: no model file travels) with a seeded prompt of token ids instead of the story. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/method.h"
#include "engine/tokenizer.h"
#include "util/util.h"
#include "kernels/argmax.h"
#include "tests/check.h"

#define DEMO_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define LOGIT_F32_ATOL 2e-3
#define LOGIT_F32_RTOL 1e-3
#define LOGIT_BF16_RANGE_FRAC 0.05 /* max |Δ logit| as a fraction of the CPU logits' max - min */
#define BF16_TOP_N 5
#define GEN_TOKENS 24
#define BUDGET 128

static const char *PROMPT_TEXT =
    "The lighthouse keeper wrote in his log every evening. On the first day of winter he noted that the "
    "supply boat was late, that the lamp needed new wicks, and that a gull with a broken wing had taken "
    "shelter on the gallery. On the second day the boat still had not come; he rationed the oil and "
    "read the almanac twice. On the third day a storm arrived from the north-east, and the waves rose "
    "higher than the rocks at the foot of the tower. He kept the lamp burning all night. On the fourth "
    "day the sea was calm, the boat arrived with oil, flour, letters and a new set of wicks, and the "
    "gull flew away towards the mainland. Question: what arrived on the fourth day, and what did the "
    "keeper do during the storm? Answer:";

#define RANDOM_SHAPE "smollm2-135m"
#define RANDOM_PROMPT_TOKENS 330 /* about the story twice */

/* The model every engine of this test opens: a path, or NULL with random weights */
static const char *model_path;

static const char *METHODS[] = {"fullkv", "snapkv", "pyramidkv", "h2o", "streamingllm", "circuitkv"};
#define N_METHODS 6

static int open_engine(const char *backend, const char *weights, engine **e)
{
    if (weights) setenv("KVBENCH_CUDA_WEIGHTS", weights, 1);
    else unsetenv("KVBENCH_CUDA_WEIGHTS");
    /* the CPU side is the fp32 oracle */
    engine_opts o = {.backend = backend, .random_shape = model_path ? NULL : RANDOM_SHAPE, .weights = MODEL_WEIGHTS_F32};
    int st = engine_open(model_path, &o, e);
    unsetenv("KVBENCH_CUDA_WEIGHTS");
    return st;
}

static int generate_stop(engine *e, const int *ids, int L, const variant *vars, int stop, gen_result *out)
{
    gen_params gp = {.max_new_tokens = GEN_TOKENS};
    if (stop >= 0) gp.stop_ids = &stop, gp.n_stop_ids = 1;
    return engine_generate(e, ids, L, vars, N_METHODS, &gp, out, NULL);
}

/* no stop ids: every variant decodes GEN_TOKENS steps, so the comparison covers them all */
static int generate(engine *e, const int *ids, int L, const variant *vars, gen_result *out)
{
    return generate_stop(e, ids, L, vars, -1, out);
}

static int same_tokens(const gen_result *a, const gen_result *b)
{
    return a->n_ids == b->n_ids && a->stopped == b->stopped && !memcmp(a->ids, b->ids, sizeof(int) * a->n_ids);
}

/* A stop token that ends variants mid-way: one some variant emits at step 2 or later (FullKV's
 * step L/3 first) and none emits at steps 0-1, so every variant decodes at least one graph step
 * (random weights repeat tokens: FullKV's step L/3 may be its first token too). -1: none. */
static int pick_stop(const gen_result *rc)
{
    for (int pass = 0; pass < 2; pass++)
        for (int m = 0; m < N_METHODS; m++)
            for (int t = pass ? 2 : GEN_TOKENS / 3; t < rc[m].n_ids; t++) {
                int tok = rc[m].ids[t], early = 0;
                for (int v = 0; v < N_METHODS; v++)
                    for (int u = 0; u < 2 && u < rc[v].n_ids; u++) early |= rc[v].ids[u] == tok;
                if (!early) return tok;
            }
    return -1;
}

/* The fp32 CUDA engine with graphs (g32) against the same without graphs and against the CPU with a
 * stop token that ends the variants at different steps. */
static void check_graphs(engine *cpu, engine *g32, const int *ids, int L, const variant *vars, const gen_result *r32,
                         const gen_result *rc)
{
    long cap0, rep0, cap1, rep1;
    engine_graph_counts(g32, &cap0, &rep0);
    CHECK(cap0 >= 1 && rep0 >= GEN_TOKENS - 3, "decode ran as graphs: %ld captures, %ld replays after one "
          "%d-token batch", cap0, rep0, GEN_TOKENS);
    setenv("KVBENCH_CUDA_GRAPHS", "0", 1);
    engine *eager = NULL;
    int st = open_engine("cuda", "fp32", &eager); /* the weights g32 has */
    unsetenv("KVBENCH_CUDA_GRAPHS");
    CHECK(st == KV_OK, "open cuda fp32 without graphs: %s", kv_lasterr());
    if (st != KV_OK) return;
    gen_result re[N_METHODS];
    CHECK(generate(eager, ids, L, vars, re) == KV_OK, "cuda generate without graphs: %s", kv_lasterr());
    long ce, rpe;
    engine_graph_counts(eager, &ce, &rpe);
    CHECK(ce == 0 && rpe == 0, "KVBENCH_CUDA_GRAPHS=0: no graphs (%ld captures, %ld replays)", ce, rpe);
    for (int m = 0; m < N_METHODS; m++) {
        CHECK(same_tokens(&re[m], &r32[m]), "%s: tokens with graphs equal tokens without", METHODS[m]);
        gen_result_free(&re[m]);
    }
    engine_close(eager);
    /* a token emitted mid-way as the stop token: variants end at different steps */
    int stop = pick_stop(rc);
    CHECK(stop >= 0, "a stop token emitted after step 1 and never at steps 0-1");
    if (stop < 0) return;
    gen_result sc[N_METHODS], sg[N_METHODS];
    int ok_c = generate_stop(cpu, ids, L, vars, stop, sc) == KV_OK, ok_g = generate_stop(g32, ids, L, vars, stop, sg) == KV_OK;
    CHECK(ok_c && ok_g, "generate with stop token %d: %s", stop, kv_lasterr());
    if (!ok_c || !ok_g) return;
    engine_graph_counts(g32, &cap1, &rep1);
    int lengths_differ = 0;
    for (int m = 0; m < N_METHODS; m++) {
        CHECK(same_tokens(&sc[m], &sg[m]), "%s with stop token %d: cuda (graphs) stops where cpu does (%d vs %d "
              "tokens)", METHODS[m], stop, sg[m].n_ids, sc[m].n_ids);
        lengths_differ |= sc[m].n_ids != sc[0].n_ids;
    }
    printf("test_cuda_model: stop token %d: %ld captures, %ld replays; variants %s\n", stop, cap1 - cap0,
           rep1 - rep0, lengths_differ ? "ended at different steps" : "all ended together");
    CHECK(cap1 - cap0 >= 1, "the stop-token run recorded its own graphs");
    for (int m = 0; m < N_METHODS; m++) gen_result_free(&sc[m]), gen_result_free(&sg[m]);
}

int main(void)
{
    engine *cpu = NULL, *g32 = NULL, *g16 = NULL;
    model_path = getenv("KVBENCH_TEST_MODEL");
    if (!model_path && kv_file_exists(DEMO_MODEL)) model_path = DEMO_MODEL;
    if (model_path && !kv_file_exists(model_path) && !kv_is_dir(model_path)) {
        printf("test_cuda_model: KVBENCH_TEST_MODEL %s not found\n", model_path);
        return 1;
    }
    printf("test_cuda_model: model %s\n", model_path ? model_path : "random:" RANDOM_SHAPE " (seeded)");
    if (open_engine("cuda", "fp32", &g32) != KV_OK) {
        printf("test_cuda_model: skipped, no CUDA device (%s)\n", kv_lasterr());
        return 0;
    }
    CHECK(open_engine("cpu", NULL, &cpu) == KV_OK, "open cpu: %s", kv_lasterr());
    CHECK(open_engine("cuda", "bf16", &g16) == KV_OK, "open cuda bf16: %s", kv_lasterr());
    if (!cpu || !g16) return check_report("test_cuda_model");
    CHECK(!strcmp(engine_backend_name(g32), "cuda") && !strcmp(engine_backend_name(cpu), "cpu"),
          "backend names %s / %s", engine_backend_name(g32), engine_backend_name(cpu));

    /* the story twice: ~330 tokens, well above the budget, so every method really evicts */
    const int V = engine_config(cpu)->vocab_size;
    int *ids = NULL, L = 0;
    if (engine_tokenizer(cpu)) {
        char text[4096];
        snprintf(text, sizeof text, "%s %s", PROMPT_TEXT, PROMPT_TEXT);
        const tokenizer *tok = engine_tokenizer(cpu);
        CHECK(tokenizer_encode(tok, text, strlen(text), tokenizer_add_bos(tok), &ids, &L) == KV_OK, "tokenize: %s",
              kv_lasterr());
    } else { /* random weights have no tokenizer: seeded ids (a 64-bit LCG) */
        L = RANDOM_PROMPT_TOKENS;
        ids = kv_malloc(sizeof(int) * L);
        unsigned long long x = 13;
        for (int i = 0; i < L; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            ids[i] = (int)((x >> 33) % (unsigned long long)V);
        }
    }
    printf("test_cuda_model: prompt %d tokens, vocab %d, budget %d, %d new tokens\n", L, V, BUDGET, GEN_TOKENS);

    /* prefill logits */
    float *ref = kv_malloc(sizeof(float) * V), *got = kv_malloc(sizeof(float) * V);
    CHECK(engine_prefill_logits(cpu, ids, L, ref) == KV_OK, "cpu prefill: %s", kv_lasterr());
    CHECK(engine_prefill_logits(g32, ids, L, got) == KV_OK, "cuda fp32 prefill: %s", kv_lasterr());
    double err;
    int ok = check_close_array(got, ref, V, LOGIT_F32_ATOL, LOGIT_F32_RTOL, &err);
    CHECK(ok, "prefill logits cuda fp32 vs cpu: max |err| %.3g", err);
    printf("test_cuda_model: prefill logits fp32 max |err| %.3g\n", err);
    CHECK(engine_prefill_logits(g16, ids, L, got) == KV_OK, "cuda bf16 prefill: %s", kv_lasterr());
    float lo = ref[0], hi = ref[0];
    for (int i = 0; i < V; i++) lo = ref[i] < lo ? ref[i] : lo, hi = ref[i] > hi ? ref[i] : hi;
    check_close_array(got, ref, V, 0, 0, &err);
    CHECK(err <= LOGIT_BF16_RANGE_FRAC * (hi - lo), "prefill logits cuda bf16: max |err| %.3g > %.2f x range %.3g",
          err, LOGIT_BF16_RANGE_FRAC, hi - lo);
    int top_g;
    argmax_cpu(&top_g, got, 1, V);
    int rank = 0;
    for (int i = 0; i < V; i++) rank += ref[i] > ref[top_g];
    CHECK(rank < BF16_TOP_N, "cuda bf16 top-1 token %d is the CPU's #%d", top_g, rank + 1);
    printf("test_cuda_model: prefill logits bf16 max |err| %.3g (range %.3g), top-1 is the CPU's #%d\n", err,
           hi - lo, rank + 1);

    /* greedy generation of every method as one batch */
    variant vars[N_METHODS];
    for (int m = 0; m < N_METHODS; m++) {
        const method_desc *d = method_find(METHODS[m]);
        CHECK(d != NULL, "method %s registered", METHODS[m]);
        if (!d) return check_report("test_cuda_model");
        variant_init(&vars[m], d, BUDGET, PRESET_REFERENCE_HEAD);
    }
    gen_result rc[N_METHODS], r32[N_METHODS], r16[N_METHODS];
    int st_c = generate(cpu, ids, L, vars, rc);
    CHECK(st_c == KV_OK, "cpu generate: %s", kv_lasterr());
    int st_32 = generate(g32, ids, L, vars, r32);
    CHECK(st_32 == KV_OK, "cuda fp32 generate: %s", kv_lasterr());
    int st_16 = generate(g16, ids, L, vars, r16);
    CHECK(st_16 == KV_OK, "cuda bf16 generate: %s", kv_lasterr());
    if (st_c == KV_OK && st_32 == KV_OK && st_16 == KV_OK) {
        for (int m = 0; m < N_METHODS; m++) {
            int same = rc[m].n_ids == r32[m].n_ids && !memcmp(rc[m].ids, r32[m].ids, sizeof(int) * rc[m].n_ids);
            CHECK(same, "%s: cuda fp32 greedy tokens differ from cpu (%d vs %d tokens)", METHODS[m], r32[m].n_ids,
                  rc[m].n_ids);
            CHECK(rc[m].kept_mean == r32[m].kept_mean, "%s: kept mean %.3f (cuda fp32) vs %.3f (cpu)", METHODS[m],
                  r32[m].kept_mean, rc[m].kept_mean);
            int agree = 0;
            while (agree < rc[m].n_ids && agree < r16[m].n_ids && rc[m].ids[agree] == r16[m].ids[agree]) agree++;
            printf("test_cuda_model: %-12s cpu %d tokens, cuda fp32 %s, cuda bf16 agrees on the first %d\n",
                   METHODS[m], rc[m].n_ids, same ? "identical" : "DIFFERENT", agree);
        }
    }
    if (st_c == KV_OK && st_32 == KV_OK) check_graphs(cpu, g32, ids, L, vars, r32, rc);
    if (st_c == KV_OK) for (int m = 0; m < N_METHODS; m++) gen_result_free(&rc[m]);
    if (st_32 == KV_OK) for (int m = 0; m < N_METHODS; m++) gen_result_free(&r32[m]);
    if (st_16 == KV_OK) for (int m = 0; m < N_METHODS; m++) gen_result_free(&r16[m]);
    free(ids), free(ref), free(got);
    engine_close(cpu), engine_close(g32), engine_close(g16);
    return check_report("test_cuda_model");
}
