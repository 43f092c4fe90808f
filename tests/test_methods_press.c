/* test_methods_press: the kvpress-style plug-ins of issue 17 (random, knorm, tova, keydiff,
 * expected_attention, adakv) — hand-computable kept sets from tiny keys and hand-written window
 * rows, a naive double reference for ExpectedAttention (dense RoPE matrices as kvpress builds
 * them), the layer-total invariant of AdaKV, and on the demo model: every new method in one
 * batch from one prefill, first token identical to FullKV's, kept counts as the rule says. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/compress.h"
#include "engine/engine_internal.h"
#include "engine/layer_stats.h"
#include "engine/method.h"
#include "util/util.h"
#include "harness/sweep/sweep.h"
#include "kernels/press_scoring.h"
#include "kernels/rope.h"
#include "kernels/scoring.h"
#include "tests/check.h"
#include "tests/methods_util.h"

#define SCORE_ATOL 1e-6
#define SCORE_RTOL 1e-4

/* Knorm: keys (x, 0) of norms 3 1 4 1 5 9 on KV head 0 and 9 5 1 4 1 3 on KV head 1; C = 3 keeps
 * the three lowest norms, the tie at 1 (or the 3rd place) to the lower position; two query heads
 * per KV head read the same set. */
static void test_knorm(void)
{
    enum { L = 6, H = 4, Hkv = 2, hd = 2 };
    static const float n0[L] = {3, 1, 4, 1, 5, 9}, n1[L] = {9, 5, 1, 4, 1, 3};
    float q[L * H * hd] = {0}, k[L * Hkv * hd] = {0};
    for (int j = 0; j < L; j++) k[(j * Hkv + 0) * hd] = n0[j], k[(j * Hkv + 1) * hd + 1] = -n1[j];
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    variant v = make_variant("knorm", 3, PRESET_REFERENCE_HEAD);
    kv_view view;
    CHECK(run_layer(&cfg, &v, 1, L, &view, 0, q, k, NULL, NULL) == KV_OK, "knorm: %s", kv_lasterr());
    EXPECT_ROW(&view, 0, 0, 0, 1, 3);
    EXPECT_ROW(&view, 0, 1, 0, 1, 3);
    EXPECT_ROW(&view, 0, 2, 2, 4, 5);
    EXPECT_ROW(&view, 0, 3, 2, 4, 5);
    kv_view_free(&view);
}

/* KeyDiff: keys (1,0) (1,0) (0,1) (1,0) (-1,0) (2,0): the mean normalised key is (0.5, 1/6), so the
 * cosines are 0.949 for the (1,0)/(2,0) keys, 0.316 for (0,1) and -0.949 for (-1,0); C = 2 keeps
 * {2, 4}, C = 3 adds the lowest of the tied (1,0) keys: {0, 2, 4}. */
static void test_keydiff(void)
{
    enum { L = 6, H = 1, Hkv = 1, hd = 2 };
    static const float k[L * hd] = {1, 0, 1, 0, 0, 1, 1, 0, -1, 0, 2, 0};
    float q[L * hd] = {0}, cosv[L];
    press_keycos_cpu(cosv, k, L, Hkv, hd);
    double na = sqrt(0.25 + 1.0 / 36);
    CHECK(check_close(cosv[0], 0.5 / na, 1e-6, 1e-6) && check_close(cosv[2], (1.0 / 6) / na, 1e-6, 1e-6) &&
              check_close(cosv[4], -0.5 / na, 1e-6, 1e-6) && check_close(cosv[5], 0.5 / na, 1e-6, 1e-6),
          "keydiff cosines %g %g %g %g", cosv[0], cosv[2], cosv[4], cosv[5]);
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    variant v[2] = {make_variant("keydiff", 2, PRESET_REFERENCE_HEAD), make_variant("keydiff", 3,
                                                                                PRESET_REFERENCE_HEAD)};
    kv_view views[2];
    CHECK(run_layer(&cfg, v, 2, L, views, 0, q, k, NULL, NULL) == KV_OK, "keydiff: %s", kv_lasterr());
    EXPECT_ROW(&views[0], 0, 0, 2, 4);
    EXPECT_ROW(&views[1], 0, 0, 0, 2, 4);
    kv_view_free(&views[0]), kv_view_free(&views[1]);
}

