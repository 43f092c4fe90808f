/* test_cuda_select: device selection (issue 16) on random Llama-3-8B-shaped layers (32 query heads,
 * 8 KV heads, head_dim 128) at an 8k prompt. Per layer the backend computes the statistics from
 * random q, k and its own prefill attention's LSE (engine/stats_backend.c), every variant with a
 * device step (SnapKV, PyramidKV, H2O in each mode, CircuitKV shared and per head) selects there
 * (engine/select_device.c on the CUDA selection ops) into a device view, and the same statistics,
 * copied to the host, go through the CPU ops (the host plug-ins, compress_select_layer). The kept
 * sets must be identical — the host rows the device selection exports and the device views the
 * decode reads — since both sides read the same statistics: only the selection ops are compared.
 * Without a GPU it prints why it skipped and exits 0. KVBENCH_CUDA_TEST_ON_CPU=1 runs the same
 * checks on the CPU's simulated device at L 512 (to check the test itself where no GPU is). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/stats_backend.h"
#include "tests/check.h"
#include "tests/stats_cases.h"

enum { LAYERS = 2, H = 32, HKV = 8, HD = 128, MAX_V = 8 };

/* Each device-selected method once or twice, budgets an eighth of the prompt. */
static int make_variants(variant *vs, int L)
{
    const int C = L / 8;
    int n = 0;
    vs[n++] = sc_variant("snapkv", C, PRESET_REFERENCE_HEAD, "window=32,kernel=7");
    vs[n++] = sc_variant("pyramidkv", C, PRESET_REFERENCE_HEAD, "window=32,beta=20");
    vs[n++] = sc_variant("h2o", C, PRESET_REFERENCE_HEAD, "window=32,mode=causal");
    vs[n++] = sc_variant("h2o", C, PRESET_REFERENCE_HEAD, "window=16,mode=upstream,fp16=1");
    vs[n++] = sc_variant("h2o", C, PRESET_REFERENCE_HEAD, "window=16,mode=prefix");
    vs[n++] = sc_variant("circuitkv", C, PRESET_REFERENCE_HEAD, "window=32");
    vs[n++] = sc_variant("circuitkv", C, PRESET_REFERENCE_HEAD, "window=32,per_head=1");
    return n;
}

/* The device statistics of the layer into the host buffers of st (the same plan). */
static void stats_to_host(backend *be, const struct layer_stats *dev, struct layer_stats *st, int L)
{
    for (int p = 0; p < LAYER_STATS_N_PREC; p++)
        if (st->win[p]) be->to_host(be->ctx, st->win[p], dev->win[p], sizeof(float) * (size_t)H * st->wmax[p] * L);
    for (int t = 0; t < st->n_h2o; t++)
        be->to_host(be->ctx, st->h2o[t].colsum, dev->h2o[t].colsum,
                    sizeof(float) * (size_t)H * (size_t)(L - st->h2o[t].window));
}

/* Rows (layer, head) of the device view dv that differ from the host view's kept rows. */
static int dview_rows_differing(backend *be, const kv_dview *dv, const kv_view *v)
{
    const long rows = (long)v->n_layers * v->n_heads;
    int *h = kv_malloc(sizeof(int) * (size_t)rows * dv->cap), bad = 0;
    be->to_host(be->ctx, h, dv->pos, sizeof(int) * (size_t)rows * dv->cap);
    for (long r = 0; r < rows; r++)
        bad += v->len[r] > dv->cap || memcmp(h + r * dv->cap, v->pos + r * v->cap, sizeof(int) * v->len[r]) != 0;
    free(h);
    return bad;
}

/* Random q, k of one layer (entries in ±SC_LOGIT_SCALE/sqrt(hd)) to the device. */
static void layer_upload(backend *be, float *dq, float *dk, int L)
{
    const long nq = (long)L * H * HD, nk = (long)L * HKV * HD;
    const float a = SC_LOGIT_SCALE / 11.3137f; /* sqrt(128) */
    float *q = kv_malloc(sizeof(float) * nq), *k = kv_malloc(sizeof(float) * nk);
    for (long i = 0; i < nq; i++) q[i] = a * sc_frand();
    for (long i = 0; i < nk; i++) k[i] = a * sc_frand();
    be->to_device(be->ctx, dq, q, sizeof(float) * nq);
    be->to_device(be->ctx, dk, k, sizeof(float) * nk);
    free(q), free(k);
}

