/* stats_backend: the compression statistics of one layer through the backend vtable, per rank
 * over its own heads, gathered over the tensor-parallel group (see stats_backend.h). A statistic
 * of head h reads only head h's q rows, its KV head's k and its lse row, so the rank blocks are
 * bit-for-bit the rows a single rank would compute over all heads (tests/test_stats_backend.c
 * holds the CPU kernels to that). */
#include "engine/stats_backend.h"

#include <stdlib.h>
#include <string.h>

#include "engine/layer_stats.h"
#include "util/util.h"
#include "kernels/scoring.h"

/* Device selection: a backend with the selection ops and memory of its own, unless
 * KVBENCH_DEVICE_SELECT=0 (the host path, for comparisons). */
static int device_select_wanted(const backend *be)
{
    const char *env = getenv("KVBENCH_DEVICE_SELECT");
    return be->select_reduce && be->select_pool && be->select_topk_window && be->circuit_graph &&
           be->circuit_select && !be->host_memory && !(env && !strcmp(env, "0"));
}

/* 1 when some device variant of cc selects one set shared by all heads (from all heads' statistics). */
static int any_shared(compress_ctx *cc)
{
    for (int i = 0; i < compress_n_variants(cc); i++) {
        const variant *v = compress_variant(cc, i);
        if (compress_device_variant(cc, i) && v->method->select_shared && v->method->select_shared(v)) return 1;
    }
    return 0;
}

/* The device copy of st: the same shapes, every statistic in a backend buffer n_heads wide. */
static void device_stats_open(stats_backend *sb, const struct layer_stats *st)
{
    backend *be = sb->be;
    const size_t Hn = (size_t)st->cfg->n_heads, L = (size_t)st->L;
    sb->dev = *st;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++)
        sb->dev.win[p] = st->win[p] ? be->alloc(be->ctx, sizeof(float) * Hn * (size_t)st->wmax[p] * L) : NULL;
    for (int t = 0; t < st->n_h2o; t++)
        sb->dev.h2o[t].colsum = be->alloc(be->ctx, sizeof(float) * Hn * (L - (size_t)st->h2o[t].window));
    const int local = sb->tp && !sb->gather_dev, rank = sb->tp ? sb->tp->rank : 0;
    select_dev_open(&sb->sd, be, &sb->dev, st->L, local, rank * sb->H, sb->H, sb->Hkv);
}

/* Where this rank computes a statistic of per_head floats a head for device selection: straight
 * into its block of the device copy dev, or into `local` for the all-gather. */
static float *device_out(const stats_backend *sb, float *dev, long per_head)
{
    if (sb->tp && sb->gather_dev) return sb->local;
    return dev + (sb->tp ? (long)sb->tp->rank * sb->H * per_head : 0);
}

int stats_backend_open(stats_backend *sb, backend *be, const comm *tp, compress_ctx *cc, int L, int H, int Hkv,
                       int hd)
{
    memset(sb, 0, sizeof *sb);
    const struct layer_stats *st = compress_layer_stats(cc);
    const int T = tp ? tp->size : 1;
    /* Without any statistic to compute (FullKV alone) there is nothing to tile: a shard run alone
     * (kvbench bench --shard) has a rank's heads and no group. */
    int needed = st->n_h2o > 0;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++) needed |= st->wmax[p] > 0;
    if (L != st->L || (needed && (H < 1 || Hkv < 1 || H % Hkv || H * T != st->cfg->n_heads ||
                                  Hkv * T != st->cfg->n_kv_heads || hd != st->cfg->head_dim))) {
        kv_seterr("stats: rank heads (%d query, %d KV, head_dim %d, L %d) x %d ranks do not tile the "
                  "compression's (%d, %d, %d, L %d)",
                  H, Hkv, hd, L, T, st->cfg->n_heads, st->cfg->n_kv_heads, st->cfg->head_dim, st->L);
        return KV_ERR;
    }
    if (st->needs && tp) {
        char what[160];
        layer_needs_describe(st->needs, what, sizeof what);
        kv_seterr("stats: a method of this run (knorm, keydiff, expected_attention or adakv) needs %s, computed on "
                  "the host from every head's q, k and v of a layer, and a tensor-parallel rank holds only its own "
                  "heads: these methods are refused under tensor parallelism; run them with tensor_parallel 1",
                  what);
        return KV_ERR;
    }
    *sb = (stats_backend){.be = be, .tp = tp, .cc = cc, .L = L, .H = H, .Hkv = Hkv, .hd = hd,
                          .direct = be->host_memory && !tp};
    if (st->needs && !be->host_memory) {
        const size_t kv = sizeof(float) * (size_t)L * Hkv * hd;
        if (st->needs & (LAYER_NEED_KNORM | LAYER_NEED_KEYCOS | LAYER_NEED_QSTATS)) sb->hk = kv_malloc(kv);
        if (st->needs & LAYER_NEED_VNORM) sb->hv = kv_malloc(kv);
        if (st->needs & LAYER_NEED_QSTATS) sb->hq = kv_malloc(sizeof(float) * (size_t)L * H * hd);
    }
    if (device_select_wanted(be)) {
        sb->device = 1;
        sb->host_stats = compress_use_device(cc);
        sb->gather_dev = tp && (sb->host_stats || any_shared(cc) || compress_rows_to_host(cc));
        device_stats_open(sb, st);
        if (!sb->gather_dev) return KV_OK; /* computed straight into (this rank's block of) the device copies */
    }
    if (sb->direct) return KV_OK;
    /* one buffer for the largest statistic, reused by each in turn (per head floats) */
    long n = 0;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++)
        if ((long)st->wmax[p] * L > n) n = (long)st->wmax[p] * L;
    for (int t = 0; t < st->n_h2o; t++)
        if (L - st->h2o[t].window > n) n = L - st->h2o[t].window;
    if (n <= 0) return KV_OK;
    sb->local = be->alloc(be->ctx, sizeof(float) * (size_t)H * (size_t)n);
    if (tp && !be->host_memory && !sb->device) sb->gather = be->alloc(be->ctx, sizeof(float) * (size_t)T * H * (size_t)n);
    return KV_OK;
}