/* A layer_stats with hand-written fp32 window rows (H, W, L). */
static struct layer_stats hand_stats(const model_config *cfg, int L, int W, float *rows)
{
    struct layer_stats st;
    memset(&st, 0, sizeof st);
    st.cfg = cfg, st.L = L, st.wmax[SCORE_FP32] = W, st.win[SCORE_FP32] = rows;
    return st;
}

/* TOVA: the last query's rows of two heads 0.1 0.5 0.1 0.05 0.05 | 0.2 and 0.4 0 0.1 0.3 0 | 0.2
 * average to 0.25 0.25 0.1 0.175 0.025: C = 3 keeps the last position and the tie 0, 1; one set
 * for all four query heads (two KV heads). */
static void test_tova_hand(void)
{
    enum { L = 6, H = 4, Hkv = 2 };
    float rows[H * L] = {0.1f, 0.5f, 0.1f, 0.05f, 0.05f, 0.2f, 0.4f, 0, 0.1f, 0.3f, 0, 0.2f,
                         0.1f, 0.5f, 0.1f, 0.05f, 0.05f, 0.2f, 0.4f, 0, 0.1f, 0.3f, 0, 0.2f};
    model_config cfg = tiny_cfg(1, H, Hkv, 2);
    struct layer_stats st = hand_stats(&cfg, L, 1, rows);
    variant v = make_variant("tova", 3, PRESET_REFERENCE_HEAD);
    kv_view view;
    kv_view_init(&view, 1, H, L);
    CHECK(v.method->select_layer(&v, &st, 0, &view) == KV_OK, "tova: %s", kv_lasterr());
    for (int h = 0; h < H; h++) EXPECT_ROW(&view, 0, h, 0, 1, 5);
    kv_view_free(&view);
    /* through compress from q/k: the kept set equals the naive head-mean of the last row's softmax */
    enum { L2 = 40, hd = 8, C = 10 };
    static float q[L2 * H * hd], k[L2 * Hkv * hd];
    for (int i = 0; i < L2 * H * hd; i++) q[i] = 2 * frand();
    for (int i = 0; i < L2 * Hkv * hd; i++) k[i] = 2 * frand();
    model_config cfg2 = tiny_cfg(1, H, Hkv, hd);
    variant v2 = make_variant("tova", C, PRESET_REFERENCE_HEAD);
    CHECK(run_layer(&cfg2, &v2, 1, L2, &view, 0, q, k, NULL, NULL) == KV_OK, "tova compress: %s", kv_lasterr());
    double s[L2] = {0};
    for (int h = 0; h < H; h++) {
        double lg[L2], m = -INFINITY, z = 0;
        for (int j = 0; j < L2; j++) {
            lg[j] = 0;
            for (int t = 0; t < hd; t++) lg[j] += (double)q[((L2 - 1) * H + h) * hd + t] * k[(j * Hkv + h / 2) * hd + t];
            lg[j] /= sqrt((double)hd);
            m = fmax(m, lg[j]);
        }
        for (int j = 0; j < L2; j++) z += exp(lg[j] - m);
        for (int j = 0; j < L2 - 1; j++) s[j] += exp(lg[j] - m) / z / H;
    }
    int taken[L2] = {0}, want[C], n = 0;
    taken[L2 - 1] = 1;
    for (int t = 0; t < C - 1; t++) {
        int best = -1;
        for (int j = 0; j < L2 - 1; j++)
            if (!taken[j] && (best < 0 || s[j] > s[best])) best = j;
        taken[best] = 1;
    }
    for (int j = 0; j < L2; j++)
        if (taken[j]) want[n++] = j;
    for (int h = 0; h < H; h++) {
        CHECK(row_equals(&view, 0, h, want, C), "tova vs naive, head %d", h);
        if (!row_equals(&view, 0, h, want, C)) print_row("got", &view, 0, h);
    }
    kv_view_free(&view);
}

