/* test_recall: attention recall (kernels/recall.h, issue 18). The CPU op and the CPU backend's
 * attention_recall against a direct double-precision computation on small random cases; exactly 1
 * for a view that keeps the whole prompt; and on the demo model with a real news prompt: FullKV's
 * recall is exactly 1, every compressed method's lies in (0, 1) and the methods' mean grows with the
 * budget, recall does not change the generated tokens, and the returned views give --json's kept
 * counts. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/engine.h"
#include "kernels/recall.h"
#include "util/util.h"
#include "tests/check.h"

/* fp32 logits (the op) against double logits (the reference): |Δlogit| ~ 1e-6 on these O(1) inputs,
 * so a probability mass differs by ~1e-6 at most. */
#define TOL_RECALL 1e-5

static unsigned rng = 12345u;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
}

/* The definition, in double: 1 − mass of the evicted prompt positions under the softmax over all
 * prompt keys and the tail. */
static double recall_ref(const float *q, const float *kp, int L, const int *pos, int np, const float *kt, int nt,
                         int ks, int off, int hd)
{
    double *s = malloc(sizeof(double) * (L + nt)), m = -INFINITY, sum = 0, dropped = 0;
    for (int j = 0; j < L + nt; j++) {
        const float *k = j < L ? kp + (long)j * ks + off : kt + (long)(j - L) * ks + off;
        double d = 0;
        for (int t = 0; t < hd; t++) d += (double)q[t] * k[t];
        s[j] = d / sqrt((double)hd);
        m = s[j] > m ? s[j] : m;
    }
    for (int j = 0; j < L + nt; j++) {
        double p = exp(s[j] - m);
        sum += p;
        int kept = 0;
        for (int k = 0; k < np; k++) kept |= pos[k] == j;
        if (j < L && !kept) dropped += p;
    }
    free(s);
    return 1.0 - dropped / sum;
}

/* One random case: B sequences of prompt length L (scaled per sequence), H/Hkv heads, random views;
 * full: every head keeps the whole prompt. */
static void random_case(const backend *be, int B, int H, int Hkv, int hd, int L, int nt, int full)
{
    const int ks = Hkv * hd;
    recall_seq *rs = calloc(B, sizeof *rs);
    float *q = malloc(sizeof(float) * B * H * hd), *out = malloc(sizeof(float) * B * H);
    float *out_be = malloc(sizeof(float) * B * H);
    for (int i = 0; i < B * H * hd; i++) q[i] = 2.0f * frand();
    for (int b = 0; b < B; b++) {
        int Lb = L + b, *pos = malloc(sizeof(int) * H * Lb), *len = calloc(H, sizeof(int));
        float *kp = malloc(sizeof(float) * Lb * ks), *kt = malloc(sizeof(float) * nt * ks);
        for (int i = 0; i < Lb * ks; i++) kp[i] = 2.0f * frand();
        for (int i = 0; i < nt * ks; i++) kt[i] = 2.0f * frand();
        for (int h = 0; h < H; h++)
            for (int j = 0; j < Lb; j++)
                if (full || frand() > (h % 2 ? 0.5f : -0.6f)) pos[h * Lb + len[h]++] = j;
        rs[b] = (recall_seq){.k_prefix = kp, .L = Lb, .pos = pos, .len = len, .cap = Lb, .k_tail = kt, .n_tail = nt};
    }
    attention_recall_cpu(out, q, rs, B, H, Hkv, hd);
    be->attention_recall(be->ctx, out_be, q, rs, B, H, Hkv, hd);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const recall_seq *r = &rs[b];
            double ref = recall_ref(q + ((long)b * H + h) * hd, r->k_prefix, r->L, r->pos + h * r->cap, r->len[h],
                                    r->k_tail, nt, ks, (h / (H / Hkv)) * hd, hd);
            float got = out[b * H + h];
            CHECK(check_close(got, ref, TOL_RECALL, 0), "L%d nt%d b%d h%d: recall %.8f, reference %.8f", r->L, nt, b,
                  h, got, ref);
            CHECK(out_be[b * H + h] == got, "backend op %.8f differs from the CPU op %.8f", out_be[b * H + h], got);
            if (full) CHECK(got == 1.0f, "whole-prompt view: recall %.9g, not exactly 1", got);
            else CHECK(got > 0.0f && got <= 1.0f, "recall %.9g outside (0, 1]", got);
        }
        free((void *)rs[b].k_prefix), free((void *)rs[b].pos), free((void *)rs[b].len), free((void *)rs[b].k_tail);
    }
    free(rs), free(q), free(out), free(out_be);
}

static void test_random(void)
{
    backend be;
    if (backend_cpu_open(1, &be) != KV_OK) {
        CHECK(0, "backend_cpu_open: %s", kv_lasterr());
        return;
    }
    static const int Ls[] = {1, 7, 40, 130}, nts[] = {1, 3, 9};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            random_case(&be, 3, 4, 2, 16, Ls[i], nts[k], 0);
            random_case(&be, 2, 6, 3, 8, Ls[i], nts[k], 1);
        }
    backend_close(&be);
}

