/* exec: running one work item on one rank (or TP group) and storing it. The item executor is a
 * function pointer so that the scheduler, MPI, store, resume and kill tests run in seconds
 * without a model: exec_fake is that TEST SEAM (deterministic predictions derived from the
 * reference answers, never real numbers; enabled by `engine: {fake: true}` or
 * KVBENCH_FAKE_ENGINE=1). exec_engine is the real one: LongBench prompts, engine_generate_batch
 * for as many of the item's samples as the engine's memory budget holds (every variant of each,
 * decoded together), prediction text and per-sample score. */
#ifndef KV_EXEC_H
#define KV_EXEC_H

#include <signal.h>
#include <stdio.h>

#include "harness/sweep/store.h"
#include "harness/sweep/sweep.h"
#include "harness/sweep/workplan.h"

/* Where a rank's time went (seconds, summed over its items), X(name, label) in print order: the
 * one list for the struct, the sum over ranks, the MPI message and the end-of-run summary.
 * `other` is the rest of each item's wall time (prompt building, tokenizing, item set-up). */
#define EXEC_TIMING_FIELDS(X)                                                                     \
    X(load, "load")                                                                               \
    X(prefill, "prefill")                                                                         \
    X(compress, "compress (method scoring)")                                                      \
    X(decode, "decode")                                                                           \
    X(score, "metric scoring")                                                                    \
    X(io, "I/O")                                                                                  \
    X(idle, "idle")                                                                               \
    X(other, "other (prompts, item set-up)")

#define EXEC_TIMING_MEMBER(name, label) double name;
typedef struct {
    EXEC_TIMING_FIELDS(EXEC_TIMING_MEMBER)
    int items, samples;
} exec_timing;

#define EXEC_TIMING_ONE(name, label) +1
enum { EXEC_TIMING_N = 0 EXEC_TIMING_FIELDS(EXEC_TIMING_ONE) }; /* the seconds fields */
enum { EXEC_TIMING_PACKED = EXEC_TIMING_N + 2 };                /* + items, samples */

void exec_timing_add(exec_timing *a, const exec_timing *b);
double exec_timing_seconds(const exec_timing *t);                 /* sum of the seconds fields */
void exec_timing_pack(const exec_timing *t, double *m);           /* m[EXEC_TIMING_PACKED] */
void exec_timing_unpack(const double *m, exec_timing *t);
/* The end-of-run breakdown of wall x units worker-seconds, one line per field, then what no
 * field covers (start-up, planning, the final reduce). */
void exec_timing_print(FILE *f, const exec_timing *t, double wall, int units);

struct engine;

typedef struct exec_ctx {
    const sweep *s;
    const sweep_variant *vars;
    int nv;
    const char *out_dir;
    int rank, world;
    int tp, tp_rank;          /* TP group of this rank */
    void *tp_comm;            /* MPI_Comm * of the TP group (engine_opts.tp_mpi_comm), NULL when tp == 1 */
    volatile sig_atomic_t *stop;  /* > 1: drop the item in flight (second signal or on_signal: drop) */
    /* Real executor state: the loaded model and cached task data. */
    struct engine *engine;
    int loaded_model;         /* index into s->models, -1 none */
    void **task_samples;      /* (s->n_tasks) lb_sample arrays of the cached files, NULL until first use */
    int *task_n;
    char **task_hash;         /* (s->n_tasks) hex FNV of the data file */
    char device[128], host[64];
    double load_s_pending;    /* load time to attribute to the next stored item */
    double io_s_pending;      /* task-data read time to attribute to the next stored item */
} exec_ctx;

/* Run `it` and fill `rec` (samples, results, variant columns; not provenance). 1 = done,
 * 0 = dropped because of a stop request, KV_ERR = failure (message in kv_lasterr()). */
typedef int (*item_exec_fn)(exec_ctx *ctx, const work_item *it, item_record *rec, exec_timing *t);

int exec_fake(exec_ctx *ctx, const work_item *it, item_record *rec, exec_timing *t);
int exec_engine(exec_ctx *ctx, const work_item *it, item_record *rec, exec_timing *t);

void exec_ctx_init(exec_ctx *c, const sweep *s, const sweep_variant *vars, int nv, const char *out_dir, int rank,
                   int world);
void exec_ctx_free(exec_ctx *c);

/* Whether the fake executor is selected (sweep option or KVBENCH_FAKE_ENGINE=1). */
int exec_fake_selected(const sweep *s);

/* Execute, fill provenance, write the item file (only the TP group leader writes). Status. */
int exec_item_run(exec_ctx *ctx, item_exec_fn fn, const work_item *it, exec_timing *t, int *dropped);

/* Scan a task file for planning: selected samples, their estimated prompt tokens, file hash. */
int exec_scan_task(const sweep *s, int task, task_data *out);
void task_data_free(task_data *d);

#endif