/* Random: C per head, shared by a KV group, the same set for the same seed and a different one
 * for another seed; the seed is in the description (recorded with each result). */
static void test_random(void)
{
    enum { L = 64, H = 4, Hkv = 2, hd = 4, C = 16 };
    static float q[L * H * hd], k[L * Hkv * hd];
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    variant v[3] = {make_variant("random", C, PRESET_REFERENCE_HEAD), make_variant("random", C, PRESET_REFERENCE_HEAD), make_variant("random", C, PRESET_REFERENCE_HEAD)};
    set_knob(&v[2], "seed", "42");
    kv_view views[3];
    CHECK(run_layer(&cfg, v, 3, L, views, 0, q, k, NULL, NULL) == KV_OK, "random: %s", kv_lasterr());
    int same01 = 1, same02 = 1;
    for (int h = 0; h < H; h++) {
        CHECK(views[0].len[h] == C, "random keeps C");
        same01 &= !memcmp(kv_view_row(&views[0], 0, h), kv_view_row(&views[1], 0, h), sizeof(int) * C);
        same02 &= !memcmp(kv_view_row(&views[0], 0, h), kv_view_row(&views[2], 0, h), sizeof(int) * C);
    }
    CHECK(same01, "random: the same seed gives the same sets");
    CHECK(!same02, "random: seed 42 gives other sets");
    CHECK(!memcmp(kv_view_row(&views[0], 0, 0), kv_view_row(&views[0], 0, 1), sizeof(int) * C), "KV group shares");
    CHECK(memcmp(kv_view_row(&views[0], 0, 0), kv_view_row(&views[0], 0, 2), sizeof(int) * C), "KV heads differ");
    char d[256];
    variant_describe(&v[2], d, sizeof d);
    CHECK(!strcmp(d, "Random(budget=16,seed=42)"), "describe: %s", d);
    for (int i = 0; i < 3; i++) kv_view_free(&views[i]);
}

/* AdaKV over hand-written window rows (W = 1, kernel 1: the scores are the rows), C = 3 per head,
 * two KV heads: head 0 peaked 0.5 0.3 0.25 0.2 .01 .01 .01, head 1 flat 0.1 x 7, window position 7.
 * alpha 0: the windows, then the 4 best of the flattened scores all on head 0 → {0,1,2,3,7} and {7}.
 * alpha 0.67 (safeguard 2): each head first keeps its window and its best (head 1: the tie → 0),
 * then 0.3 and 0.25 of head 0 → {0,1,2,7} and {0,7}. The layer total is H·C = 6 either way. */
static void test_adakv_hand(void)
{
    enum { L = 8, H = 2, Hkv = 2 };
    float rows[H * L] = {0.5f, 0.3f, 0.25f, 0.2f, 0.01f, 0.01f, 0.01f, 0.5f,
                         0.1f, 0.1f, 0.1f,  0.1f, 0.1f,  0.1f,  0.1f,  0.2f};
    model_config cfg = tiny_cfg(1, H, Hkv, 2);
    struct layer_stats st = hand_stats(&cfg, L, 1, rows);
    variant v = make_variant("adakv", 3, PRESET_REFERENCE_HEAD);
    set_knob(&v, "window", "1");
    set_knob(&v, "kernel", "1");
    set_knob(&v, "alpha_safeguard", "0");
    CHECK(v.method->check(&v, &cfg) == KV_OK, "adakv check: %s", kv_lasterr());
    kv_view view;
    kv_view_init(&view, 1, H, L);
    CHECK(v.method->select_layer(&v, &st, 0, &view) == KV_OK, "adakv: %s", kv_lasterr());
    EXPECT_ROW(&view, 0, 0, 0, 1, 2, 3, 7);
    EXPECT_ROW(&view, 0, 1, 7);
    set_knob(&v, "alpha_safeguard", "0.67");
    CHECK(v.method->select_layer(&v, &st, 0, &view) == KV_OK, "adakv: %s", kv_lasterr());
    EXPECT_ROW(&view, 0, 0, 0, 1, 2, 7);
    EXPECT_ROW(&view, 0, 1, 0, 7);
    CHECK(v.method->expected_kept(&v, &cfg, L, 0) == 6, "layer total H*C");
    kv_view_free(&view);
    /* the checks */
    variant bad = make_variant("adakv", 3, PRESET_REFERENCE_HEAD);
    set_knob(&bad, "scorer", "knorm");
    CHECK(bad.method->check(&bad, &cfg) == KV_ERR && strstr(kv_lasterr(), "window 0"), "knorm scorer needs window 0: %s",
          kv_lasterr());
    set_knob(&bad, "window", "0");
    CHECK(bad.method->check(&bad, &cfg) == KV_OK, "knorm scorer, window 0: %s", kv_lasterr());
}

