/* generate: greedy generation of many KV-cache variants of one prompt — one prefill that derives
 * every variant's view, then one batched decode step per token for all unfinished variants. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/util.h"
#include "kernels/argmax.h"

/* Per-variant decode state on the backend. */
typedef struct {
    int *pos, *len;      /* the view compacted to cap = its longest row */
    int cap;
    float *k_tail, *v_tail;
} variant_buffers;

static int is_stop(const gen_params *gp, int id)
{
    for (int i = 0; i < gp->n_stop_ids; i++)
        if (gp->stop_ids[i] == id) return 1;
    return 0;
}

/* Upload a view with its rows packed to the longest kept list (a budget-C view costs C ints per
 * row on the device, not L). */
static void view_upload(engine *e, const kv_view *v, variant_buffers *vb)
{
    backend *be = &e->be;
    long rows = (long)v->n_layers * v->n_heads;
    int cap = 1;
    for (long r = 0; r < rows; r++) cap = v->len[r] > cap ? v->len[r] : cap;
    int *packed = kv_calloc((size_t)rows * cap, sizeof(int));
    for (long r = 0; r < rows; r++) memcpy(packed + r * cap, v->pos + r * v->cap, sizeof(int) * v->len[r]);
    vb->cap = cap;
    vb->pos = be->alloc(be->ctx, sizeof(int) * rows * cap);
    vb->len = be->alloc(be->ctx, sizeof(int) * rows);
    be->to_device(be->ctx, vb->pos, packed, sizeof(int) * rows * cap);
    be->to_device(be->ctx, vb->len, v->len, sizeof(int) * rows);
    free(packed);
}

static void view_stats(const kv_view *v, gen_result *r)
{
    long rows = (long)v->n_layers * v->n_heads;
    r->kept_mean = kv_view_mean_kept(v);
    r->kept_min = rows ? v->len[0] : 0;
    r->kept_max = r->kept_min;
    for (long i = 0; i < rows; i++) {
        r->kept_min = v->len[i] < r->kept_min ? v->len[i] : r->kept_min;
        r->kept_max = v->len[i] > r->kept_max ? v->len[i] : r->kept_max;
    }
}

