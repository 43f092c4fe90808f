/* forward: the Llama forward pass through the backend vtable — the prefill of a whole prompt
 * (keeping every layer's post-RoPE K/V and feeding the compression hook) and one batched decode
 * step for many sequences, each attending through its own view of a prefix store plus its tail. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/stats_backend.h"
#include "util/util.h"

#define MLP_CHUNK 256 /* prefill MLP rows per pass: bounds the (rows, hidden) buffers */

static int tp_allreduce(engine *e, float *buf, long n)
{
    if (!e->tp) return KV_OK;
    return e->tp->allreduce_sum(e->tp->ctx, buf, n);
}

/* The SwiGLU MLP of layer l over L rows, `chunk` rows at a time (gate and up hold chunk·F):
 * tmp = W_down·(silu(W_gate·xn) ⊙ W_up·xn). */
static void prefill_mlp(engine *e, int l, float *tmp, const float *xn, float *gate, float *up, int L, int chunk)
{
    backend *be = &e->be;
    void *c = be->ctx;
    const int dim = e->dim, F = e->F;
    for (int r0 = 0; r0 < L; r0 += chunk) {
        int nr = L - r0 < chunk ? L - r0 : chunk;
        be->matmul(c, gate, xn + (long)r0 * dim, e->w.w_gate[l], nr, dim, F);
        be->matmul(c, up, xn + (long)r0 * dim, e->w.w_up[l], nr, dim, F);
        be->swiglu(c, gate, gate, up, (long)nr * F);
        be->matmul(c, tmp + (long)r0 * dim, gate, e->w.w_down[l], nr, F, dim);
    }
}

/* The next-token logits (host) of the last row x_last; xn is scratch of one row. */
static void prefill_logits(engine *e, float *logits, float *xn, const float *x_last)
{
    backend *be = &e->be;
    void *c = be->ctx;
    float *d_logits = be->alloc(c, sizeof(float) * e->vocab);
    be->rmsnorm(c, xn, x_last, e->w.out_norm, 1, e->dim, (float)e->m.cfg.norm_eps);
    be->matmul(c, d_logits, xn, e->w.lm_head, 1, e->dim, e->vocab);
    be->to_host(c, logits, d_logits, sizeof(float) * e->vocab);
    be->free(c, d_logits);
}

