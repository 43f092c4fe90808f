/* test_cuda_stats: the engine's compression statistics on the CUDA backend (engine/stats_backend.c
 * calling window_softmax_cuda / h2o_colsum_cuda through the vtable, results to the host) against
 * compress_layer on the CPU, on the inputs of tests/stats_cases.h: every statistics buffer within
 * the kernel tolerances of test_cuda_kernels, and every variant's kept positions identical. Once
 * on one device rank and once as two ranks whose all-gather is device-to-device copies (the
 * layout NCCL gives), so both device paths of the engine run; and once with the LSE the engine
 * really hands over — the device prefill attention's (tensor-core, bf16-rounded q·k with the
 * default bf16 weights) — instead of the CPU's: the H2O sums must not mix its statistics with
 * fp32 logits (issue 13). Without a GPU it prints why it skipped and exits 0 without a pass count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/comm.h"
#include "engine/stats_backend.h"
#include "kernels/scoring.h"
#include "tests/check.h"
#include "tests/cuda/scoring_tolerances.h"
#include "tests/stats_cases.h"

#define DEV_MAX_CALLS 16
#define MAX_RANKS 2

/* Two ranks on one device, run one after the other: each all-gather deposits the rank's block in
 * the slot of that call (device memory) and returns every block so far, so the last rank of a
 * layer receives what NCCL would give every rank. */
typedef struct {
    backend *be;
    int size;
    float *slot[DEV_MAX_CALLS];
    long n[DEV_MAX_CALLS];
} dev_world;

typedef struct {
    dev_world *w;
    int rank, calls;
} dev_rank;

static int dev_allgather(void *ctx, const float *send, float *recv, long n)
{
    dev_rank *f = ctx;
    dev_world *w = f->w;
    int c = f->calls++;
    if (c >= DEV_MAX_CALLS || (w->slot[c] && w->n[c] != n)) {
        kv_seterr("device allgather: call %d of %ld floats refused", c, n);
        return KV_ERR;
    }
    if (!w->slot[c]) {
        w->slot[c] = w->be->alloc(w->be->ctx, sizeof(float) * (size_t)w->size * (size_t)n);
        w->n[c] = n;
    }
    w->be->copy(w->be->ctx, w->slot[c] + (long)f->rank * n, send, sizeof(float) * (size_t)n);
    w->be->copy(w->be->ctx, recv, w->slot[c], sizeof(float) * (size_t)w->size * (size_t)n);
    return KV_OK;
}

/* Rank r's slices of q, k, lse uploaded to the device buffers dq, dk, dl. */
static void upload_rank(backend *g, const float *q, const float *k, const float *lse, int T, int r, float *dq,
                        float *dk, float *dl)
{
    const int Hl = SC_H / T, Hkvl = SC_HKV / T;
    float *ql = kv_malloc(sizeof(float) * SC_L * Hl * SC_HD), *kl = kv_malloc(sizeof(float) * SC_L * Hkvl * SC_HD);
    for (int i = 0; i < SC_L; i++) {
        memcpy(ql + (long)i * Hl * SC_HD, q + ((long)i * SC_H + (long)r * Hl) * SC_HD, sizeof(float) * Hl * SC_HD);
        memcpy(kl + (long)i * Hkvl * SC_HD, k + ((long)i * SC_HKV + (long)r * Hkvl) * SC_HD,
               sizeof(float) * Hkvl * SC_HD);
    }
    g->to_device(g->ctx, dq, ql, sizeof(float) * SC_L * Hl * SC_HD);
    g->to_device(g->ctx, dk, kl, sizeof(float) * SC_L * Hkvl * SC_HD);
    g->to_device(g->ctx, dl, lse + (long)r * Hl * SC_L, sizeof(float) * Hl * SC_L);
    g->sync(g->ctx);
    free(ql);
    free(kl);
}

static void check_buffer(const char *what, const char *stat, int layer, const float *got, const float *ref, long n,
                         double atol, double rtol)
{
    double err;
    int ok = check_close_array(got, ref, n, atol, rtol, &err);
    CHECK(ok, "%s layer %d: %s: max |cuda - cpu| %.3g over %ld values (atol %g, rtol %g)", what, layer, stat, err, n,
          atol, rtol);
}