int engine_generate(engine *e, const int *prompt, int L, const variant *vars, int nv, const gen_params *gp,
                    gen_result *out, gen_timing *timing)
{
    const model_config *cfg = &e->m.cfg;
    backend *be = &e->be;
    if (L < 1 || nv < 1 || gp->max_new_tokens < 1) {
        kv_seterr("engine_generate: need a non-empty prompt (got %d tokens), at least one variant (got %d) "
                  "and max_new_tokens >= 1 (got %d)", L, nv, gp->max_new_tokens);
        return KV_ERR;
    }
    for (int i = 0; i < L; i++) {
        if (prompt[i] < 0 || prompt[i] >= cfg->vocab_size) {
            kv_seterr("prompt token %d at position %d is outside the vocabulary (0..%d)", prompt[i], i,
                      cfg->vocab_size - 1);
            return KV_ERR;
        }
    }
    for (int i = 0; i < nv; i++)
        if (vars[i].method->check && vars[i].method->check(&vars[i], cfg) != KV_OK) return KV_ERR;

    memset(out, 0, sizeof *out * nv);
    gen_timing tm = {.prompt_tokens = L};
    kv_view *views = kv_malloc(sizeof *views * nv);
    for (int i = 0; i < nv; i++) kv_view_init(&views[i], cfg->n_layers, cfg->n_heads, L);
    compress_ctx *cc = compress_new(cfg, vars, nv, L, views);
    if (!cc) {
        for (int i = 0; i < nv; i++) kv_view_free(&views[i]);
        free(views);
        return KV_ERR;
    }

    float *logits = kv_malloc(sizeof(float) * (size_t)e->vocab * nv);
    prefix_store ps = {0};
    double t0 = kv_now();
    int status = forward_prefill(e, prompt, L, &ps, cc, logits);
    compress_free(cc);
    tm.prefill_s = kv_now() - t0;
    if (status != KV_OK) {
        for (int i = 0; i < nv; i++) kv_view_free(&views[i]);
        free(views);
        free(logits);
        return KV_ERR;
    }

    /* The first token comes from the shared prefill: identical for every variant by construction. */
    if (gp->mask_first)
        for (int i = 0; i < gp->n_stop_ids; i++)
            if (gp->stop_ids[i] >= 0 && gp->stop_ids[i] < e->vocab) logits[gp->stop_ids[i]] = -INFINITY;
    int first;
    argmax_cpu(&first, logits, 1, e->vocab);

    const int tail_cap = gp->max_new_tokens;
    const long ks = (long)e->Hkv * e->hd;
    variant_buffers *vb = kv_calloc(nv, sizeof *vb);
    decode_state *ds = kv_malloc(sizeof *ds * nv);
    int *alive = kv_malloc(sizeof(int) * nv), *tokens = kv_malloc(sizeof(int) * nv), *next = kv_malloc(sizeof(int) * nv);
    int n_alive = 0;
    for (int i = 0; i < nv; i++) {
        view_stats(&views[i], &out[i]);
        out[i].ids = kv_malloc(sizeof(int) * tail_cap);
        if (is_stop(gp, first)) {
            out[i].stopped = 1;
            continue;
        }
        out[i].ids[out[i].n_ids++] = first;
        if (out[i].n_ids >= tail_cap) continue;
        view_upload(e, &views[i], &vb[i]);
        vb[i].k_tail = be->alloc(be->ctx, sizeof(float) * cfg->n_layers * tail_cap * ks);
        vb[i].v_tail = be->alloc(be->ctx, sizeof(float) * cfg->n_layers * tail_cap * ks);
        alive[n_alive++] = i;
    }

    t0 = kv_now();
    while (n_alive > 0 && status == KV_OK) {
        for (int a = 0; a < n_alive; a++) {
            int i = alive[a];
            ds[a] = (decode_state){
                .k_prefix = ps.k, .v_prefix = ps.v, .prefix_layer_stride = (long)L * ks,
                .pos = vb[i].pos, .len = vb[i].len, .cap = vb[i].cap,
                .k_tail = vb[i].k_tail, .v_tail = vb[i].v_tail, .tail_cap = tail_cap,
                .n_tail = out[i].n_ids - 1, .position = L + out[i].n_ids - 1,
            };
            tokens[a] = out[i].ids[out[i].n_ids - 1];
        }
        status = forward_decode(e, ds, tokens, n_alive, logits);
        if (status != KV_OK) break;
        tm.decode_steps++;
        argmax_cpu(next, logits, n_alive, e->vocab);
        int kept = 0;
        for (int a = 0; a < n_alive; a++) {
            int i = alive[a];
            if (is_stop(gp, next[a])) {
                out[i].stopped = 1;
                continue;
            }
            out[i].ids[out[i].n_ids++] = next[a];
            if (out[i].n_ids < tail_cap) alive[kept++] = i; /* finished variants leave the batch */
        }
        n_alive = kept;
    }
    tm.decode_s = kv_now() - t0;

    for (int i = 0; i < nv; i++) {
        if (vb[i].pos) be->free(be->ctx, vb[i].pos), be->free(be->ctx, vb[i].len);
        if (vb[i].k_tail) be->free(be->ctx, vb[i].k_tail), be->free(be->ctx, vb[i].v_tail);
        kv_view_free(&views[i]);
    }
    prefix_store_free(e, &ps);
    free(vb), free(ds), free(alive), free(tokens), free(next), free(views), free(logits);
    if (timing) *timing = tm;
    if (status != KV_OK) {
        for (int i = 0; i < nv; i++) gen_result_free(&out[i]);
        return KV_ERR;
    }
    return KV_OK;
}

void gen_result_free(gen_result *r)
{
    free(r->ids);
    r->ids = NULL;
    r->n_ids = 0;
}

int engine_prefill_logits(engine *e, const int *prompt, int L, float *logits)
{
    prefix_store ps = {0};
    int status = forward_prefill(e, prompt, L, &ps, NULL, logits);
    prefix_store_free(e, &ps);
    return status;
}