int forward_prefill(engine *e, const int *ids, int L, prefix_store *ps, compress_ctx *cc, float *logits)
{
    backend *be = &e->be;
    void *c = be->ctx;
    const int dim = e->dim, H = e->H, Hkv = e->Hkv, hd = e->hd, F = e->F;
    const long qs = (long)H * hd, ks = (long)Hkv * hd;
    const float eps = (float)e->m.cfg.norm_eps;
    int status = KV_OK;

    int *pos = kv_malloc(sizeof(int) * L);
    for (int i = 0; i < L; i++) pos[i] = i;
    int *d_ids = be->alloc(c, sizeof(int) * L), *d_pos = be->alloc(c, sizeof(int) * L);
    be->to_device(c, d_ids, ids, sizeof(int) * L);
    be->to_device(c, d_pos, pos, sizeof(int) * L);
    int chunk = L < MLP_CHUNK ? L : MLP_CHUNK;
    float *x = be->alloc(c, sizeof(float) * L * dim), *xn = be->alloc(c, sizeof(float) * L * dim);
    float *tmp = be->alloc(c, sizeof(float) * L * dim);
    float *q = be->alloc(c, sizeof(float) * L * qs), *att = be->alloc(c, sizeof(float) * L * qs);
    float *lse = be->alloc(c, sizeof(float) * H * L);
    float *gate = be->alloc(c, sizeof(float) * chunk * F), *up = be->alloc(c, sizeof(float) * chunk * F);
    ps->L = L;
    ps->k = be->alloc(c, sizeof(float) * e->n_layers * L * ks);
    ps->v = be->alloc(c, sizeof(float) * e->n_layers * L * ks);

    /* The compression statistics of this rank's heads are computed where q, k and lse are (the
     * device for CUDA) and only they reach the host, gathered over the TP group. */
    stats_backend sb = {0};
    e->compress_s = 0;
    if (cc) {
        double t0 = kv_now();
        status = stats_backend_open(&sb, be, e->tp, cc, L, H, Hkv, hd);
        e->compress_s += kv_now() - t0;
    }

    be->embedding(c, x, e->w.emb, d_ids, L, dim);
    for (int l = 0; l < e->n_layers && status == KV_OK; l++) {
        float *kl = ps->k + (long)l * L * ks, *vl = ps->v + (long)l * L * ks;
        be->rmsnorm(c, xn, x, e->w.attn_norm + (long)l * dim, L, dim, eps);
        be->matmul(c, q, xn, e->w.wq[l], L, dim, (int)qs);
        be->matmul(c, kl, xn, e->w.wk[l], L, dim, (int)ks);
        be->matmul(c, vl, xn, e->w.wv[l], L, dim, (int)ks);
        be->rope(c, q, L, H, hd, d_pos, e->w.inv_freq);
        be->rope(c, kl, L, Hkv, hd, d_pos, e->w.inv_freq);
        be->attention_prefill(c, att, lse, q, kl, vl, L, H, Hkv, hd);
        if (cc) {
            /* compress_s times the statistics, their transfers and the selection, not the
             * layer's prefill kernels still in flight on a device */
            if (!be->host_memory) be->sync(c);
            double t0 = kv_now();
            status = stats_backend_compute(&sb, q, kl, vl, lse);
            if (status == KV_OK) status = stats_backend_select(&sb, l);
            e->compress_s += kv_now() - t0;
        }
        be->matmul(c, tmp, att, e->w.wo[l], L, (int)qs, dim);
        if (status == KV_OK) status = tp_allreduce(e, tmp, (long)L * dim);
        be->add(c, x, tmp, (long)L * dim);
        be->rmsnorm(c, xn, x, e->w.ffn_norm + (long)l * dim, L, dim, eps);
        prefill_mlp(e, l, tmp, xn, gate, up, L, chunk);
        if (status == KV_OK) status = tp_allreduce(e, tmp, (long)L * dim);
        be->add(c, x, tmp, (long)L * dim);
        if (cc && status == KV_OK) {
            /* the plug-ins run on the host after the layer's MLP is queued: on a device the two
             * overlap (the selection reads only the statistics, already on the host) */
            double t0 = kv_now();
            status = compress_select_layer(cc, l);
            e->compress_s += kv_now() - t0;
        }
    }
    if (status == KV_OK && logits) prefill_logits(e, logits, xn, x + (long)(L - 1) * dim);
    be->sync(c);
    if (cc) stats_backend_close(&sb);
    be->free(c, d_ids), be->free(c, d_pos), be->free(c, x), be->free(c, xn), be->free(c, tmp);
    be->free(c, q), be->free(c, att), be->free(c, lse), be->free(c, gate), be->free(c, up);
    free(pos);
    if (status != KV_OK) prefix_store_free(e, ps);
    return status;
}

void prefix_store_free(engine *e, prefix_store *ps)
{
    if (ps->k) e->be.free(e->be.ctx, ps->k);
    if (ps->v) e->be.free(e->be.ctx, ps->v);
    ps->k = ps->v = NULL;
}

struct decode_batch {
    int B;
    int *d_tok, *d_pos, *d_tail;     /* (B) backend memory, refreshed before every step */
    int *h_tail;                      /* (B) host: tail lengths of the step, the current token included */
    float *x, *xn, *tmp, *q, *att, *kn, *vn, *gate, *up, *logits;
    decode_seq *ds;                   /* (n_layers, B) descriptors, fixed for the batch's life */
    recall_seq *rs;                   /* (n_layers, B) with e->recall (engine/recall.c), else NULL */
    float *recall;                    /* (n_layers, B, H) backend memory: the step's attention recall */
    int recorded;                     /* the step has been captured as a graph */
};

