/* test_select_device: selection where the statistics are (issue 16), on the simulated device
 * (the CPU backend with host_memory off: every host copy goes through to_host / to_device and is
 * counted in backend_traffic).
 *  1. Every variant of tests/stats_cases.h selected through the backend's ops (engine/select_device.c)
 *     keeps exactly the positions compress_layer keeps on host arrays, alone and as 2, 3 and 6
 *     tensor-parallel ranks (an in-process group), and each rank's host traffic for a layer is the
 *     kept sets alone: 4 bytes per kept position of every head (one row for CircuitKV's shared set).
 *  2. The bytes do not scale with W × L: per method alone, at prompt lengths 256 and 512 and two
 *     windows, the per-layer bytes to the host equal the kept positions × 4 — the same at both
 *     lengths — while the host path (KVBENCH_DEVICE_SELECT=0) moves the H × W × L window rows
 *     (H2O: its H × (L-W) column sums). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/stats_backend.h"
#include "kernels/attention.h"
#include "tests/check.h"
#include "tests/fake_tp.h"
#include "tests/stats_cases.h"

/* Rank r's slices of q, k, lse (heads in contiguous rank blocks) for the shape (L, H, Hkv, hd). */
static void slices(const float *q, const float *k, const float *lse, int L, int H, int Hkv, int hd, int T, int r,
                   float *ql, float *kl, float *lsel)
{
    const int Hl = H / T, Hkvl = Hkv / T;
    for (int i = 0; i < L; i++) {
        memcpy(ql + (long)i * Hl * hd, q + ((long)i * H + (long)r * Hl) * hd, sizeof(float) * Hl * hd);
        memcpy(kl + (long)i * Hkvl * hd, k + ((long)i * Hkv + (long)r * Hkvl) * hd, sizeof(float) * Hkvl * hd);
    }
    memcpy(lsel, lse + (long)r * Hl * L, sizeof(float) * Hl * L);
}

/* Host bytes a layer's device selection must move: every device variant's kept rows. */
static unsigned long long kept_bytes(compress_ctx *c, int layer)
{
    unsigned long long b = 0;
    for (int i = 0; i < compress_n_variants(c); i++) {
        if (!compress_device_variant(c, i)) continue;
        const variant *v = compress_variant(c, i);
        const kv_view *vw = compress_view(c, i);
        const int shared = !strcmp(v->method->name, "circuitkv") && variant_knob(v, "per_head") == 0;
        b += sizeof(int) * (unsigned long long)(shared ? 1 : vw->n_heads) * vw->len[layer * vw->n_heads];
    }
    return b;
}

typedef struct {
    int L, H, Hkv, hd, layers;
    float **q, **k, **lse; /* per layer */
} layer_inputs;

/* One configuration: T ranks of the simulated device select; the views must equal compress_layer's
 * and each rank's host traffic per layer must be the kept bytes. Returns the max bytes per layer
 * and rank (to the host), or 0 on a failure. */
