/* generate: greedy generation of many KV-cache variants of one prompt — one prefill that derives
 * every variant's view, then one batched decode step per token for all unfinished variants. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/memplan.h"
#include "util/util.h"
#include "kernels/argmax.h"

/* Per-variant decode state on the backend. */
typedef struct {
    int *pos, *len;      /* the view compacted to cap = its longest row */
    int cap;
    int pos_shared;      /* pos is the prompt's keep-all view (gen_batch.all_pos), not this variant's */
    float *k_tail, *v_tail;
} variant_buffers;

static int is_stop(const gen_params *gp, int id)
{
    for (int i = 0; i < gp->n_stop_ids; i++)
        if (gp->stop_ids[i] == id) return 1;
    return 0;
}

/* 1 when every row keeps every prompt position (FullKV, a budget >= L): rows 0..L-1, the host
 * plug-ins' rows being verified strictly increasing in [0, L). */
static int view_keeps_all(const kv_view *v)
{
    long rows = (long)v->n_layers * v->n_heads;
    for (long r = 0; r < rows; r++)
        if (v->len[r] != v->cap) return 0;
    return 1;
}

/* 1 when every row of v keeps the same positions (FullKV, StreamingLLM's sinks + window). */
static int view_uniform(const kv_view *v)
{
    long rows = (long)v->n_layers * v->n_heads;
    for (long r = 1; r < rows; r++)
        if (v->len[r] != v->len[0] || memcmp(v->pos + r * v->cap, v->pos, sizeof(int) * (size_t)v->len[0]))
            return 0;
    return 1;
}

/* A view (rows, n) of identical rows on the backend: the one row `row` goes up and the backend
 * copies it to the other rows (doubling), so the bytes to the device are n ints, not rows × n. */
static int *uniform_view_build(engine *e, long rows, const int *row, int n)
{
    backend *be = &e->be;
    int *d = be->alloc(be->ctx, sizeof(int) * (size_t)rows * n);
    be->to_device(be->ctx, d, row, sizeof(int) * (size_t)n);
    for (long k = 1; k < rows; k *= 2) {
        long m = rows - k < k ? rows - k : k;
        be->copy(be->ctx, d + k * n, d, sizeof(int) * (size_t)m * n);
    }
    return d;
}

/* The view on the backend, its kept counts uploaded: a device view that selection already built
 * there (dv), the prompt's shared keep-all view (*all, built at its first use), a view of identical
 * rows built on the device from one row, or the host view uploaded with its rows packed to the
 * longest kept list (a budget-C view costs C ints per row on the device, not L). */