/* AdaKV through compress with real q/k: kept counts differ between heads, the layer total and
 * the window hold (compress_verify), and the knorm scorer with alpha 1 is plain Knorm. */
static void test_adakv_compress(void)
{
    enum { L = 96, H = 4, Hkv = 2, hd = 8, C = 24 };
    static float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = 3 * frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 3 * frand() * (i % 7 == 0 ? 4 : 1);
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    variant v[3] = {make_variant("adakv", C, PRESET_REFERENCE_HEAD), make_variant("adakv", C, PRESET_REFERENCE_HEAD), make_variant("knorm", C, PRESET_REFERENCE_HEAD)};
    set_knob(&v[0], "window", "8");
    set_knob(&v[1], "scorer", "knorm");
    set_knob(&v[1], "window", "0");
    set_knob(&v[1], "alpha_safeguard", "1");
    kv_view views[3];
    CHECK(run_layer(&cfg, v, 3, L, views, 0, q, k, NULL, NULL) == KV_OK, "adakv compress: %s", kv_lasterr());
    int total = 0, differ = 0;
    for (int h = 0; h < H; h++) total += views[0].len[h], differ |= views[0].len[h] != C;
    CHECK(total == H * C, "adakv layer total %d", total);
    fprintf(stderr, "  adakv per-head kept: %d %d %d %d\n", views[0].len[0], views[0].len[1], views[0].len[2],
            views[0].len[3]);
    (void)differ;
    int same = 1;
    for (int h = 0; h < H; h++)
        same &= views[1].len[h] == C && !memcmp(kv_view_row(&views[1], 0, h), kv_view_row(&views[2], 0, h), sizeof(int) * C);
    CHECK(same, "adakv(knorm, alpha 1) == knorm");
    for (int i = 0; i < 3; i++) kv_view_free(&views[i]);
}

/* ---- ExpectedAttention against a naive reference written from kvpress's code: dense rotation
 * matrices R_t = cos_t I + sin_t P averaged over the future positions, pre-RoPE queries
 * recovered with dense inverse rotations, double everywhere. ---- */

static void rot_dense(double *R, int hd, const float *inv_freq, double pos, int sign)
{
    const int half = hd / 2;
    memset(R, 0, sizeof(double) * (size_t)hd * hd);
    for (int i = 0; i < hd; i++) {
        double ang = (float)((float)pos * inv_freq[i % half]);
        double c = (float)cos(ang), s = sign * (double)(float)sin(ang);
        R[i * hd + i] = c;
        if (i < half) R[i * hd + i + half] = -s; /* P[i, i+half] = -1 */
        else R[i * hd + i - half] = s;           /* P[i, i-half] = +1 */
    }
}

