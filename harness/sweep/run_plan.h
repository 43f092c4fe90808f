/* run_plan: what `run` and `plan` share — the data scan of every task, the resume set read from
 * the result folder's item files, the expansion into work items, and the byte packing rank 0
 * uses to broadcast the item list (the other ranks never scan the folder). */
#ifndef KV_RUN_PLAN_H
#define KV_RUN_PLAN_H

#include "harness/sweep/sweep.h"
#include "harness/sweep/workplan.h"

typedef struct {
    work_item *items;
    int n_items;
    int n_done;          /* (model, task, sample, variant) results already stored */
    int n_item_files;
    int n_damaged;       /* item files that failed item_check (quarantined by run, counted not done) */
    task_data *data;     /* (n_tasks) */
    int n_tasks;
    long n_cells;        /* (model, task, sample, variant) results the sweep asks for */
} run_plan;

/* Scan data, read the done set from out_dir (may not exist yet; remove_stale deletes temporaries
 * of killed ranks and moves damaged item files to out_dir/quarantine/, see item_check.h), expand
 * the missing work. Status. */
int run_plan_prepare(const sweep *s, const sweep_variant *vars, int nv, const char *out_dir, int remove_stale,
                     run_plan *p);
void run_plan_free(run_plan *p);

/* Items as bytes (malloc'd) and back. */
unsigned char *run_plan_pack(const run_plan *p, long *len);
int run_plan_unpack(const unsigned char *b, long len, run_plan *p);

#endif
