/* workplan: item expansion, resume set and cost model (pure functions; see workplan.h). */
#include "harness/sweep/workplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

uint64_t done_key(const char *model_name, const char *task, int sample, const char *variant_key)
{
    uint64_t h = KV_FNV_SEED;
    h = kv_fnv1a(model_name, strlen(model_name) + 1, h);
    h = kv_fnv1a(task, strlen(task) + 1, h);
    h = kv_fnv1a(&sample, sizeof sample, h);
    return kv_fnv1a(variant_key, strlen(variant_key), h);
}

void done_add(done_set *d, uint64_t key)
{
    if (d->n == d->cap) d->keys = kv_realloc(d->keys, sizeof *d->keys * (size_t)(d->cap = d->cap ? 2 * d->cap : 1024));
    d->keys[d->n++] = key;
    d->sorted = 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int done_has(done_set *d, uint64_t key)
{
    if (!d || !d->n) return 0;
    if (!d->sorted) {
        qsort(d->keys, (size_t)d->n, sizeof *d->keys, cmp_u64);
        d->sorted = 1;
    }
    return bsearch(&key, d->keys, (size_t)d->n, sizeof key, cmp_u64) != NULL;
}

void done_free(done_set *d)
{
    free(d->keys);
    memset(d, 0, sizeof *d);
}

/* Sustained rates, not peaks: ~50% of H200 bf16 dense FLOP/s and ~60% of HBM bandwidth; the CPU
 * figures are a 2-core class machine. Only ratios matter for scheduling; the absolute numbers
 * make `plan`'s estimate readable. */
cost_device cost_device_for(const char *backend, const char *dtype)
{
    cost_device d;
    int half = dtype && (!strcmp(dtype, "bf16") || !strcmp(dtype, "fp16"));
    if (backend && !strcmp(backend, "cpu")) {
        d.flops = 50e9;
        d.bytes_per_s = 10e9;
        d.bytes_per_weight = 4;
    } else {
        d.flops = 495e12;
        d.bytes_per_s = 2.9e12;
        d.bytes_per_weight = half ? 2 : 4;
    }
    return d;
}

double cost_params(const sweep_model *m)
{
    double hd = m->head_dim ? m->head_dim : (m->n_heads ? (double)m->dim / m->n_heads : 0);
    double attn = (double)m->dim * hd * (2.0 * m->n_heads + 2.0 * m->n_kv_heads);
    double mlp = 3.0 * m->dim * (double)m->hidden_dim;
    return m->n_layers * (attn + mlp) + 2.0 * m->vocab_size * (double)m->dim;
}

double cost_sample(const sweep_model *m, const cost_device *dev, int L, int n_new, int nv, double kept)
{
    /* Config not read (fake engine): a 1B-class stand-in keeps the ordering by length. */
    static const sweep_model generic = {.n_layers = 16, .n_heads = 32, .n_kv_heads = 8, .dim = 2048,
                                        .hidden_dim = 8192, .vocab_size = 128256, .head_dim = 64};
    if (m->n_layers <= 0) m = &generic;
    double P = cost_params(m);
    double hd = m->head_dim ? m->head_dim : (m->n_heads ? (double)m->dim / m->n_heads : 0);
    /* Prefill: 2 FLOPs per parameter per token, plus causal attention (QK^T and PV, half the square). */
    double prefill = (2.0 * P * L + 2.0 * m->n_layers * (double)L * L * m->n_heads * hd) / dev->flops;
    /* Decode: every step reads the weights once for the whole batch and each variant's kept K/V. */
    double kv_bytes = 2.0 * m->n_layers * m->n_kv_heads * hd * dev->bytes_per_weight;
    double step = (P * dev->bytes_per_weight + nv * kept * kv_bytes) / dev->bytes_per_s;
    return prefill + n_new * step;
}

static int cmp_items(const void *a, const void *b)
{
    const work_item *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    if (x->model != y->model) return x->model - y->model;
    if (x->task != y->task) return x->task - y->task;
    return x->samples[0] - y->samples[0];
}

void work_items_sort(work_item *items, int n) { qsort(items, (size_t)n, sizeof *items, cmp_items); }

void work_items_free(work_item *items, int n)
{
    for (int i = 0; i < n; i++) free(items[i].samples), free(items[i].variants);
    free(items);
}

/* One selected sample of a (model, task) with its missing-variant mask and signature. */
typedef struct {
    int index, tokens;
    uint64_t sig;
    unsigned char *missing;
} pending;

static int cmp_pending(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    if (x->sig != y->sig) return x->sig < y->sig ? -1 : 1;
    if (x->tokens != y->tokens) return y->tokens - x->tokens;
    return x->index - y->index;
}

/* The samples of task ti still missing some variant for model m, each with its missing set (and
 * its signature) and its prompt length capped at maxp; returns their count (*out: the caller frees). */
static int pending_samples(const sweep *s, const sweep_model *m, int ti, const task_data *td,
                           const sweep_variant *vars, int nv, done_set *done, int maxp, pending **out)
{
    pending *p = kv_calloc(td->n ? td->n : 1, sizeof *p);
    int np = 0;
    for (int k = 0; k < td->n; k++) {
        unsigned char *miss = kv_calloc(nv, 1);
        int any = 0;
        uint64_t sig = KV_FNV_SEED;
        for (int v = 0; v < nv; v++) {
            miss[v] = !done_has(done, done_key(m->name, s->tasks[ti], td->index[k], vars[v].key));
            any |= miss[v];
            sig = kv_fnv1a(&miss[v], 1, sig);
        }
        if (!any) {
            free(miss);
            continue;
        }
        int L = td->est_tokens[k] < maxp ? td->est_tokens[k] : maxp;
        p[np++] = (pending){td->index[k], L, sig, miss};
    }
    *out = p;
    return np;
}

/* Item `it` of model mi, task ti from the pending samples p[a, b) (one missing set): its samples,
 * variants, estimated tokens and cost, and its file name (hash of the variant keys and samples). */
static void fill_item(work_item *it, const sweep *s, int mi, int ti, const sweep_variant *vars, int nv,
                      const pending *p, int a, int b, int max_new, const cost_device *dev)
{
    const sweep_model *m = &s->models[mi];
    memset(it, 0, sizeof *it);
    it->model = mi;
    it->task = ti;
    it->n_samples = b - a;
    it->samples = kv_malloc(sizeof(int) * (size_t)(b - a));
    it->variants = kv_malloc(sizeof(int) * (size_t)nv);
    for (int v = 0; v < nv; v++)
        if (p[a].missing[v]) it->variants[it->n_variants++] = v;
    uint64_t h = KV_FNV_SEED;
    double kept = 0;
    for (int j = 0; j < it->n_variants; j++) {
        const char *key = vars[it->variants[j]].key;
        h = kv_fnv1a(key, strlen(key) + 1, h);
    }
    int nn = s->engine.max_new_tokens > 0 && s->engine.max_new_tokens < max_new ? s->engine.max_new_tokens : max_new;
    for (int k = a; k < b; k++) {
        it->samples[k - a] = p[k].index;
        it->est_tokens += p[k].tokens;
        h = kv_fnv1a(&p[k].index, sizeof p[k].index, h);
        kept = 0;
        for (int j = 0; j < it->n_variants; j++) {
            int bud = budget_resolve(vars[it->variants[j]].budget, p[k].tokens);
            kept += bud > 0 && bud < p[k].tokens ? bud : p[k].tokens;
        }
        kept /= it->n_variants;
        it->cost += cost_sample(m, dev, p[k].tokens, nn, it->n_variants, kept);
    }
    /* A TP group of T ranks shares the work of one copy of the model. */
    it->cost /= m->tensor_parallel > 0 ? m->tensor_parallel : 1;
    snprintf(it->file, sizeof it->file, "items/%s/%s/s%d-n%d-%016llx.h5", m->name, s->tasks[ti],
             it->samples[0], it->n_samples, (unsigned long long)h);
}

int workplan_expand(const sweep *s, const sweep_variant *vars, int nv, const task_data *data, const int *max_new,
                    done_set *done, work_item **items_out, int *n_out)
{
    int cap = 64, n = 0;
    work_item *items = kv_calloc(cap, sizeof *items);
    int per = s->engine.samples_per_item > 0 ? s->engine.samples_per_item : 1;
    for (int mi = 0; mi < s->n_models; mi++) {
        const sweep_model *m = &s->models[mi];
        cost_device dev = cost_device_for(s->engine.backend, m->dtype);
        int maxp = sweep_model_max_prompt_tokens(m);
        if (maxp <= 0) maxp = 1 << 30; /* no limit */
        for (int ti = 0; ti < s->n_tasks; ti++) {
            pending *p;
            int np = pending_samples(s, m, ti, &data[ti], vars, nv, done, maxp, &p);
            /* Same missing set together, longest first inside it, so a block's samples are alike
             * in length (they are decoded together) and its variants are exactly the missing ones. */
            qsort(p, (size_t)np, sizeof *p, cmp_pending);
            for (int a = 0; a < np;) {
                int b = a;
                while (b < np && b - a < per && p[b].sig == p[a].sig) b++;
                if (n == cap) items = kv_realloc(items, sizeof *items * (size_t)(cap *= 2));
                fill_item(&items[n++], s, mi, ti, vars, nv, p, a, b, max_new[ti], &dev);
                a = b;
            }
            for (int k = 0; k < np; k++) free(p[k].missing);
            free(p);
        }
    }
    work_items_sort(items, n);
    *items_out = items;
    *n_out = n;
    return KV_OK;
}
