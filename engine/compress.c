/* compress: one prefill, many caches (DESIGN §3). Per layer, the statistics the active variants
 * need are computed once for all of them — the softmax rows of the last Wmax queries (a variant
 * with window W reads the last W of those rows: the causal mask and the softmax over all L keys
 * make a row independent of W), H2O column sums per distinct (mode, window, fp16) — then each
 * variant's plug-in fills its view rows, and the result is checked against the method's rule:
 * kept count, window and sinks present, positions strictly increasing in [0, L). A violation is
 * KV_ERR naming the variant, layer and head, never a silent pass. Memory per layer is
 * O(H·Wmax·L) + O(H·L) per H2O mode, never O(L²). The statistics are filled either here from
 * host arrays (compress_layer, the CPU kernels) or by the engine through its backend
 * (engine/stats_backend.c, into the same buffers) before compress_select_layer. */
#include "engine/compress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layer_stats.h"
#include "util/util.h"
#include "kernels/press_scoring.h"
#include "kernels/rope.h"
#include "kernels/scoring.h"

struct compress_ctx {
    model_config cfg;
    int n_variants, L;
    variant *variants; /* copies */
    kv_view *views;    /* the caller's */
    unsigned char *device; /* per variant: selected through the backend (compress_use_device) */
    kv_dview *dv;          /* the caller's device views, or NULL (compress_set_device_views) */
    int export_rows;
    struct layer_stats st;
    layer_memo memo; /* st.memo: emptied after each layer's selection */
};

void *layer_memo_find(const struct layer_stats *st, const variant *v)
{
    if (!st->memo) return NULL;
    for (int i = 0; i < st->memo->n; i++) {
        const variant *o = st->memo->e[i].owner;
        if (o->method == v->method && o->preset == v->preset && !memcmp(o->knob, v->knob, sizeof o->knob))
            return st->memo->e[i].data;
    }
    return NULL;
}

int layer_memo_put(const struct layer_stats *st, const variant *v, void *data)
{
    layer_memo *m = st->memo;
    if (!m || m->n == LAYER_MEMO_MAX) return 0;
    m->e[m->n].owner = v, m->e[m->n].data = data;
    m->n++;
    return 1;
}

void layer_memo_clear(layer_memo *m)
{
    for (int i = 0; i < m->n; i++) free(m->e[i].data);
    m->n = 0;
}

int compress_n_variants(const compress_ctx *c) { return c->n_variants; }
const variant *compress_variant(const compress_ctx *c, int i) { return &c->variants[i]; }
kv_view *compress_view(compress_ctx *c, int i) { return &c->views[i]; }
int compress_device_variant(const compress_ctx *c, int i) { return c->device && c->device[i]; }

void compress_set_device_views(compress_ctx *c, kv_dview *dv, int export_rows)
{
    c->dv = dv;
    c->export_rows = export_rows;
}

kv_dview *compress_device_view(compress_ctx *c, int i)
{
    return c->dv && compress_device_variant(c, i) ? &c->dv[i] : NULL;
}

int compress_rows_to_host(const compress_ctx *c) { return !c->dv || c->export_rows; }

int compress_use_device(compress_ctx *c)
{
    int host = 0;
    if (!c->device) c->device = kv_calloc((size_t)(c->n_variants > 0 ? c->n_variants : 1), 1);
    for (int i = 0; i < c->n_variants; i++) {
        const variant *v = &c->variants[i];
        if (c->L < v->budget) continue; /* keeps everything: reads no statistic */
        method_needs nd;
        variant_needs(v, &nd);
        c->device[i] = v->method->select_device != NULL;
        host |= !c->device[i] && (nd.window_rows > 0 || nd.colsum_window > 0);
    }
    return host;
}

/* Copies of the variants with fraction budgets resolved to tokens for this L, each checked against
 * its method and its view's shape; NULL (kv_lasterr set) on the first variant that fails. */
