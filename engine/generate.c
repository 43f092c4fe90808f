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
                          prefix_store *ps, kv_view *views, int *first, gen_timing *tm)
{
    const model_config *cfg = &e->m.cfg;
    for (int i = 0; i < nv; i++) kv_view_init(&views[i], cfg->n_layers, cfg->n_heads, L);
    compress_ctx *cc = compress_new(cfg, vars, nv, L, views);
    if (!cc) return KV_ERR;
    float *logits = kv_malloc(sizeof(float) * (size_t)e->vocab);
    double t0 = kv_now();
    const backend_traffic tr0 = *e->be.traffic;
    int status = forward_prefill(e, prompt, L, ps, cc, logits);
    tm->prefill_to_host = e->be.traffic->to_host - tr0.to_host;
    tm->prefill_to_device = e->be.traffic->to_device - tr0.to_device;
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

int engine_generate_batch(engine *e, const int *const *prompts, const int *lens, int np, const variant *vars,
                          int nv, const gen_params *gp, gen_result *out, gen_timing *timing)
{
    const model_config *cfg = &e->m.cfg;
    backend *be = &e->be;
    if (np < 1 || nv < 1 || gp->max_new_tokens < 1) {
        kv_seterr("engine_generate: need at least one prompt (got %d), one variant (got %d) and "
                  "max_new_tokens >= 1 (got %d)", np, nv, gp->max_new_tokens);
        return KV_ERR;
    }
    for (int p = 0; p < np; p++)
        if (check_prompt(e, prompts[p], lens[p]) != KV_OK) return KV_ERR;
    for (int i = 0; i < nv; i++) {
        if (vars[i].method->check && vars[i].method->check(&vars[i], cfg) != KV_OK) return KV_ERR;
        if (e->tp_size > 1 && !e->tp && strcmp(vars[i].method->name, "fullkv")) {
            kv_seterr("a tensor-parallel shard run alone (no group) decodes FullKV only; %s needs every head's "
                      "statistics", vars[i].method->name);
            return KV_ERR;
        }
    }

    const int ns = np * nv; /* sequences: prompt-major (prompt p, variant i) → p*nv + i */
    memset(out, 0, sizeof *out * ns);
    gen_timing *tm = kv_calloc(np, sizeof *tm);
    prefix_store *ps = kv_calloc(np, sizeof *ps);
    kv_view *views = kv_calloc(ns, sizeof *views);
    int *first = kv_malloc(sizeof(int) * np), status = KV_OK, n_prefilled = 0;
    for (int p = 0; p < np && status == KV_OK; p++, n_prefilled++)
        status = prefill_prompt(e, prompts[p], lens[p], vars, nv, gp, &ps[p], &views[p * nv], &first[p], &tm[p]);

    const int tail_cap = gp->max_new_tokens;
    const long ks = (long)e->Hkv * e->hd;
    variant_buffers *vb = kv_calloc(ns, sizeof *vb);
    decode_state *ds = kv_malloc(sizeof *ds * ns);
    int *alive = kv_malloc(sizeof(int) * ns), *tokens = kv_malloc(sizeof(int) * ns), *next = kv_malloc(sizeof(int) * ns);
    float *logits = kv_malloc(sizeof(float) * (size_t)e->vocab * ns);
    int n_alive = 0;
    for (int s = 0; s < ns && status == KV_OK; s++) {
        int p = s / nv;
        view_stats(&views[s], &out[s]);
        const variant *v = &vars[s % nv];
        out[s].kept_expected = v->method->expected_kept ? v->method->expected_kept(v, cfg, lens[p], 0) : -1;
        out[s].ids = kv_malloc(sizeof(int) * tail_cap);
        if (is_stop(gp, first[p])) {
            out[s].stopped = 1;
            continue;
        }
        out[s].ids[out[s].n_ids++] = first[p];
        if (out[s].n_ids >= tail_cap) continue;
        view_upload(e, &views[s], &vb[s]);
        vb[s].k_tail = be->alloc(be->ctx, sizeof(float) * cfg->n_layers * tail_cap * ks);
        vb[s].v_tail = be->alloc(be->ctx, sizeof(float) * cfg->n_layers * tail_cap * ks);
        alive[n_alive++] = s;
    }

    double t0 = kv_now();
    const backend_traffic tr0 = *be->traffic;
    int steps = 0;
    decode_batch *db = NULL; /* rebuilt (and its graph recaptured) whenever the alive set changes */
    int *positions = kv_malloc(sizeof(int) * ns), *n_tail = kv_malloc(sizeof(int) * ns);
    while (n_alive > 0 && status == KV_OK) {
        for (int a = 0; a < n_alive; a++) {
            int s = alive[a], p = s / nv;
            tokens[a] = out[s].ids[out[s].n_ids - 1];
            n_tail[a] = out[s].n_ids - 1;
            positions[a] = lens[p] + out[s].n_ids - 1;
        }
        if (!db) {
            for (int a = 0; a < n_alive; a++) {
                int s = alive[a], p = s / nv;
                ds[a] = (decode_state){
                    .k_prefix = ps[p].k, .v_prefix = ps[p].v, .prefix_layer_stride = (long)lens[p] * ks,
                    .pos = vb[s].pos, .len = vb[s].len, .cap = vb[s].cap,
                    .k_tail = vb[s].k_tail, .v_tail = vb[s].v_tail, .tail_cap = tail_cap,
                };
            }
            db = decode_batch_new(e, ds, n_alive);
        }
        status = decode_batch_step(e, db, tokens, positions, n_tail, logits);
        if (status != KV_OK) break;
        steps++;
        argmax_cpu(next, logits, n_alive, e->vocab);
        int kept = 0;
        for (int a = 0; a < n_alive; a++) {
            int s = alive[a];
            if (is_stop(gp, next[a])) {
                out[s].stopped = 1;
                continue;
            }
            out[s].ids[out[s].n_ids++] = next[a];
            if (out[s].n_ids < tail_cap) alive[kept++] = s; /* finished sequences leave the batch */
        }
        if (kept != n_alive) decode_batch_free(e, db), db = NULL;
        n_alive = kept;
    }
    decode_batch_free(e, db);
    free(positions), free(n_tail);
    double decode_s = kv_now() - t0;

    for (int s = 0; s < ns; s++) {
        if (vb[s].pos) be->free(be->ctx, vb[s].pos), be->free(be->ctx, vb[s].len);
        if (vb[s].k_tail) be->free(be->ctx, vb[s].k_tail), be->free(be->ctx, vb[s].v_tail);
        if (views[s].len) kv_view_free(&views[s]);
    }
    for (int p = 0; p < n_prefilled; p++) prefix_store_free(e, &ps[p]);
    if (timing) {
        for (int p = 0; p < np; p++) {
            /* the batched decode is shared: each prompt is charged an equal part */
            tm[p].decode_s = decode_s / np;
            tm[p].decode_steps = steps;
            tm[p].decode_to_host = (be->traffic->to_host - tr0.to_host) / np;
            tm[p].decode_to_device = (be->traffic->to_device - tr0.to_device) / np;
            timing[p] = tm[p];
        }
    }
    free(vb), free(ds), free(alive), free(tokens), free(next), free(views), free(logits), free(ps), free(first), free(tm);
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