static unsigned long long run_device(const char *what, int T, const layer_inputs *in, const variant *vs, int nv)
{
    model_config cfg = sc_cfg();
    cfg.n_layers = in->layers, cfg.n_heads = in->H, cfg.n_kv_heads = in->Hkv, cfg.head_dim = in->hd;
    kv_view va[SC_MAX_VARIANTS], vb[SC_MAX_VARIANTS];
    for (int i = 0; i < nv; i++) {
        kv_view_init(&va[i], in->layers, in->H, in->L);
        kv_view_init(&vb[i], in->layers, in->H, in->L);
    }
    compress_ctx *ca = compress_new(&cfg, vs, nv, in->L, va), *cb = compress_new(&cfg, vs, nv, in->L, vb);
    CHECK(ca && cb, "%s: compress_new: %s", what, kv_lasterr());
    backend be;
    backend_cpu_open(0, &be);
    CHECK(be.host_memory == 0 && strstr(be.device, "simulated"), "%s: simulated device (%s)", what, be.device);
    const int Hl = in->H / T, Hkvl = in->Hkv / T, L = in->L, hd = in->hd;
    fake_world world = {.size = T};
    fake_rank fr[SC_H];
    comm cm[SC_H];
    stats_backend sb[SC_H];
    int status = ca && cb ? KV_OK : KV_ERR;
    fake_group(&world, T, fr, cm);
    for (int r = 0; r < T && status == KV_OK; r++)
        status = stats_backend_open(&sb[r], &be, T > 1 ? &cm[r] : NULL, cb, L, Hl, Hkvl, hd);
    CHECK(status == KV_OK, "%s: stats_backend_open: %s", what, kv_lasterr());
    float *ql = kv_malloc(sizeof(float) * L * Hl * hd), *kl = kv_malloc(sizeof(float) * L * Hkvl * hd);
    float *lsel = kv_malloc(sizeof(float) * Hl * L);
    unsigned long long most = 0;
    for (int l = 0; l < in->layers && status == KV_OK; l++) {
        CHECK(compress_layer(ca, l, in->q[l], in->k[l], in->lse[l]) == KV_OK, "%s: compress_layer: %s", what,
              kv_lasterr());
        for (int r = 0; r < T && status == KV_OK; r++) {
            slices(in->q[l], in->k[l], in->lse[l], L, in->H, in->Hkv, hd, T, r, ql, kl, lsel);
            fr[r].calls = 0;
            const backend_traffic t0 = *be.traffic;
            status = stats_backend_compute(&sb[r], ql, kl, NULL, lsel);
            if (status == KV_OK) status = stats_backend_select(&sb[r], l);
            const unsigned long long d2h = be.traffic->to_host - t0.to_host, h2d = be.traffic->to_device - t0.to_device;
            CHECK(d2h == kept_bytes(cb, l) && h2d == 0,
                  "%s layer %d rank %d: %llu bytes to the host (kept sets: %llu), %llu to the device", what, l, r,
                  d2h, kept_bytes(cb, l), h2d);
            most = d2h > most ? d2h : most;
        }
        CHECK(status == KV_OK, "%s layer %d: device statistics and selection: %s", what, l, kv_lasterr());
        CHECK(compress_select_layer(cb, l) == KV_OK, "%s layer %d: verify: %s", what, l, kv_lasterr());
    }
    for (int i = 0; i < nv; i++) {
        char d[512];
        variant_describe(&vs[i], d, sizeof d);
        CHECK(sc_rows_differing(&va[i], &vb[i]) == 0, "%s: %s: kept sets differ from compress_layer's", what, d);
    }
    for (int r = 0; r < T; r++) stats_backend_close(&sb[r]);
    backend_close(&be);
    fake_world_free(&world);
    free(ql), free(kl), free(lsel);
    compress_free(ca), compress_free(cb);
    for (int i = 0; i < nv; i++) kv_view_free(&va[i]), kv_view_free(&vb[i]);
    return status == KV_OK ? most : 0;
}

/* Random q, k and the prefill's lse for `layers` layers of (L, H, Hkv, hd). */
static void inputs_make(layer_inputs *in, int L, int H, int Hkv, int hd, int layers)
{
    *in = (layer_inputs){L, H, Hkv, hd, layers, NULL, NULL, NULL};
    in->q = kv_malloc(sizeof(float *) * layers), in->k = kv_malloc(sizeof(float *) * layers);
    in->lse = kv_malloc(sizeof(float *) * layers);
    const long nq = (long)L * H * hd, nk = (long)L * Hkv * hd;
    float *v = kv_malloc(sizeof(float) * nk), *out = kv_malloc(sizeof(float) * nq);
    for (int l = 0; l < layers; l++) {
        in->q[l] = kv_malloc(sizeof(float) * nq), in->k[l] = kv_malloc(sizeof(float) * nk);
        in->lse[l] = kv_malloc(sizeof(float) * H * L);
        for (long i = 0; i < nq; i++) in->q[l][i] = 0.6f * sc_frand();
        for (long i = 0; i < nk; i++) in->k[l][i] = 0.6f * sc_frand(), v[i] = sc_frand();
        attention_prefill_cpu(out, in->lse[l], in->q[l], in->k[l], v, L, H, Hkv, hd);
    }
    free(v), free(out);
}

static void inputs_free(layer_inputs *in)
{
    for (int l = 0; l < in->layers; l++) free(in->q[l]), free(in->k[l]), free(in->lse[l]);
    free(in->q), free(in->k), free(in->lse);
}

