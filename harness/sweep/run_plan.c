/* run_plan: data scan, resume set, item expansion and packing (see run_plan.h). */
#include "harness/sweep/run_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/sweep/exec.h"
#include "harness/longbench/longbench.h"
#include "harness/longbench/needle.h"
#include "harness/sweep/item_check.h"
#include "harness/sweep/store.h"

int run_plan_prepare(const sweep *s, const sweep_variant *vars, int nv, const char *out_dir, int remove_stale,
                     run_plan *p)
{
    memset(p, 0, sizeof *p);
    p->n_tasks = s->n_tasks;
    p->data = kv_calloc(s->n_tasks, sizeof *p->data);
    int *max_new = kv_calloc(s->n_tasks, sizeof(int));
    for (int t = 0; t < s->n_tasks; t++) {
        if (exec_scan_task(s, t, &p->data[t]) != KV_OK) {
            free(max_new);
            return KV_ERR;
        }
        max_new[t] = sweep_task_is_needle(s->tasks[t]) ? LB_NEEDLE_MAX_NEW_TOKENS : lb_task_find(s->tasks[t])->max_new_tokens;
        p->n_cells += (long)p->data[t].n * nv * s->n_models;
    }
    done_set done = {0};
    char **paths = NULL;
    int np = 0;
    if (out_dir && kv_is_dir(out_dir)) store_list_items(out_dir, remove_stale, &paths, &np);
    p->n_item_files = np;
    for (int i = 0; i < np; i++) {
        item_record r;
        char why[512];
        if (item_check(paths[i], 0, &r, why, sizeof why) != KV_OK) {
            /* A damaged item counts as not done: `run` (remove_stale) sets it aside and recomputes
             * it, `plan` (which writes nothing) only says so. */
            p->n_damaged++;
            int qrc = KV_OK;
            if (remove_stale) qrc = item_quarantine(out_dir, paths[i], why, "it will be recomputed");
            else fprintf(stderr, "kvbench: warning: damaged item file %s (%s): counted as not done\n", paths[i], why);
            if (qrc != KV_OK) {
                store_paths_free(paths, np);
                done_free(&done);
                free(max_new);
                return KV_ERR;
            }
            continue;
        }
        for (int k = 0; k < r.ns; k++)
            for (int v = 0; v < r.nv; v++) done_add(&done, done_key(r.prov.model, r.prov.task, r.samples[k].index, r.var[v].key));
        item_record_free(&r);
    }
    store_paths_free(paths, np);
    /* Count only what this sweep asks for. */
    for (int m = 0; m < s->n_models; m++)
        for (int t = 0; t < s->n_tasks; t++)
            for (int k = 0; k < p->data[t].n; k++)
                for (int v = 0; v < nv; v++)
                    p->n_done += done_has(&done, done_key(s->models[m].name, s->tasks[t], p->data[t].index[k], vars[v].key));
    int rc = workplan_expand(s, vars, nv, p->data, max_new, &done, &p->items, &p->n_items);
    done_free(&done);
    free(max_new);
    return rc;
}

void run_plan_free(run_plan *p)
{
    work_items_free(p->items, p->n_items);
    for (int t = 0; t < p->n_tasks && p->data; t++) task_data_free(&p->data[t]);
    free(p->data);
    memset(p, 0, sizeof *p);
}

typedef struct {
    unsigned char *b;
    long n, cap;
} buf;

static void put(buf *b, const void *v, long n)
{
    if (b->n + n > b->cap) b->b = kv_realloc(b->b, (size_t)(b->cap = (b->n + n) * 2 + 256));
    memcpy(b->b + b->n, v, (size_t)n);
    b->n += n;
}

unsigned char *run_plan_pack(const run_plan *p, long *len)
{
    buf b = {0};
    put(&b, &p->n_items, sizeof(int));
    put(&b, &p->n_done, sizeof(int));
    for (int i = 0; i < p->n_items; i++) {
        const work_item *it = &p->items[i];
        int hdr[5] = {it->model, it->task, it->n_samples, it->n_variants, it->est_tokens};
        put(&b, hdr, sizeof hdr);
        put(&b, &it->cost, sizeof it->cost);
        put(&b, it->samples, (long)sizeof(int) * it->n_samples);
        put(&b, it->variants, (long)sizeof(int) * it->n_variants);
        put(&b, it->file, sizeof it->file);
    }
    *len = b.n;
    return b.b;
}

static int get(const unsigned char *b, long len, long *off, void *v, long n)
{
    if (*off + n > len) return KV_ERR;
    memcpy(v, b + *off, (size_t)n);
    *off += n;
    return KV_OK;
}

static int unpack_items(const unsigned char *b, long len, run_plan *p);

/* On a malformed list nothing is left allocated. */
int run_plan_unpack(const unsigned char *b, long len, run_plan *p)
{
    if (unpack_items(b, len, p) == KV_OK) return KV_OK;
    work_items_free(p->items, p->n_items);
    memset(p, 0, sizeof *p);
    kv_seterr("malformed work list (%ld bytes)", len);
    return KV_ERR;
}

static int unpack_items(const unsigned char *b, long len, run_plan *p)
{
    memset(p, 0, sizeof *p);
    long off = 0;
    int n;
    if (get(b, len, &off, &n, sizeof n) != KV_OK || n < 0) return KV_ERR;
    if (get(b, len, &off, &p->n_done, sizeof(int)) != KV_OK) return KV_ERR;
    p->items = kv_calloc(n ? n : 1, sizeof *p->items);
    for (int i = 0; i < n; i++) {
        work_item *it = &p->items[i];
        int hdr[5];
        if (get(b, len, &off, hdr, sizeof hdr) != KV_OK || hdr[2] < 0 || hdr[3] < 0) return KV_ERR;
        p->n_items = i + 1;
        it->model = hdr[0], it->task = hdr[1], it->n_samples = hdr[2], it->n_variants = hdr[3], it->est_tokens = hdr[4];
        it->samples = kv_malloc(sizeof(int) * (size_t)(it->n_samples + 1));
        it->variants = kv_malloc(sizeof(int) * (size_t)(it->n_variants + 1));
        if (get(b, len, &off, &it->cost, sizeof it->cost) != KV_OK ||
            get(b, len, &off, it->samples, (long)sizeof(int) * it->n_samples) != KV_OK ||
            get(b, len, &off, it->variants, (long)sizeof(int) * it->n_variants) != KV_OK ||
            get(b, len, &off, it->file, sizeof it->file) != KV_OK)
            return KV_ERR;
        it->file[sizeof it->file - 1] = 0;
    }
    p->n_items = n;
    return off == len ? KV_OK : KV_ERR;
}