decode_batch *decode_batch_new(engine *e, const decode_state *seqs, int B)
{
    backend *be = &e->be;
    void *c = be->ctx;
    const int dim = e->dim, Ht = e->m.cfg.n_heads;
    const long qs = (long)e->H * e->hd, ks = (long)e->Hkv * e->hd;
    decode_batch *db = kv_calloc(1, sizeof *db);
    db->B = B;
    db->d_tok = be->alloc(c, sizeof(int) * B), db->d_pos = be->alloc(c, sizeof(int) * B);
    db->d_tail = be->alloc(c, sizeof(int) * B);
    db->h_tail = kv_malloc(sizeof(int) * B);
    db->x = be->alloc(c, sizeof(float) * B * dim), db->xn = be->alloc(c, sizeof(float) * B * dim);
    db->tmp = be->alloc(c, sizeof(float) * B * dim);
    db->q = be->alloc(c, sizeof(float) * B * qs), db->att = be->alloc(c, sizeof(float) * B * qs);
    db->kn = be->alloc(c, sizeof(float) * B * ks), db->vn = be->alloc(c, sizeof(float) * B * ks);
    db->gate = be->alloc(c, sizeof(float) * B * e->F), db->up = be->alloc(c, sizeof(float) * B * e->F);
    db->logits = be->alloc(c, sizeof(float) * B * e->vocab);
    db->ds = kv_malloc(sizeof *db->ds * e->n_layers * B);
    /* one fresh view id per layer of this batch (decode_seq.view_id): kernels may keep their plans */
    static unsigned long last_view_id;
    const unsigned long id0 = __atomic_add_fetch(&last_view_id, (unsigned long)e->n_layers, __ATOMIC_RELAXED);
    for (int l = 0; l < e->n_layers; l++) {
        for (int b = 0; b < B; b++) {
            const decode_state *s = &seqs[b];
            /* this rank's query heads are the contiguous block tp_rank*H .. of the global view */
            long row0 = (long)l * Ht + (long)e->tp_rank * e->H;
            db->ds[(long)l * B + b] = (decode_seq){
                .k_prefix = s->k_prefix + l * s->prefix_layer_stride,
                .v_prefix = s->v_prefix + l * s->prefix_layer_stride,
                .pos = s->pos + row0 * s->cap,
                .len = s->len + row0,
                .cap = s->cap,
                .k_tail = s->k_tail + (long)l * s->tail_cap * ks,
                .v_tail = s->v_tail + (long)l * s->tail_cap * ks,
                .n_tail = s->tail_cap, /* the bound; the length itself is read from d_tail */
                .n_tail_at = db->d_tail + b,
                .view_id = id0 - (unsigned long)e->n_layers + 1 + (unsigned long)l,
            };
        }
    }
    if (e->recall) {
        db->rs = recall_seqs_new(e, db->ds, seqs, B);
        db->recall = be->alloc(c, sizeof(float) * e->n_layers * B * e->H);
    }
    return db;
}

void decode_batch_free(engine *e, decode_batch *db)
{
    if (!db) return;
    backend *be = &e->be;
    void *c = be->ctx;
    be->sync(c);
    be->free(c, db->d_tok), be->free(c, db->d_pos), be->free(c, db->d_tail);
    be->free(c, db->x), be->free(c, db->xn), be->free(c, db->tmp), be->free(c, db->q), be->free(c, db->att);
    be->free(c, db->kn), be->free(c, db->vn), be->free(c, db->gate), be->free(c, db->up), be->free(c, db->logits);
    if (db->recall) be->free(c, db->recall);
    free(db->h_tail);
    free(db->ds), free(db->rs);
    free(db);
}

/* out[i] = x w[i]^T for count weights reading the same x (a layer's q, k, v; gate, up): one backend
 * call where it fuses them, the same bits either way. */
static void matmul_same_input(backend *be, float *const *out, const float *x, const void *const *w, int count, int n,
                              int in_dim, const int *out_dim)
{
    if (be->matmul_multi) {
        be->matmul_multi(be->ctx, out, x, w, count, n, in_dim, out_dim);
        return;
    }
    for (int i = 0; i < count; i++) be->matmul(be->ctx, out[i], x, w[i], n, in_dim, out_dim[i]);
}

/* The step's operations, reading only the batch's buffers: recorded once as a graph, or run as
 * they are issued on backends without graphs. */