static variant *resolve_variants(const model_config *cfg, const variant *variants, int n_variants, int L,
                                 const kv_view *views)
{
    variant *resolved = kv_malloc(sizeof(variant) * (size_t)(n_variants > 0 ? n_variants : 1));
    memcpy(resolved, variants, sizeof(variant) * (size_t)n_variants);
    for (int i = 0; i < n_variants; i++) {
        char d[512];
        variant_describe(&variants[i], d, sizeof d);
        /* A fraction of the prompt becomes tokens for this L; on a prompt so short that the share
         * is below what the method accepts (SnapKV: more than its window), the smallest budget
         * it accepts (the kept counts are recorded with each result). */
        if (budget_is_fraction(variants[i].budget)) {
            int b = budget_resolve(variants[i].budget, L);
            resolved[i].budget = b;
            while (b <= L && variants[i].method->check(&resolved[i], cfg) != KV_OK) resolved[i].budget = ++b;
        }
        if (variants[i].method->check(&resolved[i], cfg) != KV_OK) {
            free(resolved);
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            kv_seterr("compress: variant %s rejected: %s", d, msg);
            return NULL;
        }
        const kv_view *vw = &views[i];
        if (vw->cap < L || vw->n_layers != cfg->n_layers || vw->n_heads != cfg->n_heads) {
            kv_seterr("compress: view of %s has (layers %d, heads %d, cap %d); expected (%d, %d, >= %d)", d,
                      vw->n_layers, vw->n_heads, vw->cap, cfg->n_layers, cfg->n_heads, L);
            free(resolved);
            return NULL;
        }
    }
    return resolved;
}

/* Adds the kvpress-style host statistics a variant declares (nd) to st: its LAYER_NEED_* bits
 * and, for query statistics, one (mean, covariance) slot per distinct number of skipped sinks. */
static int plan_host_stats(struct layer_stats *st, const model_config *cfg, const method_needs *nd, int L)
{
    st->needs |= nd->host;
    const int skip = nd->qstats_skip;
    if (!(nd->host & LAYER_NEED_QSTATS) || layer_stats_qstats_find(st, skip)) return KV_OK;
    if (st->n_qstats == LAYER_STATS_MAX_QSTATS || skip >= L || cfg->head_dim % 2) {
        kv_seterr("compress: query statistics: more than %d distinct sinks settings, sinks %d >= L %d, "
                  "or odd head_dim %d", LAYER_STATS_MAX_QSTATS, skip, L, cfg->head_dim);
        return KV_ERR;
    }
    layer_stats_qstats *e = &st->qstats[st->n_qstats++];
    const size_t hd = (size_t)cfg->head_dim;
    e->skip = skip;
    e->mean = kv_malloc(sizeof(double) * (size_t)cfg->n_heads * hd);
    e->cov = kv_malloc(sizeof(double) * (size_t)cfg->n_heads * hd * hd);
    return KV_OK;
}

/* Adds the attention statistics a variant declares (nd) to st: window rows (the widest window per
 * precision) and one H2O column-sum slot per distinct (mode, window, fp16). */
static int plan_attention_stats(struct layer_stats *st, const model_config *cfg, const method_needs *nd, int L)
{
    const int prec = nd->window_prec, W = nd->window_rows;
    if (W > 0 && prec >= 0 && prec < LAYER_STATS_N_PREC) st->wmax[prec] = W > st->wmax[prec] ? W : st->wmax[prec];
    if (nd->colsum_window <= 0) return KV_OK;
    const int Wc = nd->colsum_window, mode = nd->colsum_mode, fp16 = nd->colsum_fp16;
    for (int t = 0; t < st->n_h2o; t++)
        if (st->h2o[t].mode == mode && st->h2o[t].window == Wc && st->h2o[t].fp16 == fp16) return KV_OK;
    if (st->n_h2o == LAYER_STATS_MAX_H2O) {
        kv_seterr("compress: more than %d distinct H2O (mode, window, fp16) settings in one run", LAYER_STATS_MAX_H2O);
        return KV_ERR;
    }
    layer_stats_h2o *e = &st->h2o[st->n_h2o++];
    e->mode = mode;
    e->window = Wc;
    e->fp16 = fp16;
    e->colsum = kv_malloc(sizeof(float) * (size_t)cfg->n_heads * (size_t)(L - Wc));
    return KV_OK;
}

/* The buffers of the planned statistics: window rows per precision, per-KV-head norms, RoPE. */
static void alloc_stats(struct layer_stats *st, const model_config *cfg, int L)
{
    for (int p = 0; p < LAYER_STATS_N_PREC; p++)
        if (st->wmax[p]) st->win[p] = kv_malloc(sizeof(float) * (size_t)cfg->n_heads * st->wmax[p] * L);
    const size_t per_kv = sizeof(float) * (size_t)cfg->n_kv_heads * (size_t)L;
    if (st->needs & LAYER_NEED_KNORM) st->knorm = kv_malloc(per_kv);
    if (st->needs & LAYER_NEED_KEYCOS) st->keycos = kv_malloc(per_kv);
    if (st->needs & LAYER_NEED_VNORM) st->vnorm = kv_malloc(per_kv);
    if (st->needs & LAYER_NEED_QSTATS) {
        st->inv_freq = kv_malloc(sizeof(float) * (size_t)(cfg->head_dim / 2 + 1));
        rope_inv_freq(st->inv_freq, cfg->head_dim, cfg->rope_theta, cfg->rope_llama3, cfg->rope_factor,
                      cfg->rope_low_freq_factor, cfg->rope_high_freq_factor, cfg->rope_original_max_pos);
    }
}

