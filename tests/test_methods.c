/* test_methods: the compression plug-ins and compress.c on tiny cases — hand-crafted attention
 * whose selections are known, naive O(L²) double references for the statistics, the PyramidKV
 * schedule numbers, the invariant checker against deliberately wrong plug-ins, and attention over
 * a view against attention over a physically compacted cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/compress.h"
#include "engine/layer_stats.h"
#include "engine/method.h"
#include "util/util.h"
#include "kernels/attention.h"
#include "kernels/decode_attention.h"
#include "kernels/scoring.h"
#include "tests/check.h"
#include "tests/methods_util.h"

/* Tolerances: fp32 statistics against double references. */
#define PROB_ATOL 1e-6
#define PROB_RTOL 1e-4
#define COLSUM_RTOL 1e-4
#define ATTN_ATOL 1e-6
#define ATTN_RTOL 1e-5

/* ---- naive references (double) ---- */

/* logit of query i, head h against key j */
static double naive_logit(const float *q, const float *k, int H, int Hkv, int hd, int h, int i, int j)
{
    const float *qi = q + (long)i * H * hd + h * hd, *kj = k + (long)j * Hkv * hd + (h / (H / Hkv)) * hd;
    double d = 0;
    for (int t = 0; t < hd; t++) d += (double)qi[t] * kj[t];
    return d / sqrt((double)hd);
}

/* P[i, j] for visible keys j < n_vis of query i (softmax over j < n_vis), 0 otherwise. */
static double naive_prob(const float *q, const float *k, int H, int Hkv, int hd, int h, int i, int j, int n_vis)
{
    if (j >= n_vis) return 0;
    double m = -INFINITY, s = 0;
    for (int t = 0; t < n_vis; t++) m = fmax(m, naive_logit(q, k, H, Hkv, hd, h, i, t));
    for (int t = 0; t < n_vis; t++) s += exp(naive_logit(q, k, H, Hkv, hd, h, i, t) - m);
    return exp(naive_logit(q, k, H, Hkv, hd, h, i, j) - m) / s;
}

/* The keys query i sees in an H2O mode. */
static int h2o_visible(int mode, int i, int L, int W)
{
    if (mode == H2O_PREFIX) return L - W;
    if (mode == H2O_UPSTREAM) return i < L - W ? L : i + 1;
    return i + 1;
}

/* ---- tests ---- */

static void test_registry_and_knobs(void)
{
    static const char *order[] = {"fullkv", "snapkv",  "pyramidkv", "h2o",     "streamingllm",       "circuitkv",
                                  "random", "knorm",   "tova",      "keydiff", "expected_attention", "adakv"};
    int n = 0;
    while (method_registry[n]) n++;
    CHECK(n == 12, "registry has %d methods", n);
    for (int i = 0; i < 12 && i < n; i++)
        CHECK(!strcmp(method_registry[i]->name, order[i]), "registry[%d] = %s, want %s", i, method_registry[i]->name,
              order[i]);
    CHECK(method_find("SnapKV") == method_find("snapkv") && method_find("snapkv"), "find by display name");
    CHECK(method_find("nosuch") == NULL, "unknown method");
    kv_preset p;
    CHECK(preset_parse("reference-2026-01", &p) == KV_OK && p == PRESET_REFERENCE_2026_01, "preset 2026");
    CHECK(preset_parse("reference-head", &p) == KV_OK && p == PRESET_REFERENCE_HEAD, "preset head");
    CHECK(preset_parse("bogus", &p) == KV_ERR && strstr(kv_lasterr(), "reference-head"), "bad preset: %s",
          kv_lasterr());
    CHECK(!strcmp(preset_name(PRESET_REFERENCE_2026_01), "reference-2026-01"), "preset name");

    variant v = make_variant("snapkv", 128, PRESET_REFERENCE_2026_01);
    CHECK(variant_knob(&v, "window") == 8 && variant_knob(&v, "kernel") == 7 && variant_knob(&v, "fp16") == 1,
          "2026 SnapKV defaults");
    v = make_variant("snapkv", 128, PRESET_REFERENCE_HEAD);
    CHECK(variant_knob(&v, "window") == 64 && variant_knob(&v, "fp16") == 0, "head SnapKV defaults");
    v = make_variant("h2o", 128, PRESET_REFERENCE_2026_01);
    CHECK(variant_knob(&v, "mode") == H2O_PREFIX && variant_knob(&v, "window") == 8, "2026 H2O prefix W=8");
    v = make_variant("h2o", 128, PRESET_REFERENCE_HEAD);
    CHECK(variant_knob(&v, "mode") == H2O_CAUSAL && variant_knob(&v, "window") == 64, "head H2O causal W=64");
    v = make_variant("circuitkv", 1024, PRESET_REFERENCE_HEAD);
    CHECK(variant_knob(&v, "window") == 64 && variant_knob(&v, "sinks") == 4 && variant_knob(&v, "n_qi_heads") == 10 &&
              variant_knob(&v, "neumann_k") == 10 && variant_knob(&v, "sink_weight") == 0.01,
          "CircuitKV defaults");
    CHECK(isnan(variant_knob(&v, "kernel")), "absent knob is NaN");

    v = make_variant("pyramidkv", 128, PRESET_REFERENCE_HEAD);
    CHECK(variant_set_knob(&v, "pooling", "avg") == KV_OK && variant_knob(&v, "pooling") == 1, "set pooling avg");
    CHECK(variant_set_knob(&v, "pooling", "median") == KV_ERR && strstr(kv_lasterr(), "pooling") &&
              strstr(kv_lasterr(), "max|avg"),
          "bad enum: %s", kv_lasterr());
    CHECK(variant_set_knob(&v, "beta", "12") == KV_OK && variant_knob(&v, "beta") == 12, "set beta");
    CHECK(variant_set_knob(&v, "beta", "12x") == KV_ERR && strstr(kv_lasterr(), "beta"), "bad number: %s",
          kv_lasterr());
    CHECK(variant_set_knob(&v, "bogus", "1") == KV_ERR && strstr(kv_lasterr(), "bogus") &&
              strstr(kv_lasterr(), "window"),
          "unknown knob: %s", kv_lasterr());
    CHECK(variant_set_knob(&v, "budget", "256") == KV_OK && v.budget == 256, "budget knob");
    variant c = make_variant("circuitkv", 1024, PRESET_REFERENCE_HEAD);
    CHECK(variant_set_knob(&c, "per_head", "true") == KV_OK && variant_knob(&c, "per_head") == 1, "per_head true");

    char buf[1024];
    v = make_variant("h2o", 512, PRESET_REFERENCE_2026_01);
    variant_describe(&v, buf, sizeof buf);
    CHECK(!strcmp(buf, "H2O(budget=512,window=8,mode=prefix,fp16=1)"), "describe: %s", buf);
    variant_describe(&c, buf, sizeof buf);
    CHECK(strstr(buf, "CircuitKV(budget=1024,window=64,sinks=4,") == buf && strstr(buf, ",sink_weight=0.01,") &&
              strstr(buf, ",mass_threshold=0.5,") && strstr(buf, ",per_head=1,fp16_logits=0)"),
          "describe CircuitKV: %s", buf);
    for (int i = 0; i < c.method->n_knobs; i++)
        CHECK(strstr(buf, c.method->knobs[i].name) != NULL, "describe names %s: %s", c.method->knobs[i].name, buf);

    /* check(): budget must exceed the window / sinks + window */
    model_config cfg = tiny_cfg(2, 4, 2, 8);
    v = make_variant("snapkv", 8, PRESET_REFERENCE_2026_01);
    CHECK(v.method->check(&v, &cfg) == KV_ERR && strstr(kv_lasterr(), "window"), "SnapKV C <= W: %s", kv_lasterr());
    c = make_variant("circuitkv", 68, PRESET_REFERENCE_HEAD);
    CHECK(c.method->check(&c, &cfg) == KV_ERR && strstr(kv_lasterr(), "sinks"), "CircuitKV C <= s+W: %s",
          kv_lasterr());
    c.budget = 69;
    CHECK(c.method->check(&c, &cfg) == KV_OK, "CircuitKV C = s+W+1 accepted");
}