static int decode_record(engine *e, decode_batch *db)
{
    backend *be = &e->be;
    void *c = be->ctx;
    const int B = db->B, dim = e->dim, H = e->H, Hkv = e->Hkv, hd = e->hd, F = e->F;
    const long qs = (long)H * hd, ks = (long)Hkv * hd;
    const float eps = (float)e->m.cfg.norm_eps;
    int status = KV_OK;
    be->embedding(c, db->x, e->w.emb, db->d_tok, B, dim);
    for (int l = 0; l < e->n_layers && status == KV_OK; l++) {
        const decode_seq *ds = db->ds + (long)l * B;
        be->rmsnorm(c, db->xn, db->x, e->w.attn_norm + (long)l * dim, B, dim, eps);
        {
            float *const out[3] = {db->q, db->kn, db->vn};
            const void *const w[3] = {e->w.wq[l], e->w.wk[l], e->w.wv[l]};
            const int od[3] = {(int)qs, (int)ks, (int)ks};
            matmul_same_input(be, out, db->xn, w, 3, B, dim, od);
        }
        be->rope(c, db->q, B, H, hd, db->d_pos, e->w.inv_freq);
        be->rope(c, db->kn, B, Hkv, hd, db->d_pos, e->w.inv_freq);
        be->tail_store(c, ds, B, db->kn, db->vn, (int)ks);
        be->decode_attention(c, db->att, db->q, ds, B, H, Hkv, hd);
        if (db->rs) be->attention_recall(c, db->recall + (long)l * B * H, db->q, db->rs + (long)l * B, B, H, Hkv, hd);
        be->matmul(c, db->tmp, db->att, e->w.wo[l], B, (int)qs, dim);
        status = tp_allreduce(e, db->tmp, (long)B * dim);
        be->add(c, db->x, db->tmp, (long)B * dim);
        be->rmsnorm(c, db->xn, db->x, e->w.ffn_norm + (long)l * dim, B, dim, eps);
        {
            float *const out[2] = {db->gate, db->up};
            const void *const w[2] = {e->w.w_gate[l], e->w.w_up[l]};
            const int od[2] = {F, F};
            matmul_same_input(be, out, db->xn, w, 2, B, dim, od);
        }
        be->swiglu(c, db->gate, db->gate, db->up, (long)B * F);
        be->matmul(c, db->tmp, db->gate, e->w.w_down[l], B, F, dim);
        if (status == KV_OK) status = tp_allreduce(e, db->tmp, (long)B * dim);
        be->add(c, db->x, db->tmp, (long)B * dim);
    }
    be->rmsnorm(c, db->xn, db->x, e->w.out_norm, B, dim, eps);
    be->matmul(c, db->logits, db->xn, e->w.lm_head, B, dim, e->vocab);
    return status;
}

int decode_batch_step(engine *e, decode_batch *db, const int *tokens, const int *positions, const int *n_tail,
                      float *logits, int *next)
{
    backend *be = &e->be;
    void *c = be->ctx;
    const int B = db->B;
    int status = KV_OK;
    for (int b = 0; b < B; b++) db->h_tail[b] = n_tail[b] + 1; /* the current token is a tail entry */
    /* Issued before the graph on the same stream: the replay reads this step's values. */
    be->to_device(c, db->d_tok, tokens, sizeof(int) * B);
    be->to_device(c, db->d_pos, positions, sizeof(int) * B);
    be->to_device(c, db->d_tail, db->h_tail, sizeof(int) * B);
    if (!e->decode_graphs) {
        status = decode_record(e, db);
    } else if (!db->recorded) {
        be->graph_begin(c);
        status = decode_record(e, db);
        be->graph_end(c); /* instantiates and launches */
        db->recorded = 1;
        e->graph_captures++;
    } else {
        be->graph_replay(c);
        e->graph_replays++;
    }
    if (status == KV_OK && logits) be->to_host(c, logits, db->logits, sizeof(float) * B * e->vocab);
    if (status == KV_OK && next) be->argmax(c, next, db->logits, B, e->vocab);
    be->sync(c);
    return status;
}

void decode_batch_recall(engine *e, decode_batch *db, float *host)
{
    e->be.to_host(e->be.ctx, host, db->recall, sizeof(float) * e->n_layers * db->B * e->H);
}

int forward_decode(engine *e, decode_state *seqs, const int *tokens, int B, float *logits)
{
    int *pos = kv_malloc(sizeof(int) * B), *n_tail = kv_malloc(sizeof(int) * B);
    for (int b = 0; b < B; b++) pos[b] = seqs[b].position, n_tail[b] = seqs[b].n_tail;
    decode_batch *db = decode_batch_new(e, seqs, B);
    int status = decode_batch_step(e, db, tokens, pos, n_tail, logits, NULL);
    decode_batch_free(e, db);
    free(pos), free(n_tail);
    return status;
}