compress_ctx *compress_new(const model_config *cfg, const variant *variants, int n_variants, int L,
                           kv_view *views)
{
    if (L < 1 || cfg->n_heads < 1 || cfg->n_kv_heads < 1 || cfg->n_heads % cfg->n_kv_heads) {
        kv_seterr("compress: bad shape (L %d, heads %d, kv heads %d)", L, cfg->n_heads, cfg->n_kv_heads);
        return NULL;
    }
    variant *resolved = resolve_variants(cfg, variants, n_variants, L, views);
    if (!resolved) return NULL;
    compress_ctx *c = kv_calloc(1, sizeof *c);
    c->cfg = *cfg;
    c->n_variants = n_variants;
    c->L = L;
    c->variants = resolved; /* copies, budgets in tokens for this L */
    c->views = views;
    struct layer_stats *st = &c->st;
    st->cfg = &c->cfg;
    st->L = L;
    /* Needs, as each method declares them: only variants that compress at this L (L >= budget)
     * read statistics. */
    for (int i = 0; i < n_variants; i++) {
        const variant *v = &c->variants[i];
        if (L < v->budget) continue;
        method_needs nd;
        variant_needs(v, &nd);
        if (plan_host_stats(st, cfg, &nd, L) != KV_OK || plan_attention_stats(st, cfg, &nd, L) != KV_OK) {
            compress_free(c);
            return NULL;
        }
    }
    alloc_stats(st, cfg, L);
    return c;
}

int compress_host_stats(compress_ctx *c, const float *q, const float *k, const float *v)
{
    struct layer_stats *st = &c->st;
    const model_config *cfg = &c->cfg;
    const int L = c->L, H = cfg->n_heads, Hkv = cfg->n_kv_heads, hd = cfg->head_dim;
    if (!st->needs) return KV_OK;
    if (((st->needs & (LAYER_NEED_KNORM | LAYER_NEED_KEYCOS | LAYER_NEED_QSTATS)) && !k) ||
        ((st->needs & LAYER_NEED_VNORM) && !v) || ((st->needs & LAYER_NEED_QSTATS) && !q)) {
        kv_seterr("compress: the kvpress-style statistics need the layer's %s on the host (got NULL)",
                  !k ? "keys" : !v ? "values" : "queries");
        return KV_ERR;
    }
    if (st->knorm) press_norm_cpu(st->knorm, k, L, Hkv, hd);
    if (st->keycos) press_keycos_cpu(st->keycos, k, L, Hkv, hd);
    if (st->vnorm) press_norm_cpu(st->vnorm, v, L, Hkv, hd);
    for (int i = 0; i < st->n_qstats; i++)
        press_query_stats_cpu(st->qstats[i].mean, st->qstats[i].cov, q, L, H, hd, st->qstats[i].skip, st->inv_freq);
    st->k = (st->needs & LAYER_NEED_QSTATS) ? k : NULL;
    return KV_OK;
}

/* The invariant every plug-in promises (DESIGN §4), checked for each (layer, head). */
static int compress_verify(const compress_ctx *c, const variant *v, const kv_view *view, int layer, int rows)
{
    const int L = c->L, H = view->n_heads;
    const int expected = v->method->expected_kept(v, &c->cfg, L, layer);
    const int per_layer = v->method->kept_per_layer;
    long total = 0;
    const int compressing = L >= v->budget;
    method_needs nd;
    variant_needs(v, &nd);
    int W = nd.keeps_last, sinks = nd.keeps_first;
    if (W > L) W = L;
    if (sinks > L) sinks = L;
    char d[512];
    for (int h = 0; h < H; h++) {
        const int *row = kv_view_row(view, layer, h), n = view->len[layer * H + h];
        const char *what = NULL;
        int bad = -1;
        total += n;
        if (!per_layer && n != expected) {
            variant_describe(v, d, sizeof d);
            kv_seterr("compress: %s, layer %d, head %d: kept %d positions, the method's rule says %d (L = %d)", d,
                      layer, h, n, expected, L);
            return KV_ERR;
        }
        for (int t = 0; t < n && rows && !what; t++) {
            if (row[t] < 0 || row[t] >= L) what = "a position outside [0, L)", bad = t;
            else if (t && row[t] <= row[t - 1]) what = "positions not strictly increasing", bad = t;
        }
        if (!what && rows && compressing && n >= W)
            for (int t = 0; t < W && !what; t++)
                if (row[n - W + t] != L - W + t) what = "a window position dropped", bad = L - W + t;
        if (!what && rows && compressing && n >= sinks)
            for (int t = 0; t < sinks && !what; t++)
                if (row[t] != t) what = "a sink position dropped", bad = t;
        if (what) {
            variant_describe(v, d, sizeof d);
            kv_seterr("compress: %s, layer %d, head %d: %s (at %d; L = %d, window %d, sinks %d)", d, layer, h, what,
                      bad, L, W, sinks);
            return KV_ERR;
        }
    }
    if (per_layer && total != expected) {
        variant_describe(v, d, sizeof d);
        kv_seterr("compress: %s, layer %d: kept %ld positions over all %d heads, the method's rule says %d (L = %d)",
                  d, layer, total, H, expected, L);
        return KV_ERR;
    }
    return KV_OK;
}