/* The statistic just computed into `computed` (this rank's (H, per_head)) → host (n_heads,
 * per_head). With TP the all-gather of rank blocks is already head-major. With device selection,
 * to `dev` (backend, n_heads wide), and to the host only when a host plug-in reads it. */
static int stats_deliver(stats_backend *sb, float *host, float *dev, const float *computed, long per_head)
{
    backend *be = sb->be;
    const long n = (long)sb->H * per_head, all = (sb->tp ? sb->tp->size : 1) * n;
    if (sb->direct || n <= 0) return KV_OK;
    if (sb->device) {
        if (sb->tp && sb->gather_dev) {
            if (sb->tp->allgather(sb->tp->ctx, computed, dev, n) != KV_OK) return KV_ERR;
            be->traffic->tp_gather += sizeof(float) * (unsigned long long)all;
        }
        if (sb->host_stats) be->to_host(be->ctx, host, dev, sizeof(float) * (size_t)all);
        return KV_OK;
    }
    if (!sb->tp) {
        be->to_host(be->ctx, host, computed, sizeof(float) * (size_t)n);
        return KV_OK;
    }
    /* host memory is the CPU backend's memory: gather straight into the host buffer */
    float *dst = be->host_memory ? host : sb->gather;
    if (sb->tp->allgather(sb->tp->ctx, computed, dst, n) != KV_OK) return KV_ERR;
    be->traffic->tp_gather += sizeof(float) * (unsigned long long)all;
    if (!be->host_memory) be->to_host(be->ctx, host, sb->gather, sizeof(float) * (size_t)all);
    return KV_OK;
}

int stats_backend_compute(stats_backend *sb, const float *q, const float *k, const float *v, const float *lse)
{
    backend *be = sb->be;
    struct layer_stats *st = compress_layer_stats(sb->cc);
    const int L = sb->L, H = sb->H, Hkv = sb->Hkv, hd = sb->hd;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++) {
        if (!st->win[p]) continue;
        const long per_head = (long)st->wmax[p] * L;
        float *out = sb->direct ? st->win[p] : sb->device ? device_out(sb, sb->dev.win[p], per_head) : sb->local;
        be->window_softmax(be->ctx, out, q, k, L, H, Hkv, hd, st->wmax[p], p);
        if (stats_deliver(sb, st->win[p], sb->dev.win[p], out, per_head) != KV_OK) return KV_ERR;
    }
    for (int t = 0; t < st->n_h2o; t++) {
        layer_stats_h2o *e = &st->h2o[t];
        if (e->mode == H2O_CAUSAL && !e->fp16 && !lse) {
            kv_seterr("stats: H2O causal mode needs the prefill's log-sum-exp (lse is NULL)");
            return KV_ERR;
        }
        float *dev = sb->device ? sb->dev.h2o[t].colsum : NULL;
        float *out = sb->direct ? e->colsum : sb->device ? device_out(sb, dev, L - e->window) : sb->local;
        be->h2o_colsum(be->ctx, out, q, k, lse, L, H, Hkv, hd, e->window, e->mode, e->fp16);
        if (stats_deliver(sb, e->colsum, dev, out, L - e->window) != KV_OK) return KV_ERR;
    }
    if (st->needs) {
        if (!be->host_memory) { /* the host computes these: copy what they read */
            const size_t kv = sizeof(float) * (size_t)L * Hkv * hd;
            if (sb->hk) be->to_host(be->ctx, sb->hk, k, kv);
            if (sb->hv && v) be->to_host(be->ctx, sb->hv, v, kv);
            if (sb->hq) be->to_host(be->ctx, sb->hq, q, sizeof(float) * (size_t)L * H * hd);
            q = sb->hq, k = sb->hk, v = v ? sb->hv : NULL;
        }
        if (compress_host_stats(sb->cc, q, k, v) != KV_OK) return KV_ERR;
    }
    return KV_OK;
}

int stats_backend_select(stats_backend *sb, int layer)
{
    return sb->device ? select_dev_layer(&sb->sd, sb->cc, layer) : KV_OK;
}

void stats_backend_close(stats_backend *sb)
{
    if (sb->device) {
        for (int p = 0; p < LAYER_STATS_N_PREC; p++)
            if (sb->dev.win[p]) sb->be->free(sb->be->ctx, sb->dev.win[p]);
        for (int t = 0; t < sb->dev.n_h2o; t++) sb->be->free(sb->be->ctx, sb->dev.h2o[t].colsum);
        select_dev_close(&sb->sd);
        sb->device = 0;
    }
    if (sb->local) sb->be->free(sb->be->ctx, sb->local);
    if (sb->gather) sb->be->free(sb->be->ctx, sb->gather);
    sb->local = sb->gather = NULL;
    free(sb->hq), free(sb->hk), free(sb->hv);
    sb->hq = sb->hk = sb->hv = NULL;
}