/* The array forms (F16C where the CPU has it) equal the scalar definition bit for bit: every
 * float whose top 16 bits take each of the 65536 values, with low bits that make exact ties, near
 * ties and plain values, through multipliers and divisors that push results into overflow, the
 * subnormals and exact products. A NaN must stay a NaN. */
static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void test_fp16_arrays(void)
{
    static const uint32_t lows[] = {0x0000, 0x1000, 0x0fff, 0x1001, 0x3000, 0xabcd, 0xffff};
    static const float factors[] = {1.0f, 8.0f, 0.125f, 1.0f / 3.0f, 1e-5f, 3e4f};
    const long n_low = (long)(sizeof lows / sizeof lows[0]), n = 0x10000L * n_low;
    float *in = malloc(sizeof(float) * n), *vec = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)(i / n_low) << 16 | lows[i % n_low];
        memcpy(&in[i], &bits, sizeof bits);
    }
    int vector = half_use_vector(1);
    for (size_t f = 0; f < sizeof factors / sizeof factors[0]; f++) {
        long bad_mul = 0, bad_div = 0;
        memcpy(vec, in, sizeof(float) * n);
        half_round_mul_n(vec, n - 3, factors[f]); /* an odd length: the scalar tail too */
        for (long i = 0; i < n; i++)
            bad_mul += !same_float(vec[i], i < n - 3 ? half_round(in[i] * factors[f]) : in[i]);
        memcpy(vec, in, sizeof(float) * n);
        half_round_div_n(vec, n - 3, factors[f]);
        for (long i = 0; i < n; i++)
            bad_div += !same_float(vec[i], i < n - 3 ? half_round(half_round(in[i]) / factors[f]) : in[i]);
        CHECK(bad_mul == 0 && bad_div == 0, "%s array rounding x %g: %ld mul, %ld div of %ld differ from scalar",
              vector ? "F16C" : "scalar", factors[f], bad_mul, bad_div, n);
    }
    half_use_vector(0);
    memcpy(vec, in, sizeof(float) * 16);
    half_round_mul_n(vec, 16, 0.5f);
    int bad = 0;
    for (int i = 0; i < 16; i++) bad += !same_float(vec[i], half_round(in[i] * 0.5f));
    CHECK(bad == 0 && !half_use_vector(0), "forced scalar array rounding: %d differ", bad);
    half_use_vector(1);
    free(in);
    free(vec);
}

