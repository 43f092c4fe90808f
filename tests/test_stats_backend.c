/* test_stats_backend: the engine's statistics path (engine/stats_backend.c: the backend's
 * window_softmax / h2o_colsum per rank, all-gathered over the tensor-parallel group, then
 * compress_select_layer) against compress_layer on host arrays, through the CPU backend: straight
 * into the host buffers, through backend buffers and to_host (the path of device backends), and
 * as 2 and 3 ranks each computing only its own block of heads from its own slices of q, k and
 * lse (an in-process communicator stands in for MPI). Every statistic must be bit-identical and
 * every variant's kept positions identical — the TP tests compare generated text, this compares
 * the selections themselves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/comm.h"
#include "engine/stats_backend.h"
#include "kernels/scoring.h"
#include "tests/check.h"
#include "tests/stats_cases.h"
#include "tests/fake_tp.h"

/* Rank r's slices: query heads [r*Hl, (r+1)*Hl), KV heads [r*Hkvl, ...), lse rows of its heads. */
static void rank_slices(const float *q, const float *k, const float *lse, int T, int r, float *ql, float *kl,
                        float *lsel)
{
    const int Hl = SC_H / T, Hkvl = SC_HKV / T;
    for (int i = 0; i < SC_L; i++) {
        memcpy(ql + (long)i * Hl * SC_HD, q + (long)i * SC_H * SC_HD + (long)r * Hl * SC_HD,
               sizeof(float) * Hl * SC_HD);
        memcpy(kl + (long)i * Hkvl * SC_HD, k + (long)i * SC_HKV * SC_HD + (long)r * Hkvl * SC_HD,
               sizeof(float) * Hkvl * SC_HD);
    }
    memcpy(lsel, lse + (long)r * Hl * SC_L, sizeof(float) * Hl * SC_L);
}

/* Bit equality of every statistics buffer of the two contexts (same variants, same shapes). */
static int stats_identical(compress_ctx *a, compress_ctx *b, const char *what, int layer)
{
    const struct layer_stats *sa = compress_layer_stats(a), *sb = compress_layer_stats(b);
    int ok = 1;
    const long H = SC_H, L = SC_L;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++)
        if (sa->win[p] && memcmp(sa->win[p], sb->win[p], sizeof(float) * H * sa->wmax[p] * L)) ok = 0;
    for (int t = 0; t < sa->n_h2o; t++)
        if (memcmp(sa->h2o[t].colsum, sb->h2o[t].colsum, sizeof(float) * H * (L - sa->h2o[t].window))) ok = 0;
    if (!ok) fprintf(stderr, "  %s, layer %d: statistics differ from compress_layer's\n", what, layer);
    return ok;
}

/* One configuration: T ranks (1: no communicator) on the CPU backend with host_memory as given. */
static void run_config(const char *what, int T, int host_memory, float *const *q, float *const *k,
                       float *const *lse)
{
    model_config cfg = sc_cfg();
    variant vs[SC_MAX_VARIANTS];
    int fp16[SC_MAX_VARIANTS];
    const int nv = sc_variants(vs, fp16);
    kv_view va[SC_MAX_VARIANTS], vb[SC_MAX_VARIANTS];
    for (int i = 0; i < nv; i++) {
        kv_view_init(&va[i], SC_LAYERS, SC_H, SC_L);
        kv_view_init(&vb[i], SC_LAYERS, SC_H, SC_L);
    }
    compress_ctx *ca = compress_new(&cfg, vs, nv, SC_L, va), *cb = compress_new(&cfg, vs, nv, SC_L, vb);
    CHECK(ca && cb, "%s: compress_new: %s", what, kv_lasterr());
    if (!ca || !cb) return;
    const struct layer_stats *st = compress_layer_stats(cb);
    CHECK(st->wmax[SCORE_FP32] == 32 && st->wmax[SCORE_FP16] == 8 && st->wmax[SCORE_FP16_LOGITS] == 24 &&
              st->n_h2o == 6,
          "%s: needs wmax %d/%d/%d (fp32/fp16/fp16 logits), %d H2O settings", what, st->wmax[SCORE_FP32],
          st->wmax[SCORE_FP16], st->wmax[SCORE_FP16_LOGITS], st->n_h2o);

    backend be;
    backend_cpu_open(0, &be);
    be.host_memory = host_memory; /* 0: the CPU backend's buffers take the to_host path */
    const int Hl = SC_H / T, Hkvl = SC_HKV / T;
    fake_world world = {.size = T};
    fake_rank fr[SC_H];
    comm cm[SC_H];
    stats_backend sb[SC_H];
    int status = KV_OK;
    fake_group(&world, T, fr, cm);
    for (int r = 0; r < T && status == KV_OK; r++)
        status = stats_backend_open(&sb[r], &be, T > 1 ? &cm[r] : NULL, cb, SC_L, Hl, Hkvl, SC_HD);
    CHECK(status == KV_OK, "%s: stats_backend_open: %s", what, kv_lasterr());
    float *ql = kv_malloc(sizeof(float) * SC_L * Hl * SC_HD), *kl = kv_malloc(sizeof(float) * SC_L * Hkvl * SC_HD);
    float *lsel = kv_malloc(sizeof(float) * Hl * SC_L);
    for (int l = 0; l < SC_LAYERS && status == KV_OK; l++) {
        CHECK(compress_layer(ca, l, q[l], k[l], lse[l]) == KV_OK, "%s layer %d: compress_layer: %s", what, l,
              kv_lasterr());
        for (int r = 0; r < T && status == KV_OK; r++) {
            rank_slices(q[l], k[l], lse[l], T, r, ql, kl, lsel);
            fr[r].calls = 0;
            status = stats_backend_compute(&sb[r], ql, kl, NULL, lsel);
        }
        CHECK(status == KV_OK, "%s layer %d: stats_backend_compute: %s", what, l, kv_lasterr());
        CHECK(stats_identical(ca, cb, what, l), "%s layer %d: bit-identical statistics", what, l);
        CHECK(compress_select_layer(cb, l) == KV_OK, "%s layer %d: compress_select_layer: %s", what, l,
              kv_lasterr());
    }
    for (int i = 0; i < nv; i++) {
        char d[512];
        variant_describe(&vs[i], d, sizeof d);
        int bad = sc_rows_differing(&va[i], &vb[i]);
        CHECK(bad == 0, "%s: %s: %d of %d (layer, head) rows keep other positions than compress_layer's", what, d,
              bad, SC_LAYERS * SC_H);
    }
    for (int r = 0; r < T; r++) stats_backend_close(&sb[r]);
    backend_close(&be);
    fake_world_free(&world);
    free(ql), free(kl), free(lsel);
    compress_free(ca), compress_free(cb);
    for (int i = 0; i < nv; i++) kv_view_free(&va[i]), kv_view_free(&vb[i]);
}