/* The host path's bytes per layer for the same variant (statistics to the host), for contrast. */
static unsigned long long host_path_bytes(const layer_inputs *in, const variant *v)
{
    setenv("KVBENCH_DEVICE_SELECT", "0", 1);
    model_config cfg = sc_cfg();
    cfg.n_layers = in->layers, cfg.n_heads = in->H, cfg.n_kv_heads = in->Hkv, cfg.head_dim = in->hd;
    kv_view vw;
    kv_view_init(&vw, in->layers, in->H, in->L);
    compress_ctx *c = compress_new(&cfg, v, 1, in->L, &vw);
    backend be;
    backend_cpu_open(0, &be);
    stats_backend sb;
    unsigned long long b = 0;
    if (c && stats_backend_open(&sb, &be, NULL, c, in->L, in->H, in->Hkv, in->hd) == KV_OK) {
        if (stats_backend_compute(&sb, in->q[0], in->k[0], NULL, in->lse[0]) == KV_OK) b = be.traffic->to_host;
        stats_backend_close(&sb);
    }
    backend_close(&be);
    compress_free(c);
    kv_view_free(&vw);
    unsetenv("KVBENCH_DEVICE_SELECT");
    return b;
}

/* Per method alone: bytes per layer at L = 256 and 512 (windows 8 and 16) are the kept sets, the
 * same at both lengths. */
static void test_scaling(void)
{
    static const struct {
        const char *method, *knobs;
        int budget, shared;
    } cases[] = {
        {"snapkv", "window=%d", 48, 0},        {"pyramidkv", "window=%d,beta=4", 48, 0},
        {"h2o", "window=%d,mode=causal", 48, 0}, {"h2o", "window=%d,mode=prefix,fp16=1", 48, 0},
        {"h2o", "window=%d,mode=upstream", 48, 0}, {"circuitkv", "window=%d,sinks=4", 56, 1},
        {"circuitkv", "window=%d,sinks=4,per_head=1", 56, 0},
    };
    enum { H = 4, HKV = 2, HD = 16, LAYERS = 2 };
    layer_inputs in[2];
    inputs_make(&in[0], 256, H, HKV, HD, LAYERS);
    inputs_make(&in[1], 512, H, HKV, HD, LAYERS);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int W = 8; W <= 16; W += 8) {
            char knobs[128], what[256];
            snprintf(knobs, sizeof knobs, cases[c].knobs, W);
            variant v = sc_variant(cases[c].method, cases[c].budget, PRESET_REFERENCE_HEAD, knobs);
            unsigned long long b[2], host[2];
            for (int i = 0; i < 2; i++) {
                snprintf(what, sizeof what, "%s(%s, budget %d) at L %d", cases[c].method, knobs, cases[c].budget,
                         in[i].L);
                b[i] = run_device(what, 1, &in[i], &v, 1);
                host[i] = host_path_bytes(&in[i], &v);
            }
            /* pyramidkv keeps a per-layer share; the max over layers is its layer 0 */
            const long kept = cases[c].method[0] == 'p' ? 0 : cases[c].budget;
            const unsigned long long want = sizeof(int) * (unsigned long long)(cases[c].shared ? 1 : H) * kept;
            CHECK(b[0] && b[0] == b[1] && (!kept || b[0] == want),
                  "%s: bytes to the host per layer %llu at L 256, %llu at L 512 (kept sets: %llu)", what, b[0], b[1],
                  want);
            /* the host path: the window rows H*W*L floats, H2O's column sums H*(L-W) */
            const long stat = cases[c].method[0] == 'h' ? (long)H * (512 - W) : (long)H * W * 512;
            CHECK(host[1] >= sizeof(float) * (unsigned long long)stat && host[1] > 8 * b[1],
                  "%s: the host path moves %llu bytes per layer (statistics: %ld floats), the device path %llu", what,
                  host[1], stat, b[1]);
        }
    inputs_free(&in[0]);
    inputs_free(&in[1]);
}

int main(void)
{
    setenv("KVBENCH_SIMULATE_DEVICE", "1", 1);
    variant vs[SC_MAX_VARIANTS];
    int fp16[SC_MAX_VARIANTS];
    const int nv = sc_variants(vs, fp16);
    layer_inputs in = {SC_L, SC_H, SC_HKV, SC_HD, SC_LAYERS, NULL, NULL, NULL};
    in.q = kv_malloc(sizeof(float *) * SC_LAYERS), in.k = kv_malloc(sizeof(float *) * SC_LAYERS);
    in.lse = kv_malloc(sizeof(float *) * SC_LAYERS);
    for (int l = 0; l < SC_LAYERS; l++) sc_layer_inputs(&in.q[l], &in.k[l], &in.lse[l]);
    const int ranks[] = {1, 2, 3, 6};
    for (int t = 0; t < 4; t++) {
        char what[64];
        snprintf(what, sizeof what, "stats_cases, %d rank(s)", ranks[t]);
        CHECK(run_device(what, ranks[t], &in, vs, nv) > 0, "%s: device selection ran", what);
    }
    inputs_free(&in);
    test_scaling();
    return check_report("test_select_device");
}