static void run(backend *be, int L)
{
    model_config cfg = sc_cfg();
    cfg.n_layers = LAYERS, cfg.n_heads = H, cfg.n_kv_heads = HKV, cfg.head_dim = HD, cfg.dim = H * HD;
    variant vs[MAX_V];
    const int nv = make_variants(vs, L);
    kv_view vc[MAX_V], vg[MAX_V];
    kv_dview dv[MAX_V];
    memset(dv, 0, sizeof dv);
    for (int i = 0; i < nv; i++) kv_view_init(&vc[i], LAYERS, H, L), kv_view_init(&vg[i], LAYERS, H, L);
    compress_ctx *cc = compress_new(&cfg, vs, nv, L, vc), *cg = compress_new(&cfg, vs, nv, L, vg);
    CHECK(cc && cg, "compress_new: %s", kv_lasterr());
    if (!cc || !cg) return;
    compress_set_device_views(cg, dv, 1); /* device views, and the kept sets exported to the host rows */
    stats_backend sb;
    int status = stats_backend_open(&sb, be, NULL, cg, L, H, HKV, HD);
    CHECK(status == KV_OK && sb.device, "stats_backend_open: device selection %d: %s", sb.device, kv_lasterr());
    float *dq = be->alloc(be->ctx, sizeof(float) * L * H * HD), *dk = be->alloc(be->ctx, sizeof(float) * L * HKV * HD);
    float *datt = be->alloc(be->ctx, sizeof(float) * L * H * HD), *dl = be->alloc(be->ctx, sizeof(float) * H * L);
    for (int l = 0; l < LAYERS && status == KV_OK; l++) {
        layer_upload(be, dq, dk, L);
        be->attention_prefill(be->ctx, datt, dl, dq, dk, dk, L, H, HKV, HD);
        status = stats_backend_compute(&sb, dq, dk, NULL, dl);
        if (status == KV_OK) status = stats_backend_select(&sb, l);
        CHECK(status == KV_OK, "layer %d: device statistics and selection: %s", l, kv_lasterr());
        if (status != KV_OK) break;
        stats_to_host(be, &sb.dev, compress_layer_stats(cc), L);
        CHECK(compress_select_layer(cc, l) == KV_OK, "layer %d: the CPU ops: %s", l, kv_lasterr());
        CHECK(compress_select_layer(cg, l) == KV_OK, "layer %d: verify the device's: %s", l, kv_lasterr());
    }
    for (int i = 0; i < nv && status == KV_OK; i++) {
        char d[512];
        variant_describe(&vs[i], d, sizeof d);
        CHECK(compress_device_variant(cg, i) && dv[i].pos, "L %d: %s selected on the device", L, d);
        CHECK(sc_rows_differing(&vc[i], &vg[i]) == 0, "L %d: %s: exported kept sets differ from the CPU ops'", L, d);
        if (dv[i].pos)
            CHECK(dview_rows_differing(be, &dv[i], &vc[i]) == 0, "L %d: %s: device view differs from the CPU ops'",
                  L, d);
    }
    for (int i = 0; i < nv; i++)
        if (dv[i].pos) be->free(be->ctx, dv[i].pos);
    stats_backend_close(&sb);
    be->free(be->ctx, dq), be->free(be->ctx, dk), be->free(be->ctx, datt), be->free(be->ctx, dl);
    compress_free(cc), compress_free(cg);
    for (int i = 0; i < nv; i++) kv_view_free(&vc[i]), kv_view_free(&vg[i]);
}

int main(void)
{
    (void)sc_variants, (void)sc_layer_inputs; /* stats_cases.h's small-shape cases: not this test's */
    backend be;
    int L = 8192;
    const char *on_cpu = getenv("KVBENCH_CUDA_TEST_ON_CPU");
    if (on_cpu && !strcmp(on_cpu, "1")) {
        setenv("KVBENCH_SIMULATE_DEVICE", "1", 1);
        if (backend_open("cpu", 0, NULL, &be) != KV_OK) return 1;
        L = 512;
    } else if (backend_open("cuda", 0, NULL, &be) != KV_OK) {
        printf("test_cuda_select: skipped, no CUDA device (%s)\n", kv_lasterr());
        return 0;
    }
    printf("test_cuda_select: %s, L %d\n", be.device, L);
    run(&be, L);
    backend_close(&be);
    return check_report("test_cuda_select");
}
