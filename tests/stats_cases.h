/* stats_cases: the variants and inputs shared by the tests of the backend statistics path
 * (tests/test_stats_backend.c on the CPU, tests/cuda/test_cuda_stats.c on a GPU): one variant of
 * each method that reads statistics, with every H2O mode in fp32 and fp16 and the fp16 window
 * rows of the reference-2026-01 preset, and a layer's q, k, lse made by the CPU prefill attention
 * (so the H2O causal mode reads a real log-sum-exp). Static functions: each test includes it once. */
#ifndef KV_TESTS_STATS_CASES_H
#define KV_TESTS_STATS_CASES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/compress.h"
#include "engine/kvview.h"
#include "engine/layer_stats.h"
#include "engine/method.h"
#include "util/util.h"
#include "kernels/attention.h"

/* 12 query / 6 KV heads tile over 2, 3 or 6 ranks; L well above every budget, so all evict. */
#define SC_LAYERS 2
#define SC_H 12
#define SC_HKV 6
#define SC_HD 64
#define SC_L 240
#define SC_MAX_VARIANTS 16
#define SC_LOGIT_SCALE 2.5f /* q, k entries in ±SC_LOGIT_SCALE/sqrt(hd): peaked attention rows */

static unsigned sc_rng = 2024u;
static float sc_frand(void) /* uniform in [-1, 1) */
{
    sc_rng = sc_rng * 1664525u + 1013904223u;
    return (float)((sc_rng >> 8) * (1.0 / 8388608.0)) - 1.0f;
}

static model_config sc_cfg(void)
{
    model_config c;
    memset(&c, 0, sizeof c);
    c.n_layers = SC_LAYERS;
    c.n_heads = SC_H;
    c.n_kv_heads = SC_HKV;
    c.head_dim = SC_HD;
    c.dim = SC_H * SC_HD;
    return c;
}

/* knobs: "name=value,name=value" (or NULL). */
static variant sc_variant(const char *method, int budget, kv_preset preset, const char *knobs)
{
    variant v;
    variant_init(&v, method_find(method), budget, preset);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", knobs ? knobs : "");
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) exit(1);
        *eq = 0;
        if (variant_set_knob(&v, kv, eq + 1) != KV_OK) {
            fprintf(stderr, "stats_cases: knob of %s: %s\n", method, kv_lasterr());
            exit(1);
        }
    }
    return v;
}

/* The variants; returns their count. fp16_out[i]: variant i reads fp16-emulated statistics. */
static int sc_variants(variant *vs, int *fp16_out)
{
    int n = 0;
    const char *modes[] = {"causal", "prefix", "upstream"};
    char knobs[128];
    vs[n++] = sc_variant("snapkv", 64, PRESET_REFERENCE_HEAD, "window=16,kernel=5");
    vs[n++] = sc_variant("snapkv", 48, PRESET_REFERENCE_2026_01, NULL); /* fp16 rows, window 8 */
    vs[n++] = sc_variant("pyramidkv", 64, PRESET_REFERENCE_HEAD, "window=8,beta=4");
    for (int m = 0; m < 3; m++)
        for (int fp16 = 0; fp16 < 2; fp16++) {
            snprintf(knobs, sizeof knobs, "window=%d,mode=%s,fp16=%d", 8 + 4 * fp16, modes[m], fp16);
            vs[n++] = sc_variant("h2o", 64, PRESET_REFERENCE_HEAD, knobs);
        }
    vs[n++] = sc_variant("circuitkv", 96, PRESET_REFERENCE_HEAD, "window=32");
    vs[n++] = sc_variant("circuitkv", 80, PRESET_REFERENCE_2026_01, "window=24"); /* fp16 logits, fp32 rows */
    vs[n++] = sc_variant("circuitkv", 72, PRESET_REFERENCE_HEAD, "window=16,per_head=1");
    vs[n++] = sc_variant("streamingllm", 40, PRESET_REFERENCE_HEAD, NULL);
    for (int i = 0; i < n; i++) {
        double f = variant_knob(&vs[i], "fp16");
        fp16_out[i] = f == f && f == 1;
    }
    return n;
}

/* One layer's post-RoPE-like q (L, H*hd), k (L, Hkv*hd) and the causal lse (H, L) of the CPU
 * prefill attention over them. Random entries plus a salience per (key, KV head): dimension 0 of
 * every query is 8 = sqrt(hd) and of key j SC_SALIENCE * (a permutation of 0..L-1) / L, so the
 * logits get a spread of SC_SALIENCE with distinct steps between keys. The scores the methods rank
 * then have gaps well above a few float ulps (the CUDA test needs selections that do not hinge on
 * summation order). The caller frees the three arrays. */
#define SC_SALIENCE 4.0f
static void sc_layer_inputs(float **q, float **k, float **lse)
{
    const long nq = (long)SC_L * SC_H * SC_HD, nk = (long)SC_L * SC_HKV * SC_HD;
    const float a = SC_LOGIT_SCALE / 8.0f; /* 8 = sqrt(SC_HD) */
    *q = kv_malloc(sizeof(float) * nq);
    *k = kv_malloc(sizeof(float) * nk);
    *lse = kv_malloc(sizeof(float) * SC_H * SC_L);
    float *v = kv_malloc(sizeof(float) * nk), *out = kv_malloc(sizeof(float) * nq);
    int perm[SC_L];
    for (long i = 0; i < nq; i++) (*q)[i] = a * sc_frand();
    for (long i = 0; i < nk; i++) (*k)[i] = a * sc_frand(), v[i] = sc_frand();
    for (int i = 0; i < SC_L; i++)
        for (int h = 0; h < SC_H; h++) (*q)[((long)i * SC_H + h) * SC_HD] = 8.0f;
    for (int g = 0; g < SC_HKV; g++) {
        for (int j = 0; j < SC_L; j++) perm[j] = j;
        for (int j = SC_L - 1; j > 0; j--) { /* Fisher-Yates */
            int t = (int)((sc_frand() * 0.5f + 0.5f) * (float)(j + 1)) % (j + 1), x = perm[j];
            perm[j] = perm[t], perm[t] = x;
        }
        for (int j = 0; j < SC_L; j++) (*k)[((long)j * SC_HKV + g) * SC_HD] = SC_SALIENCE * (float)perm[j] / SC_L;
    }
    attention_prefill_cpu(out, *lse, *q, *k, v, SC_L, SC_H, SC_HKV, SC_HD);
    free(v);
    free(out);
}

/* Every row (layer, head) of the two views equal; counts the differing rows. */
static int sc_rows_differing(const kv_view *a, const kv_view *b)
{
    int bad = 0;
    for (int l = 0; l < a->n_layers; l++)
        for (int h = 0; h < a->n_heads; h++) {
            int n = a->len[l * a->n_heads + h];
            if (n != b->len[l * b->n_heads + h] ||
                memcmp(kv_view_row(a, l, h), kv_view_row(b, l, h), sizeof(int) * (size_t)n))
                bad++;
        }
    return bad;
}

#endif