/* The longest multi_news context of the demo data: a real news prompt (620 tokens with the demo tokenizer). */
static char *news_prompt(void)
{
    char *data = NULL, *best = NULL;
    if (kv_read_file("data/demo/multi_news.jsonl", &data, NULL) != KV_OK) return NULL;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        const char *c = o ? json_string_value(json_object_get(o, "context")) : NULL;
        if (c && (!best || strlen(c) > strlen(best))) free(best), best = kv_strdup(c);
        json_decref(o);
    }
    free(data);
    return best;
}

enum { N_METHODS = 4, N_BUDGETS = 3, NV = 2 + N_METHODS * N_BUDGETS };
static const char *const methods[N_METHODS] = {"snapkv", "pyramidkv", "h2o", "streamingllm"};
static const int budgets[N_BUDGETS] = {80, 160, 320};

static void check_recall_model(const gen_result *r, const variant *v, int n_layers)
{
    for (int i = 0; i < 2; i++) { /* FullKV and a budget above the prompt: the whole prompt is kept */
        CHECK(r[i].recall == 1.0, "%s budget %d: recall %.17g, not exactly 1", v[i].method->name, v[i].budget,
              r[i].recall);
        for (int l = 0; l < n_layers; l++) CHECK(r[i].recall_layer[l] == 1.0, "layer %d: %.17g", l, r[i].recall_layer[l]);
        CHECK(r[i].n_recall_steps == r[i].n_ids - 1, "steps %d for %d tokens", r[i].n_recall_steps, r[i].n_ids);
    }
    double prev = 0;
    for (int b = 0; b < N_BUDGETS; b++) {
        double mean = 0;
        for (int m = 0; m < N_METHODS; m++) {
            const gen_result *g = &r[2 + b * N_METHODS + m];
            CHECK(g->recall > 0 && g->recall < 1, "%s budget %d: recall %.6f not in (0, 1)", methods[m], budgets[b],
                  g->recall);
            mean += g->recall / N_METHODS;
        }
        printf("budget %d: mean recall %.4f\n", budgets[b], mean);
        CHECK(mean > prev, "budget %d: mean recall %.4f does not exceed the smaller budget's %.4f", budgets[b], mean,
              prev);
        prev = mean;
    }
}

static void test_model(void)
{
    engine *e;
    engine_opts o = {.backend = "cpu"};
    char *text = news_prompt();
    CHECK(text != NULL, "no multi_news prompt in data/demo");
    if (!text || engine_open(DEMO_MODEL, &o, &e) != KV_OK) {
        CHECK(0, "engine_open: %s", kv_lasterr());
        free(text);
        return;
    }
    int *ids, n;
    CHECK(tokenizer_encode(engine_tokenizer(e), text, strlen(text), 0, &ids, &n) == KV_OK, "encode");
    variant v[NV];
    variant_init(&v[0], method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    variant_init(&v[1], method_find("snapkv"), n + 10, PRESET_REFERENCE_HEAD);
    for (int b = 0; b < N_BUDGETS; b++)
        for (int m = 0; m < N_METHODS; m++)
            variant_init(&v[2 + b * N_METHODS + m], method_find(methods[m]), budgets[b], PRESET_REFERENCE_HEAD);
    gen_params gp = {.max_new_tokens = 6, .attention_recall = 1, .keep_views = 1};
    gen_result on[NV], off[NV];
    CHECK(engine_generate(e, ids, n, v, NV, &gp, on, NULL) == KV_OK, "generate: %s", kv_lasterr());
    gp.attention_recall = 0, gp.keep_views = 0;
    CHECK(engine_generate(e, ids, n, v, NV, &gp, off, NULL) == KV_OK, "generate: %s", kv_lasterr());
    if (check_failed) {
        free(ids), free(text), engine_close(e);
        return;
    }
    printf("prompt: %d tokens\n", n);
    check_recall_model(on, v, engine_config(e)->n_layers);
    for (int i = 0; i < NV; i++) {
        CHECK(on[i].n_ids == off[i].n_ids && !memcmp(on[i].ids, off[i].ids, sizeof(int) * on[i].n_ids),
              "variant %d: recall changed the generated tokens", i);
        CHECK(isnan(off[i].recall) && !off[i].recall_layer && !off[i].view.len, "variant %d: recall or view when off", i);
        CHECK(on[i].view.len && kv_view_mean_kept(&on[i].view) == on[i].kept_mean, "variant %d: view's kept mean", i);
        gen_result_free(&on[i]), gen_result_free(&off[i]);
    }
    free(ids), free(text);
    engine_close(e);
}

int main(void)
{
    test_random();
    test_model();
    return check_report("test_recall");
}
