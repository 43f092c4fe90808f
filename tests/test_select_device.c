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
 *     (H2O: its H × (L-W) column sums).
 *  3. With the views kept on the device (compress_set_device_views, not exported: the engine's
 *     decode), no byte per layer goes to the host — the kept counts are the method's rule — at one
 *     rank and at three TP ranks; per-head methods all-gather nothing (each rank selects its own
 *     heads from its own statistics), CircuitKV's shared set all-gathers its H × W × L window rows;
 *     the device views equal compress_layer's kept sets (every rank writes its own heads' rows). */
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

/* One configuration's ranks and buffers. dev_views: the views stay on the device
 * (compress_set_device_views, not exported), as in engine_generate. */
typedef struct {
    int T, dev_views;
    backend be;
    fake_world world;
    fake_rank fr[SC_H];
    comm cm[SC_H];
    stats_backend sb[SC_H];
    kv_dview dv[SC_MAX_VARIANTS];
    float *ql, *kl, *lsel;
    unsigned long long most, gather; /* per layer and rank: most bytes to the host, most all-gathered */
} run_state;

/* Layer l on every rank: the statistics (twice with device views: the in-process all-gather hands
 * the earlier ranks every block only on the second round, as MPI would the first time), then the
 * selection; per rank the bytes of the last round and the selection are checked. */
static int run_layer(run_state *rs, const char *what, const layer_inputs *in, compress_ctx *cb, int l)
{
    const int T = rs->T, rounds = rs->dev_views && T > 1 ? 2 : 1;
    int status = KV_OK;
    for (int round = 0; round < rounds && status == KV_OK; round++)
        for (int r = 0; r < T && status == KV_OK; r++) {
            slices(in->q[l], in->k[l], in->lse[l], in->L, in->H, in->Hkv, in->hd, T, r, rs->ql, rs->kl, rs->lsel);
            rs->fr[r].calls = 0;
            const backend_traffic t0 = *rs->be.traffic;
            status = stats_backend_compute(&rs->sb[r], rs->ql, rs->kl, NULL, rs->lsel);
            if (round + 1 < rounds) continue;
            if (status == KV_OK) status = stats_backend_select(&rs->sb[r], l);
            const backend_traffic *t = rs->be.traffic;
            const unsigned long long d2h = t->to_host - t0.to_host, h2d = t->to_device - t0.to_device;
            /* on the device the kept sets stay there: the counts are the method's rule, on the host */
            const unsigned long long want = rs->dev_views ? 0 : kept_bytes(cb, l);
            CHECK(d2h == want && h2d == 0, "%s layer %d rank %d: %llu bytes to the host (want %llu), %llu to the device",
                  what, l, r, d2h, want, h2d);
            rs->most = d2h > rs->most ? d2h : rs->most;
            const unsigned long long g = t->tp_gather - t0.tp_gather;
            rs->gather = g > rs->gather ? g : rs->gather;
        }
    return status;
}

/* The device views' rows into the host views (outside the counted rounds). */
static void dev_views_fetch(run_state *rs, kv_view *vb, int nv)
{
    for (int i = 0; i < nv; i++) {
        kv_dview *dv = &rs->dv[i];
        if (!dv->pos) continue;
        const long rows = (long)vb[i].n_layers * vb[i].n_heads;
        int *h = kv_malloc(sizeof(int) * (size_t)rows * dv->cap);
        rs->be.to_host(rs->be.ctx, h, dv->pos, sizeof(int) * (size_t)rows * dv->cap);
        for (long r = 0; r < rows; r++) memcpy(vb[i].pos + r * vb[i].cap, h + r * dv->cap, sizeof(int) * vb[i].len[r]);
        free(h);
        rs->be.free(rs->be.ctx, dv->pos);
        dv->pos = NULL;
    }
}

/* One configuration: T ranks of the simulated device select; the views must equal compress_layer's
 * and each rank's host traffic per layer must be the kept bytes (none with device views). Returns
 * the max bytes per layer and rank (to the host, and all-gathered in *gather) or ~0 on a failure. */