static void view_upload(engine *e, const kv_view *v, kv_dview *dv, int **all, variant_buffers *vb)
{
    backend *be = &e->be;
    long rows = (long)v->n_layers * v->n_heads;
    vb->len = be->alloc(be->ctx, sizeof(int) * rows);
    be->to_device(be->ctx, vb->len, v->len, sizeof(int) * rows);
    if (dv->pos) { /* handed over: batch_free frees it as vb->pos */
        vb->pos = dv->pos, vb->cap = dv->cap;
        dv->pos = NULL;
        return;
    }
    if (!be->host_memory && view_keeps_all(v)) { /* the rows 0..L-1: view_uniform's, shared */
        if (!*all) *all = uniform_view_build(e, rows, v->pos, v->cap);
        vb->pos = *all, vb->cap = v->cap, vb->pos_shared = 1;
        return;
    }
    if (!be->host_memory && rows > 0 && view_uniform(v)) {
        vb->cap = v->len[0] > 0 ? v->len[0] : 1;
        vb->pos = uniform_view_build(e, rows, v->pos, vb->cap);
        return;
    }
    int cap = 1;
    for (long r = 0; r < rows; r++) cap = v->len[r] > cap ? v->len[r] : cap;
    int *packed = kv_calloc((size_t)rows * cap, sizeof(int));
    for (long r = 0; r < rows; r++) memcpy(packed + r * cap, v->pos + r * v->cap, sizeof(int) * v->len[r]);
    vb->cap = cap;
    vb->pos = be->alloc(be->ctx, sizeof(int) * rows * cap);
    be->to_device(be->ctx, vb->pos, packed, sizeof(int) * rows * cap);
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

static int check_prompt(const engine *e, const int *prompt, int L)
{
    const model_config *cfg = &e->m.cfg;
    if (L < 1) {
        kv_seterr("engine_generate: empty prompt");
        return KV_ERR;
    }
    for (int i = 0; i < L; i++) {
        if (prompt[i] < 0 || prompt[i] >= cfg->vocab_size) {
            kv_seterr("prompt token %d at position %d is outside the vocabulary (0..%d)", prompt[i], i,
                      cfg->vocab_size - 1);
            return KV_ERR;
        }
    }
    return KV_OK;
}

/* Prefill one prompt: its prefix store, every variant's view, and the first token (shared by all
 * its variants by construction: it comes from the one prefill). */
static int prefill_prompt(engine *e, const int *prompt, int L, const variant *vars, int nv, const gen_params *gp,
                          prefix_store *ps, kv_view *views, kv_dview *dv, int *first, gen_timing *tm)
{
    const model_config *cfg = &e->m.cfg;
    for (int i = 0; i < nv; i++) kv_view_init(&views[i], cfg->n_layers, cfg->n_heads, L);
    compress_ctx *cc = compress_new(cfg, vars, nv, L, views);
    if (!cc) return KV_ERR;
    /* device selection leaves the kept sets on the device (dv), on the host only when exported */
    compress_set_device_views(cc, dv, gp->keep_views);
    float *logits = kv_malloc(sizeof(float) * (size_t)e->vocab);
    double t0 = kv_now();
    const backend_traffic tr0 = *e->be.traffic;
    int status = forward_prefill(e, prompt, L, ps, cc, logits);
    tm->prefill_to_host = e->be.traffic->to_host - tr0.to_host;
    tm->prefill_to_device = e->be.traffic->to_device - tr0.to_device;
    tm->prefill_tp_gather = e->be.traffic->tp_gather - tr0.tp_gather;
    compress_free(cc);
    tm->compress_s = e->compress_s; /* the method statistics, computed inside the prefill */
    tm->prefill_s = kv_now() - t0 - tm->compress_s;
    tm->prompt_tokens = L;
    if (status == KV_OK) {
        if (gp->mask_first)
            for (int i = 0; i < gp->n_stop_ids; i++)
                if (gp->stop_ids[i] >= 0 && gp->stop_ids[i] < e->vocab) logits[gp->stop_ids[i]] = -INFINITY;
        argmax_cpu(first, logits, 1, e->vocab);
    }
    free(logits);
    return status;
}

/* Refuses a call the engine cannot serve: nothing to do, a token outside the vocabulary, a variant
 * its method rejects, or a compressing method on a tensor-parallel shard that runs alone. */
static int check_batch(const engine *e, const int *const *prompts, const int *lens, int np, const variant *vars,
                       int nv, const gen_params *gp)
{
    const model_config *cfg = &e->m.cfg;
    if (np < 1 || nv < 1 || gp->max_new_tokens < 1) {
        kv_seterr("engine_generate: need at least one prompt (got %d), one variant (got %d) and "
                  "max_new_tokens >= 1 (got %d)", np, nv, gp->max_new_tokens);
        return KV_ERR;
    }
    if (gp->attention_recall && e->tp_size > 1) {
        kv_seterr("attention recall needs the whole model on one rank (tensor_parallel 1), not %d", e->tp_size);
        return KV_ERR;
    }
    for (int p = 0; p < np; p++)
        if (check_prompt(e, prompts[p], lens[p]) != KV_OK) return KV_ERR;
    for (int i = 0; i < nv; i++) {
        if (vars[i].method->check && vars[i].method->check(&vars[i], cfg) != KV_OK) return KV_ERR;
        if (e->tp_size > 1 && !e->tp && vars[i].method->compresses) {
            kv_seterr("a tensor-parallel shard run alone (no group) decodes FullKV only; %s needs every head's "
                      "statistics", vars[i].method->name);
            return KV_ERR;
        }
    }
    return KV_OK;
}

/* The sequences of one batch: (prompt p, variant i) → s = p*nv + i, prompt-major. */
typedef struct {
    int np, nv, ns, tail_cap;
    const int *lens;
    prefix_store *ps;   /* (np) */
    kv_view *views;     /* (ns) */
    kv_dview *dv;       /* (ns) views device selection built on the backend (pos NULL: none) */
    int **all_pos;      /* (np) each prompt's keep-all view on the backend, or NULL (view_upload) */
    int *first;         /* (np) first generated token of each prompt */
    variant_buffers *vb; /* (ns) */
    int *alive, n_alive; /* (ns) sequences still decoding */
    int *twin;           /* (ns) an earlier sequence of the same prompt with the same view (decoded once), or -1 */
    recall_acc *ra;      /* with gen_params.attention_recall (engine/recall.c), else NULL */
} gen_batch;

/* 1 when host views a and b keep the same positions in every layer and head. */
static int views_equal(const kv_view *a, const kv_view *b)
{
    long rows = (long)a->n_layers * a->n_heads;
    if (!a->pos || !b->pos || a->n_layers != b->n_layers || a->n_heads != b->n_heads) return 0;
    if (memcmp(a->len, b->len, sizeof(int) * rows)) return 0;
    for (long r = 0; r < rows; r++)
        if (memcmp(a->pos + r * a->cap, b->pos + r * b->cap, sizeof(int) * a->len[r])) return 0;
    return 1;
}

/* Sequence s's twin: the first earlier sequence of its prompt whose view keeps the same positions
 * (e.g. FullKV and a method whose budget covers the prompt). Its decode would be the same
 * computation row for row (the kernels' bits do not depend on the batch), so it is decoded once and
 * its tokens copied (batch_copy_twins). Not with attention recall (per-sequence accumulators) or
 * device-built views (no host positions to compare). */
static int find_twin(const gen_batch *b, const gen_params *gp, int s)
{
    if (gp->attention_recall || b->dv[s].pos) return -1;
    for (int t = s - s % b->nv; t < s; t++)
        if (b->twin[t] < 0 && !b->dv[t].pos && views_equal(&b->views[t], &b->views[s])) return t;
    return -1;
}

static void batch_copy_twins(gen_batch *b, gen_result *out)
{
    for (int s = 0; s < b->ns; s++) {
        const int t = b->twin[s];
        if (t < 0) continue;
        memcpy(out[s].ids, out[t].ids, sizeof(int) * out[t].n_ids);
        out[s].n_ids = out[t].n_ids, out[s].stopped = out[t].stopped, out[s].decoded_with = t;
    }
}

/* Each sequence's kept counts and first token; those that go on decoding get their view and tails
 * on the backend and join the alive list (a twin waits for its twin's tokens). */
static void batch_start(engine *e, gen_batch *b, const variant *vars, const gen_params *gp, gen_result *out)
{
    const model_config *cfg = &e->m.cfg;
    backend *be = &e->be;
    const long ks = (long)e->Hkv * e->hd;
    for (int s = 0; s < b->ns; s++) {
        int p = s / b->nv;
        view_stats(&b->views[s], &out[s]);
        out[s].recall = NAN;
        out[s].decoded_with = -1;
        const variant *v = &vars[s % b->nv];
        out[s].kept_expected = v->method->expected_kept ? v->method->expected_kept(v, cfg, b->lens[p], 0) : -1;
        out[s].ids = kv_malloc(sizeof(int) * b->tail_cap);
        if (is_stop(gp, b->first[p])) {
            out[s].stopped = 1;
            continue;
        }
        out[s].ids[out[s].n_ids++] = b->first[p];
        if (out[s].n_ids >= b->tail_cap || (b->twin[s] = find_twin(b, gp, s)) >= 0) continue;
        view_upload(e, &b->views[s], &b->dv[s], &b->all_pos[p], &b->vb[s]);
        b->vb[s].k_tail = be->alloc(be->ctx, sizeof(float) * cfg->n_layers * b->tail_cap * ks);
        b->vb[s].v_tail = be->alloc(be->ctx, sizeof(float) * cfg->n_layers * b->tail_cap * ks);
        b->alive[b->n_alive++] = s;
    }
}

/* The decode batch of the alive sequences (its graph is captured once per alive set). */
static decode_batch *batch_decoder(engine *e, const gen_batch *b, decode_state *ds)
{
    const long ks = (long)e->Hkv * e->hd;
    for (int a = 0; a < b->n_alive; a++) {
        int s = b->alive[a], p = s / b->nv;
        const variant_buffers *vb = &b->vb[s];
        ds[a] = (decode_state){
            .k_prefix = b->ps[p].k, .v_prefix = b->ps[p].v, .prefix_layer_stride = (long)b->lens[p] * ks,
            .pos = vb->pos, .len = vb->len, .cap = vb->cap,
            .k_tail = vb->k_tail, .v_tail = vb->v_tail, .tail_cap = b->tail_cap,
        };
    }
    return decode_batch_new(e, ds, b->n_alive);
}

/* Greedy decode of every alive sequence, one batched step per token, until each stops or fills
 * its tail; *steps counts the steps. */
static int batch_decode(engine *e, gen_batch *b, const gen_params *gp, gen_result *out, int *steps)
{
    const int ns = b->ns;
    decode_state *ds = kv_malloc(sizeof *ds * ns);
    int *tokens = kv_malloc(sizeof(int) * ns), *next = kv_malloc(sizeof(int) * ns);
    int *positions = kv_malloc(sizeof(int) * ns), *n_tail = kv_malloc(sizeof(int) * ns);
    int status = KV_OK;
    decode_batch *db = NULL; /* rebuilt (and its graph recaptured) whenever the alive set changes */
    while (b->n_alive > 0) {
        for (int a = 0; a < b->n_alive; a++) {
            int s = b->alive[a], p = s / b->nv;
            tokens[a] = out[s].ids[out[s].n_ids - 1];
            n_tail[a] = out[s].n_ids - 1;
            positions[a] = b->lens[p] + out[s].n_ids - 1;
        }
        if (!db) db = batch_decoder(e, b, ds);
        /* the argmax on the backend: only the token ids come to the host */
        status = decode_batch_step(e, db, tokens, positions, n_tail, NULL, next);
        if (status != KV_OK) break;
        (*steps)++;
        if (b->ra) recall_acc_step(e, db, b->ra, b->alive, b->n_alive);
        int kept = 0;
        for (int a = 0; a < b->n_alive; a++) {
            int s = b->alive[a];
            if (is_stop(gp, next[a])) {
                out[s].stopped = 1;
                continue;
            }
            out[s].ids[out[s].n_ids++] = next[a];
            if (out[s].n_ids < b->tail_cap) b->alive[kept++] = s; /* finished sequences leave the batch */
        }
        if (kept != b->n_alive) decode_batch_free(e, db), db = NULL;
        b->n_alive = kept;
    }
    decode_batch_free(e, db);
    free(ds), free(tokens), free(next), free(positions), free(n_tail);
    return status;
}

/* Frees the backend buffers and host views of every sequence and the first n_prefilled prefix stores. */
static void batch_free(engine *e, gen_batch *b, int n_prefilled)
{
    backend *be = &e->be;
    for (int s = 0; s < b->ns; s++) {
        variant_buffers *vb = &b->vb[s];
        if (vb->pos && !vb->pos_shared) be->free(be->ctx, vb->pos);
        if (vb->len) be->free(be->ctx, vb->len);
        if (vb->k_tail) be->free(be->ctx, vb->k_tail), be->free(be->ctx, vb->v_tail);
        if (b->views[s].len) kv_view_free(&b->views[s]);
        if (b->dv[s].pos) be->free(be->ctx, b->dv[s].pos);
    }
    for (int p = 0; p < n_prefilled; p++) prefix_store_free(e, &b->ps[p]);
    for (int p = 0; p < b->np; p++)
        if (b->all_pos[p]) be->free(be->ctx, b->all_pos[p]);
    free(b->vb), free(b->alive), free(b->views), free(b->dv), free(b->all_pos), free(b->ps), free(b->first);
    free(b->twin);
}

int engine_generate_batch(engine *e, const int *const *prompts, const int *lens, int np, const variant *vars,
                          int nv, const gen_params *gp, gen_result *out, gen_timing *timing)
{
    if (check_batch(e, prompts, lens, np, vars, nv, gp) != KV_OK) return KV_ERR;
    const int ns = np * nv;
    memset(out, 0, sizeof *out * ns);
    gen_batch b = {
        .np = np, .nv = nv, .ns = ns, .tail_cap = gp->max_new_tokens, .lens = lens,
        .ps = kv_calloc(np, sizeof *b.ps), .views = kv_calloc(ns, sizeof *b.views), .dv = kv_calloc(ns, sizeof *b.dv),
        .all_pos = kv_calloc(np, sizeof *b.all_pos),
        .first = kv_malloc(sizeof(int) * np), .vb = kv_calloc(ns, sizeof *b.vb), .alive = kv_malloc(sizeof(int) * ns),
        .twin = kv_malloc(sizeof(int) * ns),
    };
    for (int s = 0; s < ns; s++) b.twin[s] = -1;
    gen_timing *tm = kv_calloc(np, sizeof *tm);
    int status = KV_OK, n_prefilled = 0;
    for (int p = 0; p < np && status == KV_OK; p++, n_prefilled++)
        status = prefill_prompt(e, prompts[p], lens[p], vars, nv, gp, &b.ps[p], &b.views[p * nv], &b.dv[p * nv], &b.first[p],
                                &tm[p]);
    int steps = 0;
    double decode_s = 0, weights_s = 0, attention_s = 0;
    const backend_traffic tr0 = *e->be.traffic; /* the decode's bytes: views, tokens, logits */
    if (status == KV_OK) {
        batch_start(e, &b, vars, gp, out);
        b.ra = gp->attention_recall ? recall_acc_new(e, ns, b.tail_cap) : NULL;
        e->recall = b.ra != NULL;
        double t0 = kv_now(), k0[2] = {0, 0}, k1[2] = {0, 0};
        if (e->be.kernel_seconds) e->be.kernel_seconds(e->be.ctx, &k0[0], &k0[1]);
        status = batch_decode(e, &b, gp, out, &steps);
        decode_s = kv_now() - t0;
        if (e->be.kernel_seconds) e->be.kernel_seconds(e->be.ctx, &k1[0], &k1[1]);
        weights_s = k1[0] - k0[0], attention_s = k1[1] - k0[1];
        batch_copy_twins(&b, out);
        e->recall = 0;
        if (b.ra) recall_acc_finish(b.ra, out);
    }
    for (int s = 0; s < ns && gp->keep_views; s++) /* handed over: gen_result_free frees them */
        out[s].view = b.views[s], memset(&b.views[s], 0, sizeof b.views[s]);
    batch_free(e, &b, n_prefilled);
    if (timing) {
        for (int p = 0; p < np; p++) {
            /* the batched decode is shared: each prompt is charged an equal part */
            tm[p].decode_s = decode_s / np;
            tm[p].decode_weights_s = weights_s / np, tm[p].decode_attention_s = attention_s / np;
            tm[p].decode_steps = steps;
            tm[p].decode_to_host = (e->be.traffic->to_host - tr0.to_host) / np;
            tm[p].decode_to_device = (e->be.traffic->to_device - tr0.to_device) / np;
            timing[p] = tm[p];
        }
    }
    free(tm);
    if (status != KV_OK) {
        for (int s = 0; s < ns; s++) gen_result_free(&out[s]);
        return KV_ERR;
    }
    return KV_OK;
}

int engine_generate(engine *e, const int *prompt, int L, const variant *vars, int nv, const gen_params *gp,
                    gen_result *out, gen_timing *timing)
{
    return engine_generate_batch(e, &prompt, &L, 1, vars, nv, gp, out, timing);
}

void gen_result_free(gen_result *r)
{
    free(r->ids);
    r->ids = NULL;
    r->n_ids = 0;
    if (r->view.len) kv_view_free(&r->view);
    memset(&r->view, 0, sizeof r->view);
    free(r->recall_layer), free(r->recall_step);
    r->recall_layer = NULL, r->recall_step = NULL;
    r->n_recall_steps = 0;
}

int engine_prefill_logits(engine *e, const int *prompt, int L, float *logits)
{
    prefix_store ps = {0};
    int status = forward_prefill(e, prompt, L, &ps, NULL, logits);
    prefix_store_free(e, &ps);
    return status;
}

size_t engine_batch_bytes(const engine *e, int L, int nv, int max_new_tokens)
{
    const size_t ks = (size_t)e->Hkv * e->hd, layers = (size_t)e->n_layers;
    size_t prefix = 2 * sizeof(float) * layers * (size_t)L * ks;
    size_t tails = 2 * sizeof(float) * layers * (size_t)max_new_tokens * ks;
    size_t view = sizeof(int) * layers * (size_t)e->H * ((size_t)L + 1); /* packed positions + lengths */
    return prefix + (size_t)nv * (tails + view);
}

size_t engine_sample_peak(const engine *e, int L, const variant *vars, int nv, int max_new_tokens, size_t *prefix,
                          size_t *stats, size_t *per_variant)
{
    mem_plan mp;
    mem_plan_sample(&e->m.cfg, e->tp_size, L, vars, nv, max_new_tokens, &mp);
    if (prefix) *prefix = mp.prefix;
    if (stats) *stats = mp.prefill + mp.stats;
    if (per_variant) *per_variant = mp.per_variant;
    return mp.peak;
}

size_t engine_batch_budget(const engine *e)
{
    const char *cpu_mem = getenv("KVBENCH_CPU_MEM_BYTES");
    if (!e->be.host_memory || (cpu_mem && *cpu_mem)) {
        size_t free_b = 0, total = 0;
        if (!e->be.mem_info || e->be.mem_info(e->be.ctx, &free_b, &total) != KV_OK) return 0;
        size_t reserve = mem_plan_reserve(total);
        return free_b > reserve ? free_b - reserve : 1; /* 1: nothing fits (0 means "cannot say") */
    }
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (size_t)(kb * 1024ULL / 2);
}
