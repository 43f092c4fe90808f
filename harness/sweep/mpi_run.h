/* mpi_run: the only part of the sweep runner that includes <mpi.h>. Start-up (MPI when launched
 * by mpirun/srun, a plain single process otherwise), tensor-parallel groups of consecutive ranks
 * (MPI_Comm_split by rank / tp; the group leader talks to the coordinator), broadcasts, and the
 * dynamic work loop: rank 0 runs the coordinator on a thread (MPI_THREAD_MULTIPLE) and works on
 * its main thread like every other rank. The scheduling decisions are sched.h's pure functions. */
#ifndef KV_MPI_RUN_H
#define KV_MPI_RUN_H

#include <signal.h>

#include "harness/sweep/exec.h"
#include "harness/sweep/sched.h"

typedef struct {
    int rank, world;
    int mpi;             /* MPI is initialised */
    int tp;              /* ranks per group */
    int unit, n_units;   /* this rank's group and the number of groups */
    int tp_rank;         /* rank inside the group; 0 = leader */
    void *tp_comm;       /* MPI_Comm * of the TP group (engine_opts.tp_mpi_comm), NULL when tp == 1 */
    int threaded;        /* rank 0 can run the coordinator thread */
} par_info;

/* MPI_Init_thread when launched by mpirun/srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK or
 * SLURM_STEP_NUM_TASKS set), else a single process without MPI. Installs MPI_Abort as the fatal
 * hook. */
int par_init(int *argc, char ***argv, par_info *p);
void par_finalize(par_info *p);
/* End the whole job (MPI_Abort with MPI up, exit otherwise). */
void par_abort(int code) __attribute__((noreturn));
/* Split into groups of tp consecutive ranks. world % tp must be 0. Status. */
int par_groups(par_info *p, int tp);
/* Broadcast from rank 0 (no-op without MPI). */
void par_bcast(par_info *p, void *buf, long bytes);
/* The largest value over all ranks (error agreement). */
int par_max_int(par_info *p, int v);
void par_barrier(par_info *p);

typedef struct {
    int n_items;
    const int *item_model;    /* (n_items) for the scheduler (rank 0) */
    const double *item_cost;
    int n_models;
    volatile sig_atomic_t *stop;
    /* Run item i on this rank (every rank of the group calls it). Status (KV_ERR is fatal). */
    int (*run_item)(void *ctx, int item, exec_timing *t, int *dropped);
    /* Rank 0, under the coordinator's lock: item i finished on `unit` (progress). */
    void (*on_done)(void *ctx, int unit, int item, const exec_timing *delta);
    /* Rank 0, under the coordinator's lock (NULL: every item fits): 0 when item i would not be
     * done before the run's deadline; the coordinator then skips it (left for the next run). */
    int (*fits)(void *ctx, int item);
    void *ctx;
} par_work;

typedef struct {
    exec_timing total;       /* summed over the units' leaders (rank 0 only) */
    int done, dropped;
    int stopped;             /* a stop request ended the loop early */
    int skipped;             /* items not started because they would not fit before the deadline */
} par_outcome;

/* The dynamic loop on every rank; returns when no item is left or a stop was requested. */
int par_work_run(par_info *p, par_work *w, par_outcome *out);

#endif