/* 0: the statistics come to the host and are compared with the CPU's (KVBENCH_DEVICE_SELECT=0);
 * 1: they stay on the device, the CUDA selection ops select (issue 16) and only the kept sets —
 * compared with the CPU's — come back. */
static int device_select;

/* device_lse (T = 1): dl is overwritten by the backend's own prefill attention over q, k (k as v). */
static void run_config(backend *g, const char *what, int T, int device_lse, float *const *q, float *const *k,
                       float *const *lse)
{
    model_config cfg = sc_cfg();
    variant vs[SC_MAX_VARIANTS];
    int fp16[SC_MAX_VARIANTS];
    const int nv = sc_variants(vs, fp16);
    kv_view vc[SC_MAX_VARIANTS], vg[SC_MAX_VARIANTS];
    for (int i = 0; i < nv; i++) {
        kv_view_init(&vc[i], SC_LAYERS, SC_H, SC_L);
        kv_view_init(&vg[i], SC_LAYERS, SC_H, SC_L);
    }
    compress_ctx *cc = compress_new(&cfg, vs, nv, SC_L, vc), *cg = compress_new(&cfg, vs, nv, SC_L, vg);
    CHECK(cc && cg, "%s: compress_new: %s", what, kv_lasterr());
    if (!cc || !cg) return;
    const struct layer_stats *sc = compress_layer_stats(cc), *sg = compress_layer_stats(cg);
    const int Hl = SC_H / T, Hkvl = SC_HKV / T;
    dev_world world = {.be = g, .size = T};
    dev_rank fr[MAX_RANKS];
    comm cm[MAX_RANKS];
    stats_backend sb[MAX_RANKS];
    float *dq = g->alloc(g->ctx, sizeof(float) * SC_L * Hl * SC_HD);
    float *dk = g->alloc(g->ctx, sizeof(float) * SC_L * Hkvl * SC_HD);
    float *dl = g->alloc(g->ctx, sizeof(float) * Hl * SC_L);
    float *datt = device_lse ? g->alloc(g->ctx, sizeof(float) * SC_L * Hl * SC_HD) : NULL;
    int status = KV_OK;
    for (int r = 0; r < T && status == KV_OK; r++) {
        fr[r] = (dev_rank){.w = &world, .rank = r};
        cm[r] = (comm){.size = T, .rank = r, .ctx = &fr[r], .allgather = dev_allgather};
        status = stats_backend_open(&sb[r], g, T > 1 ? &cm[r] : NULL, cg, SC_L, Hl, Hkvl, SC_HD);
    }
    CHECK(status == KV_OK, "%s: stats_backend_open: %s", what, kv_lasterr());
    for (int l = 0; l < SC_LAYERS && status == KV_OK; l++) {
        CHECK(compress_layer(cc, l, q[l], k[l], lse[l]) == KV_OK, "%s layer %d: cpu compress_layer: %s", what, l,
              kv_lasterr());
        for (int r = 0; r < T && status == KV_OK; r++) {
            upload_rank(g, q[l], k[l], lse[l], T, r, dq, dk, dl);
            if (device_lse) g->attention_prefill(g->ctx, datt, dl, dq, dk, dk, SC_L, Hl, Hkvl, SC_HD);
            fr[r].calls = 0;
            status = stats_backend_compute(&sb[r], dq, dk, NULL, dl);
        }
        if (status == KV_OK && device_select) /* issue 16: selection on the device, the kept sets to the host */
            for (int r = 0; r < T && status == KV_OK; r++) status = stats_backend_select(&sb[r], l);
        CHECK(status == KV_OK, "%s layer %d: stats_backend_compute: %s", what, l, kv_lasterr());
        if (status != KV_OK) break;
        if (!device_select) check_buffer(what, "window rows", l, sg->win[SCORE_FP32], sc->win[SCORE_FP32],
                     (long)SC_H * sc->wmax[SCORE_FP32] * SC_L, WIN_ATOL, WIN_RTOL);
        if (!device_select) check_buffer(what, "fp16 window rows", l, sg->win[SCORE_FP16], sc->win[SCORE_FP16],
                     (long)SC_H * sc->wmax[SCORE_FP16] * SC_L, WIN16_ATOL, WIN16_RTOL);
        /* fp16 logits: one half ulp of a logit moves a row like the fp16 rows' */
        if (!device_select) check_buffer(what, "fp16-logit window rows", l, sg->win[SCORE_FP16_LOGITS], sc->win[SCORE_FP16_LOGITS],
                     (long)SC_H * sc->wmax[SCORE_FP16_LOGITS] * SC_L, WIN16_ATOL, WIN16_RTOL);
        for (int t = 0; t < sc->n_h2o && !device_select; t++) {
            char stat[96];
            snprintf(stat, sizeof stat, "H2O column sums (mode %d, window %d, fp16 %d)", sc->h2o[t].mode,
                     sc->h2o[t].window, sc->h2o[t].fp16);
            check_buffer(what, stat, l, sg->h2o[t].colsum, sc->h2o[t].colsum, (long)SC_H * (SC_L - sc->h2o[t].window),
                         sc->h2o[t].fp16 ? H2O16_ATOL : H2O_ATOL, sc->h2o[t].fp16 ? H2O16_RTOL : H2O_RTOL);
        }
        CHECK(compress_select_layer(cg, l) == KV_OK, "%s layer %d: compress_select_layer: %s", what, l,
              kv_lasterr());
    }
    /* The inputs' salience keeps the ranked scores far apart compared with the tolerances above,
     * so the selections must not differ at all. */
    for (int i = 0; i < nv; i++) {
        char d[512];
        variant_describe(&vs[i], d, sizeof d);
        int bad = sc_rows_differing(&vc[i], &vg[i]);
        CHECK(bad == 0, "%s: %s: %d of %d (layer, head) rows keep other positions than the CPU's", what, d, bad,
              SC_LAYERS * SC_H);
    }
    for (int r = 0; r < T; r++) stats_backend_close(&sb[r]);
    for (int c = 0; c < DEV_MAX_CALLS; c++)
        if (world.slot[c]) g->free(g->ctx, world.slot[c]);
    g->free(g->ctx, dq), g->free(g->ctx, dk), g->free(g->ctx, dl);
    if (datt) g->free(g->ctx, datt);
    compress_free(cc), compress_free(cg);
    for (int i = 0; i < nv; i++) kv_view_free(&vc[i]), kv_view_free(&vg[i]);
}

