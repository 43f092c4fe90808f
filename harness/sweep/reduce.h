/* reduce: merge a result folder's item files into DIR/summary.h5, DIR/tables.md, DIR/scores.csv
 * and DIR/plots/<model>.svg (DESIGN §6). Duplicated results (the same model, task, sample and
 * variant in two item files) are dropped deterministically: the file whose path sorts first wins.
 * Tables and CSV are written by longbench.h's writers; the per-task score is lb_task_score over
 * the per-sample scores in sample order.
 *
 * summary.h5 (format "kvbench-summary-1"; every string variable-length UTF-8, every group a set of
 * equal-length 1-D column datasets, so h5py reads a column with f["scores/score"][:]):
 *   /scores       one row per (model, variant, score name): model, budget (0 = FullKV), method
 *                 (display name), label (table row), variant (every knob), kind ("task",
 *                 "category", "avg"), name (task/category name or "Avg"), score (rounded, as in
 *                 the tables; NaN when missing), n_samples
 *   /predictions  one row per (model, task, sample, variant): model, task, sample (index in the
 *                 task file), sample_id, variant, label, method, budget, item (row of
 *                 /provenance/items), then every ITEM_RESULT_FIELDS column (store.h: prediction,
 *                 score raw 0..1, n_generated, stopped, kept_*) and every ITEM_SAMPLE_FIELDS column
 *                 but index and id (prompt_tokens_raw, prompt_tokens, prefill_s, compress_s, decode_s)
 *   /variants     ITEM_VARIANT_FIELDS (key, label, method, budget)
 *   /tables       the rows of tables.md and scores.csv exactly as written there (reduce_table_rows):
 *                 model, budget, method (row label), method_name, attention, hardware, and task
 *                 (rows, 16) in lb_tasks order; `show` renders these rows, so it prints what the
 *                 files hold
 *   /provenance   attributes format, created, engine_rev, n_items, duplicates_dropped; and
 *                 /provenance/items columns: path, then ITEM_PROV_FIELDS (stop_ids as "2,9")
 */
#ifndef KV_REDUCE_H
#define KV_REDUCE_H

#include <stdio.h>

#include "harness/longbench/longbench.h"
#include "harness/sweep/store.h"

typedef struct {
    const char *model, *task, *key, *label, *method, *id, *pred; /* point into the item records */
    int budget, sample, item;
    const var_result *r;
    const sample_info *si;
    const item_variant *var;
} pred_row;

/* One table cell group: (model, variant) with its 16 task scores and aggregates. */
typedef struct {
    const char *model, *key, *label, *method;
    const item_variant *var;  /* the variant's columns (of the first item that has it) */
    int budget;
    double task[16];       /* rounded task scores, NAN when missing */
    int n_samples[16];
    unsigned incomplete;   /* bit t: a damaged item of task t was set aside (the cell is NaN) */
    long long cat_h[6], avg_h;
} score_row;

/* An item file item_check rejected: its path (before any quarantine), why, and the (model, task)
 * of its folder, whose cells are marked incomplete (NaN). */
typedef struct {
    char path[1024], why[512], model[128], task[64];
} reduce_damage;

typedef struct {
    char **paths;
    int n_items;
    item_record *items;
    pred_row *rows;        /* de-duplicated, sorted by (model, key, task, sample) */
    int n_rows;
    int duplicates;
    score_row *scores;
    int n_scores;
    reduce_damage *damaged; /* (n_damaged) files set aside; not in paths/items */
    int n_damaged;
} reduced;

/* Read and merge every item file of DIR. A damaged file (item_check) is moved to DIR/quarantine/
 * with a warning, listed in r->damaged, and its (model, task) cells are marked incomplete (NaN). */
int reduce_load(const char *dir, int remove_stale, reduced *r);
/* The same; quarantine 0 leaves damaged files where they are (kvbench verify). */
int reduce_load_checked(const char *dir, int remove_stale, int quarantine, reduced *r);
void reduce_free(reduced *r);

/* Write summary.h5, tables.md, scores.csv and plots/ (each through a temporary + rename). */
int reduce_write(const char *dir, const reduced *r);

/* Fill lb_result_rows for the tables: FullKV (budget 0) rows repeat under every budget of their
 * model. Rows in table order, every row's hardware the items' distinct devices. The caller frees
 * *out. The one place results are shaped into table rows: tables.md, scores.csv, summary.h5's
 * /tables (and through it `show`) are all written from these rows. */
int reduce_table_rows(const reduced *r, lb_result_row **out, int *n);

/* The /tables rows of an open summary.h5 (the caller frees *out). Status; KV_ERR with a message
 * when the group is absent (a summary written before it existed: run `kvbench reduce DIR`). */
int reduce_read_table_rows(hid_t summary, lb_result_row **out, int *n);

/* The model's budgets above 0, ascending, into out (room for n_scores); their count. */
int reduce_budgets(const reduced *r, const char *model_name, int *out);

/* An SVG figure per model (plot.c): Avg and the six categories vs budget, one line per method, FullKV as
 * a dashed horizontal reference line. */
int reduce_plot_model(const reduced *r, const char *model_name, FILE *f);

#endif