static unsigned long long run_device(const char *what, int T, int dev_views, const layer_inputs *in,
                                     const variant *vs, int nv, unsigned long long *gather)
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
    run_state *rs = kv_calloc(1, sizeof *rs);
    rs->T = T, rs->dev_views = dev_views;
    backend_cpu_open(0, &rs->be);
    CHECK(rs->be.host_memory == 0 && strstr(rs->be.device, "simulated"), "%s: simulated device (%s)", what,
          rs->be.device);
    const int Hl = in->H / T, Hkvl = in->Hkv / T, L = in->L, hd = in->hd;
    rs->world.size = T;
    int status = ca && cb ? KV_OK : KV_ERR;
    fake_group(&rs->world, T, rs->fr, rs->cm);
    if (status == KV_OK && dev_views) compress_set_device_views(cb, rs->dv, 0);
    for (int r = 0; r < T && status == KV_OK; r++)
        status = stats_backend_open(&rs->sb[r], &rs->be, T > 1 ? &rs->cm[r] : NULL, cb, L, Hl, Hkvl, hd);
    CHECK(status == KV_OK, "%s: stats_backend_open: %s", what, kv_lasterr());
    rs->ql = kv_malloc(sizeof(float) * L * Hl * hd), rs->kl = kv_malloc(sizeof(float) * L * Hkvl * hd);
    rs->lsel = kv_malloc(sizeof(float) * Hl * L);
    for (int l = 0; l < in->layers && status == KV_OK; l++) {
        CHECK(compress_layer(ca, l, in->q[l], in->k[l], in->lse[l]) == KV_OK, "%s: compress_layer: %s", what,
              kv_lasterr());
        status = run_layer(rs, what, in, cb, l);
        CHECK(status == KV_OK, "%s layer %d: device statistics and selection: %s", what, l, kv_lasterr());
        CHECK(compress_select_layer(cb, l) == KV_OK, "%s layer %d: verify: %s", what, l, kv_lasterr());
    }
    dev_views_fetch(rs, vb, nv);
    for (int i = 0; i < nv; i++) {
        char d[512];
        variant_describe(&vs[i], d, sizeof d);
        CHECK(sc_rows_differing(&va[i], &vb[i]) == 0, "%s: %s: kept sets differ from compress_layer's", what, d);
    }
    for (int r = 0; r < T; r++) stats_backend_close(&rs->sb[r]);
    backend_close(&rs->be);
    fake_world_free(&rs->world);
    free(rs->ql), free(rs->kl), free(rs->lsel);
    compress_free(ca), compress_free(cb);
    for (int i = 0; i < nv; i++) kv_view_free(&va[i]), kv_view_free(&vb[i]);
    unsigned long long most = status == KV_OK ? rs->most : ~0ULL;
    if (gather) *gather = rs->gather;
    free(rs);
    return most;
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

/* One method alone at one length: device views (one rank, and three tensor-parallel ranks) move
 * nothing to the host per layer, and the ranks all-gather statistics only for a set shared across
 * heads (CircuitKV's: its H × W × L window rows); checked inside run_device, the kept sets too. */
static void scaling_dev_views(const char *what, const layer_inputs *in, const variant *v, int shared, int W)
{
    char w2[320];
    unsigned long long g1 = 0, g3 = 0;
    snprintf(w2, sizeof w2, "%s, device views", what);
    unsigned long long d1 = run_device(w2, 1, 1, in, v, 1, &g1);
    snprintf(w2, sizeof w2, "%s, device views, 3 TP ranks", what);
    unsigned long long d3 = run_device(w2, 3, 1, in, v, 1, &g3);
    const unsigned long long gw = shared ? sizeof(float) * (unsigned long long)in->H * W * in->L : 0;
    CHECK(d1 == 0 && d3 == 0 && g1 == 0 && g3 == gw,
          "%s: device views: %llu bytes to the host per layer (1 rank), %llu (3 ranks); all-gathered %llu (want %llu)",
          what, d1, d3, g3, gw);
}

/* Per method alone: bytes per layer at L = 256 and 512 (windows 8 and 16) are the kept sets when
 * they are exported, the same at both lengths, and none when the views stay on the device. */
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
    enum { H = 6, HKV = 3, HD = 16, LAYERS = 2 };
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
                b[i] = run_device(what, 1, 0, &in[i], &v, 1, NULL);
                host[i] = host_path_bytes(&in[i], &v);
                scaling_dev_views(what, &in[i], &v, cases[c].shared, W);
            }
            /* pyramidkv keeps a per-layer share; the max over layers is its layer 0 */
            const long kept = cases[c].method[0] == 'p' ? 0 : cases[c].budget;
            const unsigned long long want = sizeof(int) * (unsigned long long)(cases[c].shared ? 1 : H) * kept;
            CHECK(b[0] && b[0] != ~0ULL && b[0] == b[1] && (!kept || b[0] == want),
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
        char what[96];
        unsigned long long g = 0;
        snprintf(what, sizeof what, "stats_cases, %d rank(s)", ranks[t]);
        unsigned long long b = run_device(what, ranks[t], 0, &in, vs, nv, NULL);
        CHECK(b > 0 && b != ~0ULL, "%s: device selection ran, the kept sets to the host (%llu bytes)", what, b);
        /* the views on the device: nothing to the host; CircuitKV's shared sets all-gather */
        snprintf(what, sizeof what, "stats_cases, %d rank(s), device views", ranks[t]);
        b = run_device(what, ranks[t], 1, &in, vs, nv, &g);
        CHECK(b == 0 && (ranks[t] == 1 ? g == 0 : g > 0), "%s: %llu bytes to the host, %llu all-gathered per layer",
              what, b, g);
    }
    inputs_free(&in);
    test_scaling();
    return check_report("test_select_device");
}
