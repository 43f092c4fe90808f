/* workplan: the pure functions that turn a sweep into work items (DESIGN §6): per-sample cost
 * estimates, the set of (model, task, sample, variant) results already stored, and the expansion
 * of what is missing into items (model, task, block of samples, the variants still missing for
 * them), named so that a rerun or a grown sweep never recomputes or duplicates a result. No MPI,
 * no I/O besides what the caller passes in: unit-tested in one process. */
#ifndef KV_WORKPLAN_H
#define KV_WORKPLAN_H

#include <stdint.h>

#include "harness/sweep/sweep.h"

/* What the planner needs to know about one task's data: the selected samples in file order with
 * their estimated prompt tokens (before truncation). */
typedef struct {
    int n;            /* selected samples */
    int *index;       /* (n) sample index in the file (0-based line order) */
    int *est_tokens;  /* (n) estimated prompt tokens before truncation */
    int n_in_file;    /* lines in the file */
    uint64_t hash;    /* FNV-1a of the file bytes, for provenance */
} task_data;

/* A unit of work: one model, one task, a block of samples, and every variant still missing for them. */
typedef struct {
    int model, task;      /* indices into sweep.models / sweep.tasks */
    int n_samples;
    int *samples;         /* (n_samples) sample indices, longest first */
    int n_variants;
    int *variants;        /* (n_variants) indices into the sweep's variant list, ascending */
    double cost;          /* estimated seconds on the sweep's device */
    int est_tokens;       /* sum of the samples' prompt tokens after truncation */
    char file[512];       /* relative path: items/<model>/<task>/s<first>-n<count>-<hash>.h5 */
} work_item;

/* Set of finished results, keyed by (model name, task, sample index, variant key). */
typedef struct {
    uint64_t *keys;
    int n, cap;
    int sorted;
} done_set;

uint64_t done_key(const char *model_name, const char *task, int sample, const char *variant_key);
void done_add(done_set *d, uint64_t key);
int done_has(done_set *d, uint64_t key);
void done_free(done_set *d);

/* Device model for cost estimates: sustained FLOP/s and bytes/s of one rank (or TP group). */
typedef struct {
    double flops, bytes_per_s;
    double bytes_per_weight;
} cost_device;
cost_device cost_device_for(const char *backend, const char *dtype);

/* Estimated seconds for one sample of L prompt tokens decoding up to n_new tokens for nv
 * variants with mean kept length `kept` (prefill FLOPs + bandwidth-bound batched decode). */
double cost_sample(const sweep_model *m, const cost_device *dev, int L, int n_new, int nv, double kept);
/* Parameter count from the config fields of sweep_model. */
double cost_params(const sweep_model *m);

/* Expand the missing work into items, longest first (ties: model, task, first sample). Items of
 * one (model, task) group samples with the same missing variant set into blocks of
 * samples_per_item. `data` has s->n_tasks entries; `max_new[t]` is the task's generation length. */
int workplan_expand(const sweep *s, const sweep_variant *vars, int nv, const task_data *data,
                    const int *max_new, done_set *done, work_item **items, int *n_items);
void work_items_free(work_item *items, int n);

/* Order items longest first, deterministic ties (model, task, first sample). */
void work_items_sort(work_item *items, int n);

#endif
