/* select_device: runs the plug-ins' device steps for one layer and leaves the kept sets in the
 * variants' device views (to the host only when they are exported). */
#include "engine/select_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layer_stats.h"
#include "util/util.h"

void select_dev_open(select_dev *d, backend *be, const struct layer_stats *dev_st, int L, int local, int h0, int Hl,
                     int Hkvl)
{
    memset(d, 0, sizeof *d);
    const size_t H = (size_t)dev_st->cfg->n_heads;
    int wm = 0;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++) wm = dev_st->wmax[p] > wm ? dev_st->wmax[p] : wm;
    d->be = be;
    d->st = d->all = dev_st;
    d->local = local;
    d->h0 = local ? h0 : 0;
    if (local) { /* this rank's block of every statistic, as a layer_stats of Hl heads */
        d->cfg_loc = *dev_st->cfg;
        d->cfg_loc.n_heads = Hl, d->cfg_loc.n_kv_heads = Hkvl;
        d->loc = *dev_st;
        d->loc.cfg = &d->cfg_loc;
        for (int p = 0; p < LAYER_STATS_N_PREC; p++)
            if (dev_st->win[p]) d->loc.win[p] = dev_st->win[p] + (long)h0 * dev_st->wmax[p] * L;
        for (int t = 0; t < dev_st->n_h2o; t++)
            d->loc.h2o[t].colsum = dev_st->h2o[t].colsum + (long)h0 * (L - dev_st->h2o[t].window);
    }
    d->fa = be->alloc(be->ctx, sizeof(float) * H * (size_t)L);
    d->fb = be->alloc(be->ctx, sizeof(float) * H * (size_t)L);
    d->pos = be->alloc(be->ctx, sizeof(int) * H * (size_t)L);
    d->host_pos = kv_malloc(sizeof(int) * H * (size_t)L);
    d->gcap = (long)wm * L;
    if (d->gcap > 0) {
        d->ga = be->alloc(be->ctx, sizeof(double) * (size_t)d->gcap);
        d->gb = be->alloc(be->ctx, sizeof(double) * (size_t)d->gcap);
    }
}

void select_dev_close(select_dev *d)
{
    backend *be = d->be;
    if (!be) return;
    be->free(be->ctx, d->fa), be->free(be->ctx, d->fb), be->free(be->ctx, d->pos);
    if (d->ga) be->free(be->ctx, d->ga), be->free(be->ctx, d->gb);
    free(d->host_pos);
    memset(d, 0, sizeof *d);
}

/* The kept sets of heads h0 .. h0+nh-1 (step rows: one shared row, or one per head from 0) into the
 * device view, allocated at the first layer with cap = the most any layer keeps. */
static int store_device(select_dev *d, const variant *v, kv_dview *dv, int layer, const select_dev_out *o, int h0,
                        int nh)
{
    backend *be = d->be;
    const model_config *cfg = d->all->cfg;
    const int Ht = cfg->n_heads, L = d->all->L;
    if (!dv->pos) {
        int cap = 1;
        for (int l = 0; l < cfg->n_layers; l++) {
            int k = v->method->expected_kept(v, cfg, L, l);
            cap = k > cap ? k : cap;
        }
        dv->cap = cap;
        dv->pos = be->alloc(be->ctx, sizeof(int) * (size_t)cfg->n_layers * Ht * cap);
    }
    if (o->count > dv->cap) {
        kv_seterr("device view: %d kept positions in layer %d, more than the %d its rule allows", o->count, layer,
                  dv->cap);
        return KV_ERR;
    }
    int *dst = dv->pos + ((long)layer * Ht + h0) * dv->cap;
    if (!o->shared && o->count == dv->cap) {
        be->copy(be->ctx, dst, d->pos, sizeof(int) * (size_t)nh * o->count);
        return KV_OK;
    }
    for (int h = 0; h < nh; h++)
        be->copy(be->ctx, dst + (long)h * dv->cap, d->pos + (long)(o->shared ? 0 : h) * o->count,
                 sizeof(int) * (size_t)o->count);
    return KV_OK;
}

/* The kept sets of every head to the host view rows (exported, or no device views). */
static void rows_to_host(select_dev *d, kv_view *view, int layer, const select_dev_out *o)
{
    const int H = view->n_heads, rows = o->shared ? 1 : H;
    d->be->to_host(d->be->ctx, d->host_pos, d->pos, sizeof(int) * (size_t)rows * o->count);
    for (int h = 0; h < H; h++)
        memcpy(kv_view_row(view, layer, h), d->host_pos + (long)(o->shared ? 0 : h) * o->count,
               sizeof(int) * (size_t)o->count);
}

int select_dev_layer(select_dev *d, compress_ctx *cc, int layer)
{
    const int nv = compress_n_variants(cc);
    for (int i = 0; i < nv; i++) {
        if (!compress_device_variant(cc, i)) continue;
        const variant *v = compress_variant(cc, i);
        kv_view *view = compress_view(cc, i);
        const int H = view->n_heads;
        const int shared = v->method->select_shared && v->method->select_shared(v);
        d->st = d->local && !shared ? &d->loc : d->all;
        select_dev_out o = {0, 0};
        int status = v->method->select_device(v, d, layer, &o);
        /* a local rank writes its own heads' rows; the others are its peers' */
        const int h0 = d->local ? d->h0 : 0, nh = d->local ? d->cfg_loc.n_heads : H;
        kv_dview *dv = compress_device_view(cc, i);
        if (status == KV_OK && dv) status = store_device(d, v, dv, layer, &o, h0, nh);
        if (status != KV_OK) {
            char msg[1024], desc[512];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            variant_describe(v, desc, sizeof desc);
            kv_seterr("compress (device): %s, layer %d: %s", desc, layer, msg);
            return KV_ERR;
        }
        if (compress_rows_to_host(cc)) rows_to_host(d, view, layer, &o);
        for (int h = 0; h < H; h++) view->len[layer * H + h] = o.count;
    }
    return KV_OK;
}