static int compress_check_layer(const compress_ctx *c, int layer)
{
    if (layer < 0 || layer >= c->cfg.n_layers) {
        kv_seterr("compress: layer %d outside [0, %d)", layer, c->cfg.n_layers);
        return KV_ERR;
    }
    return KV_OK;
}

struct layer_stats *compress_layer_stats(compress_ctx *c) { return &c->st; }

int compress_layer(compress_ctx *c, int layer, const float *q, const float *k, const float *lse)
{
    return compress_layer_v(c, layer, q, k, NULL, lse);
}

int compress_layer_v(compress_ctx *c, int layer, const float *q, const float *k, const float *v, const float *lse)
{
    struct layer_stats *st = &c->st;
    const model_config *cfg = &c->cfg;
    const int L = c->L, H = cfg->n_heads, Hkv = cfg->n_kv_heads, hd = cfg->head_dim;
    if (compress_check_layer(c, layer) != KV_OK) return KV_ERR;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++)
        if (st->win[p]) window_softmax_cpu(st->win[p], q, k, L, H, Hkv, hd, st->wmax[p], p);
    for (int t = 0; t < st->n_h2o; t++) {
        layer_stats_h2o *e = &st->h2o[t];
        if (e->mode == H2O_CAUSAL && !e->fp16 && !lse) {
            kv_seterr("compress: H2O causal mode needs the prefill's log-sum-exp (lse is NULL)");
            return KV_ERR;
        }
        h2o_colsum_cpu(e->colsum, q, k, lse, L, H, Hkv, hd, e->window, (h2o_mode)e->mode, e->fp16);
    }
    if (compress_host_stats(c, q, k, v) != KV_OK) return KV_ERR;
    return compress_select_layer(c, layer);
}

static int select_variants(compress_ctx *c, int layer)
{
    for (int i = 0; i < c->n_variants; i++) {
        const variant *v = &c->variants[i];
        if (!compress_device_variant(c, i) && v->method->select_layer(v, &c->st, layer, &c->views[i]) != KV_OK) {
            char msg[1024], d[512];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            variant_describe(v, d, sizeof d);
            kv_seterr("compress: %s, layer %d: %s", d, layer, msg);
            return KV_ERR;
        }
        /* rows kept on the device (issue 16): the counts here, the positions checked where they are
         * exported and by the tests that hold the device ops to the CPU's */
        const int rows = !compress_device_variant(c, i) || compress_rows_to_host(c);
        if (compress_verify(c, v, &c->views[i], layer, rows) != KV_OK) return KV_ERR;
    }
    return KV_OK;
}

int compress_select_layer(compress_ctx *c, int layer)
{
    if (compress_check_layer(c, layer) != KV_OK) return KV_ERR;
    c->st.memo = &c->memo;
    const int status = select_variants(c, layer);
    layer_memo_clear(&c->memo);
    return status;
}

void compress_free(compress_ctx *c)
{
    if (!c) return;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++) free(c->st.win[p]);
    for (int t = 0; t < c->st.n_h2o; t++) free(c->st.h2o[t].colsum);
    for (int t = 0; t < c->st.n_qstats; t++) free(c->st.qstats[t].mean), free(c->st.qstats[t].cov);
    free(c->st.knorm), free(c->st.keycos), free(c->st.vnorm), free(c->st.inv_freq);
    free(c->variants);
    free(c->device);
    free(c);
}