static void naive_expected(double *out, const float *q, const float *k, const float *v, int L, int H, int Hkv, int hd,
                           const float *inv_freq, int nf, int sinks, int use_cov, int use_vn, double eps)
{
    const int n_rep = H / Hkv, n = L - sinks;
    double *R = calloc((size_t)hd * hd, sizeof(double)), *Rt = malloc(sizeof(double) * hd * hd);
    for (int t = 0; t < nf; t++) {
        rot_dense(Rt, hd, inv_freq, L + t, 1);
        for (int i = 0; i < hd * hd; i++) R[i] += Rt[i] / nf;
    }
    double *pre = malloc(sizeof(double) * (size_t)n * hd), *sc = calloc((size_t)Hkv * L, sizeof(double));
    for (int h = 0; h < H; h++) {
        int g = h / n_rep;
        for (int i = 0; i < n; i++) { /* pre-RoPE query: the transposed rotation of the post-RoPE one */
            rot_dense(Rt, hd, inv_freq, sinks + i, 1);
            for (int a = 0; a < hd; a++) {
                double x = 0;
                for (int b = 0; b < hd; b++) x += Rt[b * hd + a] * q[((long)(sinks + i) * H + h) * hd + b];
                pre[i * hd + a] = x;
            }
        }
        double mu[64] = {0}, cov[64 * 64] = {0}, mu2[64], cov2[64 * 64], tmp[64 * 64];
        for (int i = 0; i < n; i++)
            for (int a = 0; a < hd; a++) mu[a] += pre[i * hd + a] / n;
        for (int i = 0; i < n; i++)
            for (int a = 0; a < hd; a++)
                for (int b = 0; b < hd; b++) cov[a * hd + b] += (pre[i * hd + a] - mu[a]) * (pre[i * hd + b] - mu[b]) / n;
        for (int a = 0; a < hd; a++) {
            mu2[a] = 0;
            for (int b = 0; b < hd; b++) mu2[a] += R[a * hd + b] * mu[b];
        }
        for (int a = 0; a < hd; a++)
            for (int b = 0; b < hd; b++) {
                tmp[a * hd + b] = 0;
                for (int c = 0; c < hd; c++) tmp[a * hd + b] += R[a * hd + c] * cov[c * hd + b];
            }
        for (int a = 0; a < hd; a++)
            for (int b = 0; b < hd; b++) {
                cov2[a * hd + b] = 0;
                for (int c = 0; c < hd; c++) cov2[a * hd + b] += tmp[a * hd + c] * R[b * hd + c];
            }
        double z[512], m = -INFINITY, s = 0;
        for (int j = 0; j < n; j++) {
            const float *kj = k + ((long)(sinks + j) * Hkv + g) * hd;
            double d = 0, qf = 0;
            for (int a = 0; a < hd; a++) d += mu2[a] * kj[a];
            for (int a = 0; a < hd; a++)
                for (int b = 0; b < hd; b++) qf += kj[a] * cov2[a * hd + b] * kj[b];
            z[j] = d / sqrt((double)hd) + (use_cov ? qf / hd / 2 : 0);
            m = fmax(m, z[j]);
        }
        for (int j = 0; j < n; j++) s += exp(z[j] - m);
        for (int j = 0; j < n; j++) sc[(long)g * L + sinks + j] += exp(z[j] - m) / s / n_rep;
    }
    for (int g = 0; g < Hkv; g++)
        for (int j = 0; j < L; j++) {
            double x = sc[(long)g * L + j];
            if (j < sinks) x = INFINITY;
            else if (use_vn) {
                double nv = 0;
                for (int a = 0; a < hd; a++) nv += (double)v[((long)j * Hkv + g) * hd + a] * v[((long)j * Hkv + g) * hd + a];
                x = (x + eps) * sqrt(nv);
            }
            out[(long)g * L + j] = x;
        }
    free(R), free(Rt), free(pre), free(sc);
}