static void test_fp16(void)
{
    static const struct {
        float in, out;
        uint16_t bits;
    } cases[] = {
        {1.0f, 1.0f, 0x3c00},
        {-2.0f, -2.0f, 0xc000},
        {65504.0f, 65504.0f, 0x7bff},
        {65519.0f, 65504.0f, 0x7bff},
        {65520.0f, INFINITY, 0x7c00},           /* halfway past the max: rounds to inf */
        {1.0f + 0x1p-11f, 1.0f, 0x3c00},        /* tie → even (down) */
        {1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-9f, 0x3c02}, /* tie → even (up) */
        {1.0f + 0x1p-11f + 0x1p-20f, 1.0f + 0x1p-10f, 0x3c01},
        {0x1p-24f, 0x1p-24f, 0x0001},           /* smallest subnormal */
        {0x1p-25f, 0.0f, 0x0000},               /* tie → even (zero) */
        {3 * 0x1p-26f, 0x1p-24f, 0x0001},
        {0x1p-14f, 0x1p-14f, 0x0400},           /* smallest normal */
        {0x1p-14f - 0x1p-25f, 0x1p-14f, 0x0400}, /* subnormal tie rounds up into the normal range */
        {0.1f, 0.0999755859375f, 0x2e66},
        {1.0f / 3.0f, 0.333251953125f, 0x3555},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t b = half_from_float(cases[i].in);
        CHECK(b == cases[i].bits, "half(%a) = 0x%04x, want 0x%04x", cases[i].in, b, cases[i].bits);
        CHECK(half_round(cases[i].in) == cases[i].out, "round(%a) = %a, want %a", cases[i].in,
              half_round(cases[i].in), cases[i].out);
    }
    CHECK(isnan(half_round(NAN)), "NaN stays NaN");
    /* every half bit pattern survives the round trip (finite ones) */
    int bad = 0;
    for (unsigned h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (half_from_float(half_to_float((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "%d half values do not round-trip", bad);
    test_fp16_arrays();
}

/* Keys (x_j, y_j, 0, 0) and queries (2a, 2b, 0, 0) with hd = 4 give logits a·x_j + b·y_j. */
static void craft_layer(float *q, float *k, int L, int H, int Hkv, const float *x, const float *y, const float *qa,
                        const float *qb)
{
    const int hd = 4;
    memset(q, 0, sizeof(float) * L * H * hd);
    memset(k, 0, sizeof(float) * L * Hkv * hd);
    for (int j = 0; j < L; j++)
        for (int g = 0; g < Hkv; g++) {
            k[(j * Hkv + g) * hd + 0] = x[j];
            k[(j * Hkv + g) * hd + 1] = y ? y[j] : 0;
        }
    for (int i = 0; i < L; i++)
        for (int h = 0; h < H; h++) {
            q[(i * H + h) * hd + 0] = 2 * qa[h];
            q[(i * H + h) * hd + 1] = 2 * (qb ? qb[h] : 0);
        }
}

static void test_streaming_fullkv(void)
{
    enum { L = 20, H = 2, hd = 4 };
    model_config cfg = tiny_cfg(1, H, 1, hd);
    float q[L * H * hd], k[L * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = frand();
    for (int i = 0; i < L * hd; i++) k[i] = frand();
    variant vs[3] = {make_variant("streamingllm", 8, PRESET_REFERENCE_HEAD), make_variant("fullkv", 0, PRESET_REFERENCE_HEAD),
                     make_variant("streamingllm", 21, PRESET_REFERENCE_HEAD)};
    kv_view views[3];
    int rc = run_layer(&cfg, vs, 3, L, views, 0, q, k, NULL, NULL);
    CHECK(rc == KV_OK, "compress: %s", kv_lasterr());
    static const int want[] = {0, 1, 2, 3, 16, 17, 18, 19};
    for (int h = 0; h < H; h++) CHECK(row_equals(&views[0], 0, h, want, 8), "StreamingLLM C=8 head %d", h);
    int all[L];
    for (int i = 0; i < L; i++) all[i] = i;
    for (int h = 0; h < H; h++) {
        CHECK(row_equals(&views[1], 0, h, all, L), "FullKV keeps all, head %d", h);
        CHECK(row_equals(&views[2], 0, h, all, L), "StreamingLLM L < C keeps all, head %d", h);
    }
    for (int i = 0; i < 3; i++) kv_view_free(&views[i]);
}

/* SnapKV on crafted logits: a peak at 3 (logit 5) and a lower double peak at 8, 9 (4.5). Kernel 1
 * keeps 3 and the lower of the tied 8, 9; max-pool kernel 3 spreads the top peak to the tied 2, 3, 4
 * and the lowest two win; avg-pool kernel 3 favours the double peak (2e^4.5 + 1 > e^5 + 2). */
static void test_snapkv_crafted(void)
{
    enum { L = 16, H = 2, hd = 4 };
    model_config cfg = tiny_cfg(1, H, 1, hd);
    float x[L] = {0}, qa[H] = {1, 1}, q[L * H * hd], k[L * hd];
    x[3] = 5;
    x[8] = x[9] = 4.5f;
    craft_layer(q, k, L, H, 1, x, NULL, qa, NULL);
    variant vs[3];
    for (int i = 0; i < 3; i++) {
        vs[i] = make_variant("snapkv", 6, PRESET_REFERENCE_HEAD);
        set_knob(&vs[i], "window", "4");
    }
    set_knob(&vs[0], "kernel", "1");
    set_knob(&vs[1], "kernel", "3");
    set_knob(&vs[2], "kernel", "3");
    set_knob(&vs[2], "pooling", "avg");
    kv_view views[3];
    CHECK(run_layer(&cfg, vs, 3, L, views, 0, q, k, NULL, NULL) == KV_OK, "compress: %s", kv_lasterr());
    static const int want1[] = {3, 8, 12, 13, 14, 15}, want3[] = {2, 3, 12, 13, 14, 15}, want_avg[] = {8, 9, 12, 13, 14, 15};
    for (int h = 0; h < H; h++) {
        CHECK(row_equals(&views[0], 0, h, want1, 6), "kernel 1 head %d", h);
        if (!row_equals(&views[0], 0, h, want1, 6)) print_row("got", &views[0], 0, h);
        CHECK(row_equals(&views[1], 0, h, want3, 6), "kernel 3 max-pool ties head %d", h);
        if (!row_equals(&views[1], 0, h, want3, 6)) print_row("got", &views[1], 0, h);
        CHECK(row_equals(&views[2], 0, h, want_avg, 6), "kernel 3 avg-pool head %d", h);
    }
    for (int i = 0; i < 3; i++) kv_view_free(&views[i]);
}

/* GQA: heads 0 and 1 share KV head 0 but query different key features, so they keep different
 * positions; H2O and SnapKV both select per query head. */
static void test_gqa_per_head(void)
{
    enum { L = 16, H = 4, Hkv = 2, hd = 4 };
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    float x[L] = {0}, y[L] = {0}, qa[H] = {1, 0, 1, 0}, qb[H] = {0, 1, 0, 1};
    float q[L * H * hd], k[L * Hkv * hd], out[L * H * hd], v[L * Hkv * hd], lse[H * L];
    x[5] = 6;
    y[2] = 6;
    craft_layer(q, k, L, H, Hkv, x, y, qa, qb);
    for (int i = 0; i < L * Hkv * hd; i++) v[i] = frand();
    attention_prefill_cpu(out, lse, q, k, v, L, H, Hkv, hd);
    variant vs[2] = {make_variant("snapkv", 5, PRESET_REFERENCE_HEAD), make_variant("h2o", 5, PRESET_REFERENCE_HEAD)};
    set_knob(&vs[0], "window", "4");
    set_knob(&vs[0], "kernel", "1");
    set_knob(&vs[1], "window", "4");
    kv_view views[2];
    CHECK(run_layer(&cfg, vs, 2, L, views, 0, q, k, NULL, lse) == KV_OK, "compress: %s", kv_lasterr());
    static const int want_x[] = {5, 12, 13, 14, 15}, want_y[] = {2, 12, 13, 14, 15};
    for (int m = 0; m < 2; m++)
        for (int h = 0; h < H; h++) {
            const int *want = (h % 2 == 0) ? want_x : want_y;
            CHECK(row_equals(&views[m], 0, h, want, 5), "%s head %d (KV head %d)", vs[m].method->display, h,
                  h / 2);
            if (!row_equals(&views[m], 0, h, want, 5)) print_row("got", &views[m], 0, h);
        }
    for (int i = 0; i < 2; i++) kv_view_free(&views[i]);
}

/* Window softmax rows (fp32 and fp16) against the naive double softmax. */
static void test_window_softmax(void)
{
    enum { L = 40, H = 4, Hkv = 2, hd = 8, W = 6 };
    float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = 2 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 2 * frand();
    static float p[H * W * L], p16[H * W * L], p16l[H * W * L];
    window_softmax_cpu(p, q, k, L, H, Hkv, hd, W, SCORE_FP32);
    window_softmax_cpu(p16, q, k, L, H, Hkv, hd, W, SCORE_FP16);
    window_softmax_cpu(p16l, q, k, L, H, Hkv, hd, W, SCORE_FP16_LOGITS);
    int ok = 1, ok16 = 1, is_half = 1, same_logits = 1, l_not_half = 0;
    double max_err = 0;
    for (int h = 0; h < H; h++)
        for (int r = 0; r < W; r++)
            for (int j = 0; j < L; j++) {
                int i = L - W + r;
                double ref = naive_prob(q, k, H, Hkv, hd, h, i, j, i + 1);
                float got = p[(h * W + r) * L + j], g16 = p16[(h * W + r) * L + j];
                if (!check_close(got, ref, PROB_ATOL, PROB_RTOL)) ok = 0;
                max_err = fmax(max_err, fabs(got - ref));
                /* fp16: a half value within a few half ulps (2^-11 relative, logits rounded too) */
                if (half_round(g16) != g16) is_half = 0;
                if (!check_close(g16, ref, 1e-4, 8 * 0x1p-11)) ok16 = 0;
                /* fp16 logits (CircuitKV's reference path): the same softmax of the same rounded
                 * logits, not rounded after — so rounding it gives the fp16 rows exactly */
                float gl = p16l[(h * W + r) * L + j];
                if (half_round(gl) != g16) same_logits = 0;
                if (half_round(gl) != gl) l_not_half = 1;
            }
    CHECK(same_logits, "fp16-logit rows rounded to half are the fp16 rows (same logits, same softmax)");
    CHECK(l_not_half, "fp16-logit rows keep fp32 outputs (not rounded to half)");
    CHECK(ok, "window softmax fp32, max err %.3g", max_err);
    CHECK(is_half, "fp16 window softmax outputs are half values");
    CHECK(ok16, "fp16 window softmax close to exact");
}

/* H2O column sums, all three modes, against the naive O(L²) computation; causal uses the
 * prefill's LSE. Also the selection equals the naive top-k. */
static void test_h2o_modes(void)
{
    enum { L = 48, H = 4, Hkv = 2, hd = 8, W = 5, C = 15 };
    static float q[L * H * hd], k[L * Hkv * hd], v[L * Hkv * hd], out[L * H * hd], lse[H * L], cs[H * L];
    for (int i = 0; i < L * H * hd; i++) q[i] = 2 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 2 * frand(), v[i] = frand();
    attention_prefill_cpu(out, lse, q, k, v, L, H, Hkv, hd);
    static const char *names[] = {"causal", "prefix", "upstream"};
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    for (int mode = 0; mode < 3; mode++) {
        h2o_colsum_cpu(cs, q, k, lse, L, H, Hkv, hd, W, (h2o_mode)mode, 0);
        int ok = 1;
        double max_err = 0;
        static double ref[H][L];
        for (int h = 0; h < H; h++)
            for (int j = 0; j < L - W; j++) {
                double s = 0;
                for (int i = 0; i < L; i++) {
                    int nv = h2o_visible(mode, i, L, W);
                    if (j < nv) s += naive_prob(q, k, H, Hkv, hd, h, i, j, nv);
                }
                ref[h][j] = s;
                if (!check_close(cs[h * (L - W) + j], s, PROB_ATOL, COLSUM_RTOL)) ok = 0;
                max_err = fmax(max_err, fabs(cs[h * (L - W) + j] - s));
            }
        CHECK(ok, "H2O %s column sums, max err %.3g", names[mode], max_err);
        /* fp16 emulation: half values near the exact sums */
        h2o_colsum_cpu(cs, q, k, NULL, L, H, Hkv, hd, W, (h2o_mode)mode, 1);
        int ok16 = 1;
        for (int h = 0; h < H; h++)
            for (int j = 0; j < L - W; j++) {
                float g = cs[h * (L - W) + j];
                if (half_round(g) != g || !check_close(g, ref[h][j], 1e-3, 1e-2)) ok16 = 0;
            }
        CHECK(ok16, "H2O %s fp16 column sums", names[mode]);
        /* selection through compress equals the naive top C-W (ties: lowest position) */
        variant var = make_variant("h2o", C, PRESET_REFERENCE_HEAD);
        set_knob(&var, "window", "5");
        set_knob(&var, "mode", names[mode]);
        kv_view view;
        CHECK(run_layer(&cfg, &var, 1, L, &view, 0, q, k, NULL, lse) == KV_OK, "compress: %s", kv_lasterr());
        for (int h = 0; h < H; h++) {
            int taken[L] = {0}, want[C], n = 0;
            for (int t = 0; t < C - W; t++) {
                int best = -1;
                for (int j = 0; j < L - W; j++)
                    if (!taken[j] && (best < 0 || ref[h][j] > ref[h][best])) best = j;
                taken[best] = 1;
            }
            for (int j = 0; j < L; j++)
                if (taken[j] || j >= L - W) want[n++] = j;
            CHECK(row_equals(&view, 0, h, want, C), "H2O %s selection head %d", names[mode], h);
        }
        kv_view_free(&view);
    }
}

/* SnapKV on random attention against a naive selection (double scores, max-pool, sort). */
static void test_snapkv_random(void)
{
    enum { L = 64, H = 4, Hkv = 1, hd = 8, W = 8, C = 24, K = 5 };
    static float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = 3 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 3 * frand();
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    variant var = make_variant("snapkv", C, PRESET_REFERENCE_HEAD);
    set_knob(&var, "window", "8");
    set_knob(&var, "kernel", "5");
    kv_view view;
    CHECK(run_layer(&cfg, &var, 1, L, &view, 0, q, k, NULL, NULL) == KV_OK, "compress: %s", kv_lasterr());
    for (int h = 0; h < H; h++) {
        double a[L - W], s[L - W];
        for (int j = 0; j < L - W; j++) {
            a[j] = 0;
            for (int r = 0; r < W; r++) a[j] += naive_prob(q, k, H, Hkv, hd, h, L - W + r, j, L - W + r + 1);
        }
        for (int j = 0; j < L - W; j++) {
            s[j] = -INFINITY;
            for (int t = j - K / 2; t <= j + K / 2; t++)
                if (t >= 0 && t < L - W) s[j] = fmax(s[j], a[t]);
        }
        int taken[L] = {0}, want[C], n = 0;
        for (int t = 0; t < C - W; t++) {
            int best = -1;
            for (int j = 0; j < L - W; j++)
                if (!taken[j] && (best < 0 || s[j] > s[best])) best = j;
            taken[best] = 1;
        }
        for (int j = 0; j < L; j++)
            if (taken[j] || j >= L - W) want[n++] = j;
        CHECK(row_equals(&view, 0, h, want, C), "SnapKV random head %d", h);
        if (!row_equals(&view, 0, h, want, C)) print_row("got", &view, 0, h);
    }
    kv_view_free(&view);
}

static void test_topk_pool(void)
{
    float s[8] = {1, 3, 3, 0, 3, 2, 2, -1}, scratch[8];
    int out[8];
    int n = topk_lowest_cpu(out, s, 8, 2, scratch);
    CHECK(n == 2 && out[0] == 1 && out[1] == 2, "top-2 ties → lowest positions");
    n = topk_lowest_cpu(out, s, 8, 4, scratch);
    CHECK(n == 4 && out[0] == 1 && out[1] == 2 && out[2] == 4 && out[3] == 5, "top-4 with tie at 2");
    n = topk_lowest_cpu(out, s, 8, 0, scratch);
    CHECK(n == 0, "top-0");
    n = topk_lowest_cpu(out, s, 8, 9, scratch);
    CHECK(n == 8 && out[7] == 7, "k > n keeps all");
    float x[5] = {1, 5, 2, 0, 4}, mx[5], av[5];
    pool1d_max_cpu(mx, x, 5, 3);
    pool1d_avg_cpu(av, x, 5, 3);
    static const float want_max[5] = {5, 5, 5, 4, 4}, want_avg[5] = {2, 8.0f / 3, 7.0f / 3, 2, 4.0f / 3};
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= mx[i] == want_max[i] && check_close(av[i], want_avg[i], 1e-7, 1e-6);
    CHECK(ok, "max/avg pool kernel 3");
    /* all-equal scores: the lowest positions */
    float z[100];
    float zs[100];
    int zo[100];
    for (int i = 0; i < 100; i++) z[i] = 0.5f;
    n = topk_lowest_cpu(zo, z, 100, 10, zs);
    CHECK(n == 10 && zo[0] == 0 && zo[9] == 9, "all ties → 0..9");
}

/* PyramidKV's per-layer schedule (DESIGN §4 numbers) in every branch. */
static void test_pyramid_schedule(void)
{
    model_config cfg = tiny_cfg(32, 32, 8, 128);
    variant v = make_variant("pyramidkv", 128, PRESET_REFERENCE_2026_01);
    const method_desc *m = v.method;
    CHECK(m->expected_kept(&v, &cfg, 10000, 0) == 242, "C=128 layer 0: %d", m->expected_kept(&v, &cfg, 10000, 0));
    CHECK(m->expected_kept(&v, &cfg, 10000, 31) == 25, "C=128 layer 31: %d", m->expected_kept(&v, &cfg, 10000, 31));
    v.budget = 2048;
    CHECK(m->expected_kept(&v, &cfg, 10000, 0) == 3986, "C=2048 layer 0: %d", m->expected_kept(&v, &cfg, 10000, 0));
    CHECK(m->expected_kept(&v, &cfg, 10000, 31) == 111, "C=2048 layer 31: %d", m->expected_kept(&v, &cfg, 10000, 31));
    v.budget = 128;
    /* C <= L < 2(C-W) = 240: every layer keeps C */
    CHECK(m->expected_kept(&v, &cfg, 128, 0) == 128 && m->expected_kept(&v, &cfg, 239, 31) == 128, "uniform branch");
    CHECK(m->expected_kept(&v, &cfg, 127, 5) == 127, "L < C keeps all");
    /* L = 240: max 234 >= L-W = 232 → max 232, min 8, steps 7: layer 0 keeps 240, layer 31 keeps 23 */
    CHECK(m->expected_kept(&v, &cfg, 240, 0) == 240 && m->expected_kept(&v, &cfg, 240, 31) == 23, "capped branch: %d %d",
          m->expected_kept(&v, &cfg, 240, 0), m->expected_kept(&v, &cfg, 240, 31));
    /* the total over layers stays close to n_layers * C */
    long total = 0;
    for (int l = 0; l < 32; l++) total += m->expected_kept(&v, &cfg, 10000, l);
    CHECK(labs(total - 32 * 128) <= 32 * 8, "pyramid total %ld vs %d", total, 32 * 128);
}

/* PyramidKV layers select exactly what SnapKV with budget k_l + W would. */
static void test_pyramid_select(void)
{
    enum { L = 96, H = 2, Hkv = 1, hd = 8, NL = 4 };
    static float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = 2 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 2 * frand();
    model_config cfg = tiny_cfg(NL, H, Hkv, hd);
    variant pv = make_variant("pyramidkv", 32, PRESET_REFERENCE_2026_01); /* W 8: 2(C-W) = 48 <= L */
    set_knob(&pv, "beta", "4");
    for (int layer = 0; layer < NL; layer++) {
        int kept = pv.method->expected_kept(&pv, &cfg, L, layer);
        variant vs[2] = {pv, make_variant("snapkv", kept, PRESET_REFERENCE_2026_01)};
        kv_view views[2];
        CHECK(run_layer(&cfg, vs, 2, L, views, layer, q, k, NULL, NULL) == KV_OK, "compress: %s", kv_lasterr());
        for (int h = 0; h < H; h++)
            CHECK(row_equals(&views[0], layer, h, kv_view_row(&views[1], layer, h), kept),
                  "PyramidKV layer %d head %d = SnapKV(%d)", layer, h, kept);
        CHECK(layer == 0 ? kept > 32 : 1, "layer 0 keeps more than C (%d)", kept);
        kv_view_free(&views[0]);
        kv_view_free(&views[1]);
    }
}

/* Random causal window rows A (W, N). */
static void random_graph(double *a, int N, int W)
{
    for (int r = 0; r < W; r++) {
        int last = N - W + r;
        double s = 0;
        for (int j = 0; j < N; j++) {
            double x = j <= last ? exp(3 * frand()) : 0;
            a[(long)r * N + j] = x;
            s += x;
        }
        for (int j = 0; j < N; j++) a[(long)r * N + j] /= s;
    }
}

static void test_circuit_neumann(void)
{
    static const struct {
        int N, W, s, K;
        double gamma;
    } cases[] = {{10, 3, 2, 10, 1.0}, {40, 8, 4, 10, 1.0}, {70, 16, 4, 10, 0.9}, {25, 20, 4, 5, 1.0}, {12, 4, 0, 10, 1.0},
                 {200, 64, 4, 30, 1.0}, {5, 2, 1, 10, 1.0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int N = cases[c].N, W = cases[c].W, s = cases[c].s;
        double *aq = malloc(sizeof(double) * W * N), *ah = malloc(sizeof(double) * W * N);
        random_graph(aq, N, W);
        random_graph(ah, N, W);
        circuit_chain cq, ch;
        circuit_chain_init(&cq, NULL, aq, N, W, s);
        circuit_chain_init(&ch, NULL, ah, N, W, s);
        double *dq = circuit_dense_q(&cq), *dh = circuit_dense_q(&ch);
        double *q1 = malloc(sizeof(double) * N), *h1 = malloc(sizeof(double) * N);
        double *q2 = malloc(sizeof(double) * N), *h2 = malloc(sizeof(double) * N);
        int n1 = circuit_neumann_cpu(q1, h1, &cq, &ch, cases[c].K, cases[c].gamma);
        int n2 = circuit_neumann_dense_cpu(q2, h2, dq, dh, N, s, cases[c].K, cases[c].gamma);
        double err = 0;
        for (int j = 0; j < N; j++) err = fmax(err, fmax(fabs(q1[j] - q2[j]), fabs(h1[j] - h2[j])));
        CHECK(n1 == n2 && err <= 1e-12, "Neumann N=%d W=%d s=%d: structured vs dense max err %.3g (steps %d/%d)", N, W,
              s, err, n1, n2);
        /* transient rows of Q are (sub)stochastic: row sums <= 1 */
        int sub = 1;
        for (int i = s; i < N; i++) {
            double rs = 0;
            for (int j = 0; j < N; j++) rs += dq[(long)i * N + j];
            if (rs > 1 + 1e-12) sub = 0;
        }
        CHECK(sub, "Q rows substochastic N=%d", N);
        circuit_chain_free(&cq);
        circuit_chain_free(&ch);
        free(aq), free(ah), free(dq), free(dh), free(q1), free(h1), free(q2), free(h2);
    }
}

static void test_circuit_rank_select(void)
{
    /* N = 5 <= kernel 5: no smoothing; sinks (s=1) get 0.01 × total = 0.01 × 10 = 0.1 */
    double visits[5] = {0, 4, 1, 3, 2};
    int rank[6];
    circuit_rank_cpu(rank, visits, 5, 1, 0.01, 5, 1.0);
    CHECK(rank[0] == 0 && rank[1] == 4 && rank[2] == 1 && rank[3] == 3 && rank[4] == 2, "rank without smoothing");
    /* ties in score: the lower position ranks lower */
    double flat[5] = {0, 1, 1, 1, 1};
    circuit_rank_cpu(rank, flat, 5, 1, 0.01, 5, 1.0);
    CHECK(rank[1] == 1 && rank[2] == 2 && rank[3] == 3 && rank[4] == 4, "rank ties stable on position");
    /* N = 6 > kernel 3: smoothing moves a lone peak's mass to its neighbours, which outrank the far ones */
    double peak[6] = {0, 0, 0, 10, 0, 0};
    circuit_rank_cpu(rank, peak, 6, 1, 0.0, 3, 0.5);
    CHECK(rank[3] == 5 && rank[2] == 3 && rank[4] == 4 && rank[0] == 0, "smoothed ranks %d %d %d %d", rank[0], rank[2],
          rank[3], rank[4]);

    /* select: N = 10, s = 1, W = 2; candidates 1..7. Combined max rank 8 at 2 (min 1) and 5 (min 3):
     * a near-tie where the old rule (higher min rank first) kept 5 and the reference's top-k keeps
     * the lower position 2 (k = 1 tells them apart); combined 7 at 3 and 6: 3 third. */
    int rq[10] = {0, 0, 8, 7, 0, 3, 6, 0, 0, 0}, rh[10] = {0, 0, 1, 6, 0, 8, 7, 0, 0, 0}, out[10];
    int n = circuit_select_cpu(out, rq, rh, 10, 1, 2, 3);
    static const int want[] = {0, 2, 3, 5, 8, 9};
    int ok = n == 6;
    for (int i = 0; ok && i < 6; i++) ok = out[i] == want[i];
    CHECK(ok, "CircuitKV tie rule (combined rank, then lower position)");
    n = circuit_select_cpu(out, rq, rh, 10, 1, 2, 1);
    CHECK(n == 4 && out[1] == 2, "CircuitKV k=1 keeps position 2, not 5 (the old rule's higher min rank)");
}

/* CircuitKV through compress: shared set across heads, invariants, per_head variant differs. */
static void test_circuitkv_compress(void)
{
    enum { L = 120, H = 4, Hkv = 2, hd = 8, C = 40 };
    static float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = 3 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 3 * frand();
    model_config cfg = tiny_cfg(2, H, Hkv, hd);
    variant vs[2] = {make_variant("circuitkv", C, PRESET_REFERENCE_HEAD), make_variant("circuitkv", C, PRESET_REFERENCE_HEAD)};
    for (int i = 0; i < 2; i++) {
        set_knob(&vs[i], "window", "16");
        set_knob(&vs[i], "n_qi_heads", "2");
    }
    set_knob(&vs[1], "per_head", "1");
    kv_view views[2];
    CHECK(run_layer(&cfg, vs, 2, L, views, 1, q, k, NULL, NULL) == KV_OK, "compress: %s", kv_lasterr());
    int shared = 1;
    for (int h = 1; h < H; h++) shared &= row_equals(&views[0], 1, h, kv_view_row(&views[0], 1, 0), C);
    CHECK(shared, "CircuitKV: one set for all heads");
    int differ = 0;
    for (int h = 1; h < H; h++) differ |= !row_equals(&views[1], 1, h, kv_view_row(&views[1], 1, 0), C);
    CHECK(differ, "CircuitKV per_head: heads select differently");
    kv_view_free(&views[0]);
    kv_view_free(&views[1]);
}

/* ---- the invariant checker against wrong plug-ins ---- */

static int bogus_mode;
static int bogus_select(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    int L = st->L, C = v->budget;
    for (int h = 0; h < view->n_heads; h++) {
        int *row = kv_view_row(view, layer, h), n = 0;
        int shift = bogus_mode == 2 ? 1 : 0; /* mode 2: C sorted positions ending at L-2 (window dropped) */
        for (int j = L - C - shift; j < L - shift; j++) row[n++] = j;
        if (bogus_mode == 0 && h == 1) n--; /* one too few */
        if (bogus_mode == 1 && h == 1) {    /* unsorted */
            int t = row[0];
            row[0] = row[1];
            row[1] = t;
        }
        if (bogus_mode == 3 && h == 0) row[0] = -1; /* out of range */
        view->len[layer * view->n_heads + h] = n;
    }
    return KV_OK;
}
static int bogus_check(const variant *v, const model_config *cfg)
{
    (void)v, (void)cfg;
    return KV_OK;
}
static int bogus_expected(const variant *v, const model_config *cfg, int L, int layer)
{
    (void)cfg, (void)layer;
    return L < v->budget ? L : v->budget;
}

/* Declares its window as always kept, so the checker tests it. */
static void bogus_needs(const variant *v, method_needs *out)
{
    out->window_rows = out->keeps_last = (int)variant_knob(v, "window");
}

static void test_invariant_checker(void)
{
    static const method_knob knobs[] = {{"window", {2, 2}, NULL, "window"}};
    static const method_desc bogus = {.name = "bogus", .display = "Bogus", .n_knobs = 1, .knobs = knobs,
                                      .compresses = 1, .check = bogus_check, .expected_kept = bogus_expected,
                                      .select_layer = bogus_select, .needs = bogus_needs};
    enum { L = 12, H = 2, hd = 4 };
    model_config cfg = tiny_cfg(1, H, 1, hd);
    float q[L * H * hd], k[L * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = frand();
    for (int i = 0; i < L * hd; i++) k[i] = frand();
    variant v;
    variant_init(&v, &bogus, 5, PRESET_REFERENCE_HEAD);
    static const char *expect[] = {"rule says", "strictly increasing", "window", "outside"};
    for (bogus_mode = 0; bogus_mode < 4; bogus_mode++) {
        kv_view view;
        int rc = run_layer(&cfg, &v, 1, L, &view, 0, q, k, NULL, NULL);
        const char *e = kv_lasterr();
        CHECK(rc == KV_ERR, "bogus mode %d passed the checker", bogus_mode);
        CHECK(strstr(e, "Bogus") && strstr(e, "layer 0") && strstr(e, "head") && strstr(e, expect[bogus_mode]),
              "message names variant/layer/head and the fault '%s': %s", expect[bogus_mode], e);
        kv_view_free(&view);
    }
    /* the count message carries expected vs actual */
    bogus_mode = 0;
    kv_view view;
    run_layer(&cfg, &v, 1, L, &view, 0, q, k, NULL, NULL);
    CHECK(strstr(kv_lasterr(), "kept 4") && strstr(kv_lasterr(), "says 5"), "count message: %s", kv_lasterr());
    kv_view_free(&view);
    /* the same plug-in, correct, passes */
    bogus_mode = 9;
    CHECK(run_layer(&cfg, &v, 1, L, &view, 0, q, k, NULL, NULL) == KV_OK, "correct bogus passes: %s", kv_lasterr());
    kv_view_free(&view);
}

/* ---- attention over a view = attention over a physically compacted cache ---- */

static void test_view_vs_compacted(void)
{
    enum { L = 80, H = 4, Hkv = 2, hd = 16, NV = 6 };
    static float q[L * H * hd], k[L * Hkv * hd], v[L * Hkv * hd], o[L * H * hd], lse[H * L];
    for (int i = 0; i < L * H * hd; i++) q[i] = 2 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 2 * frand(), v[i] = frand();
    attention_prefill_cpu(o, lse, q, k, v, L, H, Hkv, hd);
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    variant vs[NV] = {make_variant("fullkv", 0, PRESET_REFERENCE_HEAD),      make_variant("snapkv", 30, PRESET_REFERENCE_2026_01),
                      make_variant("pyramidkv", 30, PRESET_REFERENCE_2026_01), make_variant("h2o", 30, PRESET_REFERENCE_HEAD),
                      make_variant("streamingllm", 30, PRESET_REFERENCE_HEAD),   make_variant("circuitkv", 40, PRESET_REFERENCE_HEAD)};
    set_knob(&vs[3], "window", "8");
    set_knob(&vs[5], "window", "16");
    kv_view views[NV];
    CHECK(run_layer(&cfg, vs, NV, L, views, 0, q, k, NULL, lse) == KV_OK, "compress: %s", kv_lasterr());
    float qn[H * hd], kn[Hkv * hd], vn[Hkv * hd], out[H * hd];
    for (int i = 0; i < H * hd; i++) qn[i] = 2 * frand();
    for (int i = 0; i < Hkv * hd; i++) kn[i] = 2 * frand(), vn[i] = frand();
    for (int m = 0; m < NV; m++) {
        decode_seq seq = {k, v, views[m].pos, views[m].len, views[m].cap, kn, vn, 1, NULL, 0};
        decode_attention_cpu(out, qn, &seq, 1, H, Hkv, hd);
        int ok = 1;
        double max_err = 0;
        for (int h = 0; h < H; h++) {
            /* gather the kept rows of KV head h/n_rep into a new cache, append the new token */
            int n = views[m].len[h], g = h / (H / Hkv);
            const int *pos = kv_view_row(&views[m], 0, h);
            double *kc = malloc(sizeof(double) * (n + 1) * hd), *vc = malloc(sizeof(double) * (n + 1) * hd);
            for (int t = 0; t < n; t++)
                for (int d = 0; d < hd; d++) {
                    kc[t * hd + d] = k[(long)pos[t] * Hkv * hd + g * hd + d];
                    vc[t * hd + d] = v[(long)pos[t] * Hkv * hd + g * hd + d];
                }
            for (int d = 0; d < hd; d++) kc[n * hd + d] = kn[g * hd + d], vc[n * hd + d] = vn[g * hd + d];
            double sc[L + 1], mx = -INFINITY, sum = 0;
            for (int t = 0; t <= n; t++) {
                double dot = 0;
                for (int d = 0; d < hd; d++) dot += qn[h * hd + d] * kc[t * hd + d];
                sc[t] = dot / sqrt((double)hd);
                mx = fmax(mx, sc[t]);
            }
            for (int t = 0; t <= n; t++) sum += (sc[t] = exp(sc[t] - mx));
            for (int d = 0; d < hd; d++) {
                double r = 0;
                for (int t = 0; t <= n; t++) r += sc[t] / sum * vc[t * hd + d];
                if (!check_close(out[h * hd + d], r, ATTN_ATOL, ATTN_RTOL)) ok = 0;
                max_err = fmax(max_err, fabs(out[h * hd + d] - r));
            }
            free(kc);
            free(vc);
        }
        CHECK(ok, "%s: view attention = compacted attention, max err %.3g", vs[m].method->display, max_err);
        CHECK(m == 0 || kv_view_mean_kept(&views[m]) < L, "%s compressed (mean kept %.1f)", vs[m].method->display,
              kv_view_mean_kept(&views[m]));
    }
    for (int m = 0; m < NV; m++) kv_view_free(&views[m]);
}

/* L < C: every method keeps all L positions (PyramidKV included); compress_new rejects a bad
 * variant and a view too small. */
static void test_no_compression_branch(void)
{
    enum { L = 30, H = 2, Hkv = 1, hd = 4, NV = 6 };
    static float q[L * H * hd], k[L * Hkv * hd], v[L * Hkv * hd], o[L * H * hd], lse[H * L];
    for (int i = 0; i < L * H * hd; i++) q[i] = frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = frand(), v[i] = frand();
    attention_prefill_cpu(o, lse, q, k, v, L, H, Hkv, hd);
    model_config cfg = tiny_cfg(3, H, Hkv, hd);
    variant vs[NV];
    for (int m = 0; m < NV; m++) vs[m] = make_variant(method_registry[m]->name, 100, PRESET_REFERENCE_HEAD);
    kv_view views[NV];
    CHECK(run_layer(&cfg, vs, NV, L, views, 2, q, k, NULL, lse) == KV_OK, "compress: %s", kv_lasterr());
    int all[L];
    for (int i = 0; i < L; i++) all[i] = i;
    for (int m = 0; m < NV; m++) {
        for (int h = 0; h < H; h++)
            CHECK(row_equals(&views[m], 2, h, all, L), "%s L < C keeps all, head %d", vs[m].method->display, h);
        kv_view_free(&views[m]);
    }
    variant bad = make_variant("h2o", 64, PRESET_REFERENCE_HEAD); /* budget = window 64 */
    kv_view view;
    kv_view_init(&view, 3, H, L);
    CHECK(compress_new(&cfg, &bad, 1, L, &view) == NULL && strstr(kv_lasterr(), "H2O") &&
              strstr(kv_lasterr(), "window"),
          "compress_new rejects C <= W: %s", kv_lasterr());
    variant ok = make_variant("snapkv", 20, PRESET_REFERENCE_2026_01);
    CHECK(compress_new(&cfg, &ok, 1, L + 1, &view) == NULL && strstr(kv_lasterr(), "cap"), "view too small: %s",
          kv_lasterr());
    kv_view_free(&view);
}

/* SnapKV under the reference-2026-01 preset (fp16 emulation, W 8, reduction mean) against a
 * naive selection that rounds logits, probabilities and window sums the same way. */
static void test_snapkv_fp16(void)
{
    enum { L = 64, H = 2, Hkv = 1, hd = 16, W = 8, C = 20 };
    static float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = 2 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 2 * frand();
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    variant var = make_variant("snapkv", C, PRESET_REFERENCE_2026_01);
    set_knob(&var, "reduction", "mean");
    set_knob(&var, "kernel", "3");
    kv_view view;
    CHECK(run_layer(&cfg, &var, 1, L, &view, 0, q, k, NULL, NULL) == KV_OK, "compress: %s", kv_lasterr());
    for (int h = 0; h < H; h++) {
        double a[L - W], s[L - W];
        for (int j = 0; j < L - W; j++) a[j] = 0;
        for (int r = 0; r < W; r++) {
            int i = L - W + r;
            double lg[L], m = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                double dot = naive_logit(q, k, H, Hkv, hd, h, i, j) * sqrt((double)hd);
                lg[j] = half_round(half_round((float)dot) / sqrtf((float)hd));
                m = fmax(m, lg[j]);
            }
            for (int j = 0; j <= i; j++) sum += exp(lg[j] - m);
            for (int j = 0; j < L - W; j++) a[j] += half_round((float)(exp(lg[j] - m) / sum));
        }
        for (int j = 0; j < L - W; j++) a[j] = half_round((float)(a[j] / W));
        for (int j = 0; j < L - W; j++) {
            s[j] = -INFINITY;
            for (int t = j - 1; t <= j + 1; t++)
                if (t >= 0 && t < L - W) s[j] = fmax(s[j], a[t]);
        }
        int taken[L] = {0}, want[C], n = 0;
        for (int t = 0; t < C - W; t++) {
            int best = -1;
            for (int j = 0; j < L - W; j++)
                if (!taken[j] && (best < 0 || s[j] > s[best])) best = j;
            taken[best] = 1;
        }
        for (int j = 0; j < L; j++)
            if (taken[j] || j >= L - W) want[n++] = j;
        CHECK(row_equals(&view, 0, h, want, C), "SnapKV fp16 head %d", h);
        if (!row_equals(&view, 0, h, want, C)) print_row("got", &view, 0, h);
    }
    kv_view_free(&view);
}

int main(void)
{
    test_registry_and_knobs();
    test_fp16();
    test_topk_pool();
    test_streaming_fullkv();
    test_snapkv_crafted();
    test_gqa_per_head();
    test_window_softmax();
    test_snapkv_random();
    test_snapkv_fp16();
    test_no_compression_branch();
    test_h2o_modes();
    test_pyramid_schedule();
    test_pyramid_select();
    test_circuit_neumann();
    test_circuit_rank_select();
    test_circuitkv_compress();
    test_invariant_checker();
    test_view_vs_compacted();
    return check_report("test_methods");
}