/* What must fail: a head split that does not tile the model, and a failing all-gather. */
static void test_errors(float *const *q, float *const *k, float *const *lse)
{
    model_config cfg = sc_cfg();
    variant vs[SC_MAX_VARIANTS];
    int fp16[SC_MAX_VARIANTS];
    const int nv = sc_variants(vs, fp16);
    kv_view vw[SC_MAX_VARIANTS];
    for (int i = 0; i < nv; i++) kv_view_init(&vw[i], SC_LAYERS, SC_H, SC_L);
    compress_ctx *c = compress_new(&cfg, vs, nv, SC_L, vw);
    CHECK(c != NULL, "compress_new: %s", kv_lasterr());
    if (!c) return;
    backend be;
    backend_cpu_open(0, &be);
    stats_backend sb;
    CHECK(stats_backend_open(&sb, &be, NULL, c, SC_L, SC_H / 2, SC_HKV / 2, SC_HD) == KV_ERR &&
              strstr(kv_lasterr(), "do not tile"),
          "half the heads on a single rank refused: %s", kv_lasterr());
    CHECK(stats_backend_open(&sb, &be, NULL, c, SC_L + 1, SC_H, SC_HKV, SC_HD) == KV_ERR,
          "a prompt length other than the compression's refused");
    fake_world world = {.size = 1, .fail = 1};
    fake_rank fr = {.w = &world};
    comm cm = {.size = 1, .rank = 0, .ctx = &fr, .allgather = fake_allgather};
    CHECK(stats_backend_open(&sb, &be, &cm, c, SC_L, SC_H, SC_HKV, SC_HD) == KV_OK, "open with a communicator: %s",
          kv_lasterr());
    CHECK(stats_backend_compute(&sb, q[0], k[0], NULL, lse[0]) == KV_ERR && strstr(kv_lasterr(), "refused"),
          "a failing all-gather is the compute's error: %s", kv_lasterr());
    stats_backend_close(&sb);
    CHECK(stats_backend_open(&sb, &be, NULL, c, SC_L, SC_H, SC_HKV, SC_HD) == KV_OK, "open: %s", kv_lasterr());
    CHECK(stats_backend_compute(&sb, q[0], k[0], NULL, NULL) == KV_ERR && strstr(kv_lasterr(), "log-sum-exp"),
          "H2O causal without the prefill's lse refused: %s", kv_lasterr());
    stats_backend_close(&sb);
    backend_close(&be);
    CHECK(compress_select_layer(c, SC_LAYERS) == KV_ERR && strstr(kv_lasterr(), "outside"),
          "compress_select_layer rejects a layer out of range: %s", kv_lasterr());
    compress_free(c);
    for (int i = 0; i < nv; i++) kv_view_free(&vw[i]);
}

int main(void)
{
    /* the host path of the statistics (device selection, which keeps them in backend memory, is
     * tests/test_select_device.c's) */
    setenv("KVBENCH_DEVICE_SELECT", "0", 1);
    float *q[SC_LAYERS], *k[SC_LAYERS], *lse[SC_LAYERS];
    for (int l = 0; l < SC_LAYERS; l++) sc_layer_inputs(&q[l], &k[l], &lse[l]);
    run_config("cpu, straight into the host buffers", 1, 1, q, k, lse);
    run_config("cpu, backend buffers + to_host", 1, 0, q, k, lse);
    run_config("2 ranks, gathered into the host buffers", 2, 1, q, k, lse);
    run_config("3 ranks, gathered into the host buffers", 3, 1, q, k, lse);
    run_config("3 ranks, gathered into backend buffers + to_host", 3, 0, q, k, lse);
    run_config("6 ranks, gathered into backend buffers + to_host", 6, 0, q, k, lse);
    test_errors(q, k, lse);
    for (int l = 0; l < SC_LAYERS; l++) free(q[l]), free(k[l]), free(lse[l]);
    return check_report("test_stats_backend");
}