int main(void)
{
    backend g;
    if (backend_open("cuda", 0, NULL, &g) != KV_OK) {
        printf("test_cuda_stats: skipped, no CUDA device (%s)\n", kv_lasterr());
        return 0;
    }
    float *q[SC_LAYERS], *k[SC_LAYERS], *lse[SC_LAYERS];
    for (int l = 0; l < SC_LAYERS; l++) sc_layer_inputs(&q[l], &k[l], &lse[l]);
    setenv("KVBENCH_DEVICE_SELECT", "0", 1);
    run_config(&g, "cuda, one rank", 1, 0, q, k, lse);
    run_config(&g, "cuda, two ranks gathered on the device", 2, 0, q, k, lse);
    run_config(&g, "cuda, one rank, LSE of the device's prefill attention", 1, 1, q, k, lse);
    setenv("KVBENCH_DEVICE_SELECT", "1", 1);
    device_select = 1;
    run_config(&g, "cuda device selection, one rank", 1, 0, q, k, lse);
    run_config(&g, "cuda device selection, two ranks gathered on the device", 2, 0, q, k, lse);
    run_config(&g, "cuda device selection, one rank, LSE of the device's prefill attention", 1, 1, q, k, lse);
    for (int l = 0; l < SC_LAYERS; l++) free(q[l]), free(k[l]), free(lse[l]);
    backend_close(&g);
    return check_report("test_cuda_stats");
}
