/* select_device: runs the plug-ins' device steps for one layer and brings the kept sets home. */
#include "engine/select_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/layer_stats.h"
#include "util/util.h"

void select_dev_open(select_dev *d, backend *be, const struct layer_stats *dev_st, int L)
{
    memset(d, 0, sizeof *d);
    const size_t H = (size_t)dev_st->cfg->n_heads;
    int wm = 0;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++) wm = dev_st->wmax[p] > wm ? dev_st->wmax[p] : wm;
    d->be = be;
    d->st = dev_st;
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

int select_dev_layer(select_dev *d, compress_ctx *cc, int layer)
{
    const int nv = compress_n_variants(cc);
    for (int i = 0; i < nv; i++) {
        if (!compress_device_variant(cc, i)) continue;
        const variant *v = compress_variant(cc, i);
        kv_view *view = compress_view(cc, i);
        const int H = view->n_heads;
        select_dev_out o = {0, 0};
        if (v->method->select_device(v, d, layer, &o) != KV_OK) {
            char msg[1024], desc[512];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            variant_describe(v, desc, sizeof desc);
            kv_seterr("compress (device): %s, layer %d: %s", desc, layer, msg);
            return KV_ERR;
        }
        const int rows = o.shared ? 1 : H;
        d->be->to_host(d->be->ctx, d->host_pos, d->pos, sizeof(int) * (size_t)rows * o.count);
        for (int h = 0; h < H; h++) {
            memcpy(kv_view_row(view, layer, h), d->host_pos + (long)(o.shared ? 0 : h) * o.count,
                   sizeof(int) * (size_t)o.count);
            view->len[layer * H + h] = o.count;
        }
    }
    return KV_OK;
}