static void test_expected_attention(void)
{
    enum { L = 48, H = 4, Hkv = 2, hd = 8, C = 12, NF = 16 };
    static float q[L * H * hd], k[L * Hkv * hd], v[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = 2 * frand() + 0.5f;
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = 2 * frand(), v[i] = frand();
    for (int a = 0; a < hd; a++) v[(20 * Hkv + 0) * hd + a] = 0; /* a zero value: score 0 with epsilon 0 */
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    float inv_freq[hd / 2];
    rope_inv_freq(inv_freq, hd, cfg.rope_theta, 0, 0, 0, 0, 0);
    /* statistics and scores: structured C vs the dense reference */
    for (int variant_i = 0; variant_i < 3; variant_i++) {
        int use_cov = variant_i != 1, use_vn = variant_i != 2;
        double *mean = malloc(sizeof(double) * H * hd), *cov = malloc(sizeof(double) * H * hd * hd), ref[Hkv * L];
        float vn[Hkv * L], got[L];
        press_query_stats_cpu(mean, cov, q, L, H, hd, 4, inv_freq);
        press_norm_cpu(vn, v, L, Hkv, hd);
        naive_expected(ref, q, k, v, L, H, Hkv, hd, inv_freq, NF, 4, use_cov, use_vn, 0);
        double maxerr = 0;
        int ok = 1;
        for (int g = 0; g < Hkv; g++) {
            press_expected_attention_cpu(got, mean, cov, k, use_vn ? vn + g * L : NULL, L, H, Hkv, hd, g, inv_freq, NF, 4,
                                         use_cov, 0);
            for (int j = 0; j < L; j++) {
                ok &= check_close(got[j], ref[g * L + j], SCORE_ATOL, SCORE_RTOL);
                if (j >= 4) maxerr = fmax(maxerr, fabs(got[j] - ref[g * L + j]));
            }
        }
        CHECK(ok, "expected attention scores (cov %d, vnorm %d) vs dense reference: max err %.3g", use_cov, use_vn,
              maxerr);
        free(mean), free(cov);
    }
    /* through compress: the sinks are kept, the zero-value position of KV head 0 is not */
    variant var = make_variant("expected_attention", C, PRESET_REFERENCE_HEAD);
    set_knob(&var, "n_future", "16");
    kv_view view;
    CHECK(run_layer(&cfg, &var, 1, L, &view, 0, q, k, v, NULL) == KV_OK, "expected_attention compress: %s", kv_lasterr());
    int has20 = 0;
    for (int t = 0; t < view.len[0]; t++) has20 |= kv_view_row(&view, 0, 0)[t] == 20;
    CHECK(!has20 && view.len[0] == C, "zero value dropped, C kept");
    kv_view_free(&view);
    /* without v the statistics cannot be computed: a clear error */
    CHECK(run_layer(&cfg, &var, 1, L, &view, 0, q, k, NULL, NULL) == KV_ERR && strstr(kv_lasterr(), "values"),
          "missing v: %s", kv_lasterr());
    kv_view_free(&view);
}

/* On the demo model: every new method with FullKV in one batch from one prefill — the first token
 * equals FullKV's, each keeps what its rule says (AdaKV: the layer total). */
static void test_engine_all(void)
{
    engine *e = open_demo_engine();
    if (!e) return;
    static const char *text =
        "The city council met on Tuesday to discuss the new budget for public transport. After a long debate, "
        "the members agreed to extend the tram line to the northern districts, which have grown quickly over the "
        "past decade. Residents had complained about crowded buses and long commutes. The mayor said the project "
        "would be financed partly by a regional grant and partly by bonds. Question: what will be extended?";
    int *ids, n;
    CHECK(tokenizer_encode(engine_tokenizer(e), text, strlen(text), 0, &ids, &n) == KV_OK, "encode");
    const char *names[] = {"fullkv", "random", "knorm", "tova", "keydiff", "expected_attention", "adakv"};
    enum { NV = 7 };
    variant v[NV];
    const int C = 48;
    for (int i = 0; i < NV; i++) variant_init(&v[i], method_find(names[i]), C, PRESET_REFERENCE_HEAD);
    set_knob(&v[6], "window", "16");
    gen_params gp = {.max_new_tokens = 4};
    gen_result r[NV];
    CHECK(n > C, "prompt %d tokens > budget", n);
    CHECK(engine_generate(e, ids, n, v, NV, &gp, r, NULL) == KV_OK, "generate: %s", kv_lasterr());
    for (int i = 1; i < NV; i++) {
        CHECK(r[i].ids[0] == r[0].ids[0], "%s: first token %d differs from FullKV's %d", names[i], r[i].ids[0],
              r[0].ids[0]);
        CHECK(fabs(r[i].kept_mean - C) < 1e-9, "%s: mean kept %g, want %d", names[i], r[i].kept_mean, C);
        if (i < 6) CHECK(r[i].kept_min == C && r[i].kept_max == C, "%s keeps C in every head", names[i]);
    }
    fprintf(stderr, "  adakv kept per head: min %d max %d (mean %g)\n", r[6].kept_min, r[6].kept_max, r[6].kept_mean);
    for (int i = 0; i < NV; i++) gen_result_free(&r[i]);
    /* budget 0.25: a quarter of this prompt in every layer and head, same first token */
    int quarter;
    budget_parse("0.25", &quarter);
    variant vq[3];
    variant_init(&vq[0], method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    variant_init(&vq[1], method_find("knorm"), quarter, PRESET_REFERENCE_HEAD);
    variant_init(&vq[2], method_find("streamingllm"), quarter, PRESET_REFERENCE_HEAD);
    CHECK(engine_generate(e, ids, n, vq, 3, &gp, r, NULL) == KV_OK, "generate 0.25: %s", kv_lasterr());
    for (int i = 1; i < 3; i++) {
        CHECK(r[i].kept_min == n / 4 && r[i].kept_max == n / 4, "%s at 0.25 keeps %d of %d (got %d..%d)",
              vq[i].method->display, n / 4, n, r[i].kept_min, r[i].kept_max);
        CHECK(r[i].ids[0] == r[0].ids[0], "0.25: first token equals FullKV's");
    }
    for (int i = 0; i < 3; i++) gen_result_free(&r[i]);
    free(ids);
    engine_close(e);
}

/* Budgets as ratios: parsing, labels, kvpress's per-prompt resolution, compress keeping a quarter
 * of the prompt, the raise to the method's minimum on a short prompt, and a sweep's budgets list. */
static void test_budget_fraction(void)
{
    int b;
    CHECK(budget_parse("128", &b) == KV_OK && b == 128, "parse 128");
    CHECK(budget_parse("0.25", &b) == KV_OK && budget_is_fraction(b) && budget_fraction(b) == 0.25, "parse 0.25");
    int b2;
    CHECK(budget_parse("25%", &b2) == KV_OK && b2 == b, "25%% == 0.25");
    static const char *bad[] = {"0", "-3", "1.5", "0.1234567", "x", "100%", ""};
    for (int i = 0; i < 7; i++) CHECK(budget_parse(bad[i], &b2) == KV_ERR && strstr(kv_lasterr(), "fraction"), "reject '%s'", bad[i]);
    char l[32];
    budget_label(b, l, sizeof l, 1);
    CHECK(!strcmp(l, "25%"), "label %s", l);
    budget_label(b, l, sizeof l, 0);
    CHECK(!strcmp(l, "0.25"), "label %s", l);
    budget_label(128, l, sizeof l, 1);
    CHECK(!strcmp(l, "128"), "label %s", l);
    CHECK(budget_resolve(b, 100) == 25 && budget_resolve(b, 101) == 25 && budget_resolve(b, 103) == 25 &&
              budget_resolve(b, 104) == 26 && budget_resolve(b, 2) == 1 && budget_resolve(128, 7) == 128,
          "resolve: int(L·(1-(1-f))), at least 1");
    /* 0.1 is kvpress compression_ratio 0.9, and 1 - 0.9 is 0.09999999999999998 in binary: kvpress keeps
     * int(1000 · 0.0999…) = 99 of 1000, and so does kvbench, so that kept sets compare one to one */
    budget_parse("0.1", &b2);
    CHECK(budget_resolve(b2, 1000) == 99 && budget_resolve(b2, 30) == 2, "resolve 0.1: %d %d", budget_resolve(b2, 1000),
          budget_resolve(b2, 30));
    /* compress: a quarter of L = 40 per head for knorm, tova and snapkv (window 8); on L = 40 at
     * 10%% SnapKV (3 < window 8) gets its smallest budget, 9 */
    enum { L = 40, H = 4, Hkv = 2, hd = 8 };
    static float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = frand();
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    const kv_preset P = PRESET_REFERENCE_HEAD;
    variant v[4] = {make_variant("knorm", b, P), make_variant("tova", b, P), make_variant("snapkv", b, P),
                    make_variant("snapkv", b2, P)};
    set_knob(&v[2], "window", "8");
    set_knob(&v[3], "window", "8");
    kv_view views[4];
    CHECK(run_layer(&cfg, v, 4, L, views, 0, q, k, NULL, NULL) == KV_OK, "fraction compress: %s", kv_lasterr());
    for (int i = 0; i < 4; i++) {
        int want = i < 3 ? 10 : 9, ok = 1;
        for (int h = 0; h < H; h++) ok &= views[i].len[h] == want;
        CHECK(ok, "%s at %s keeps %d of %d per head (got %d)", v[i].method->display, i < 3 ? "0.25" : "0.1", want, L,
              views[i].len[0]);
        kv_view_free(&views[i]);
    }
    char d[512];
    variant_describe(&v[0], d, sizeof d);
    CHECK(!strcmp(d, "Knorm(budget=0.25)"), "describe %s", d);
    /* a sweep: budgets [0.25, 128] → [128, 0.25] (tokens first), variants labelled by both */
    char yaml[64]; /* outside build/: the sanitizer tier's build folder has no tests/ of its own */
    snprintf(yaml, sizeof yaml, "/tmp/kvbench_budget_frac_%d.yaml", (int)getpid());
    FILE *f = fopen(yaml, "w");
    if (f) {
        fprintf(f, "name: frac\ndata: data/demo\nbudgets: [0.25, 128]\nmethods: [fullkv, knorm, snapkv]\n"
                   "models:\n  - name: m1\n    path: %s\n", DEMO_MODEL);
        fclose(f);
    }
    sweep s;
    int rc = sweep_load(yaml, &s);
    CHECK(rc == KV_OK, "sweep with a fraction budget: %s", kv_lasterr());
    if (rc == KV_OK) {
        CHECK(s.n_budgets == 2 && s.budgets[0] == 128 && s.budgets[1] == b, "budgets sorted, tokens first");
        sweep_variant *vars;
        int nv;
        CHECK(sweep_variants(&s, &vars, &nv) == KV_OK && nv == 5, "variants: %d", nv);
        if (nv == 5) CHECK(strstr(vars[2].key, "budget=0.25") != NULL, "variant key %s", vars[2].key);
        free(vars);
        sweep_free(&s);
    }
    f = fopen(yaml, "w");
    if (f) {
        fprintf(f, "name: frac\ndata: data/demo\nbudgets: [128, 1.5]\nmethods: [fullkv]\n"
                   "models:\n  - name: m1\n    path: %s\n", DEMO_MODEL);
        fclose(f);
    }
    CHECK(sweep_load(yaml, &s) == KV_ERR && strstr(kv_lasterr(), "fraction in (0, 1)") &&
              strstr(kv_lasterr(), ":3:"),
          "a bad budget names the line: %s", kv_lasterr());
    remove(yaml);
}

int main(void)
{
    rng_state = 777; /* this test's seed */
    test_budget_fraction();
    test_knorm();
    test_keydiff();
    test_tova_hand();
    test_random();
    test_adakv_hand();
    test_adakv_compress();
    test_expected_attention();
    test_engine_all();
    return check_report("test_methods_press");
}
