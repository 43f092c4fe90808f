/* cmd_run: `kvbench run SWEEP.yaml [--output DIR]` — every rank parses and validates the sweep,
 * rank 0 works out what is missing in DIR (resume) and broadcasts the items, every rank (or TP
 * group) takes items from the coordinator until none is left or a SIGTERM/SIGUSR1 asks to stop,
 * then rank 0 reduces what is stored and prints where the time went. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/cli/options.h"
#include "harness/sweep/deadline.h"
#include "harness/sweep/exec.h"
#include "harness/sweep/mpi_run.h"
#include "harness/sweep/reduce.h"
#include "harness/sweep/run_plan.h"
#include "harness/sweep/store.h"
#include "harness/sweep/store_space.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t drop_on_signal;

/* First signal: stop taking items (finish the one in flight unless on_signal: drop); second:
 * drop the item in flight too. */
static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = (drop_on_signal || stop_flag) ? 2 : 1;
}

/* A stop signal can come at any instant of a run, its first milliseconds included (a time limit
 * or a cancel that hits a job just starting). Before cmd_run has its handler the default action
 * would end the process with no reduce and a non-zero exit, so for `kvbench run` SIGTERM and
 * SIGUSR1 are blocked before anything else runs: from .preinit_array, which the dynamic loader
 * calls before any shared library's constructor and before main. A signal that arrives meanwhile
 * stays pending (also across main's OpenMP re-exec, which keeps the mask and pending signals) and
 * is delivered to the handler as soon as install_signals unblocks it. The raw system call and the
 * hand-made mask keep this free of libc and sanitizer interceptors, which are not set up yet. */
static void run_block_stop_signals(int argc, char **argv, char **envp)
{
    (void)envp;
    const char *cmd = argc >= 2 ? argv[1] : "";
    if (cmd[0] != 'r' || cmd[1] != 'u' || cmd[2] != 'n' || cmd[3] != 0) return;
    unsigned long mask = (1UL << (SIGTERM - 1)) | (1UL << (SIGUSR1 - 1)); /* the kernel's sigset */
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &mask, NULL, sizeof mask);
}
__attribute__((section(".preinit_array"), used)) static void (*const run_block_at_start)(int, char **, char **) =
    run_block_stop_signals;

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
}

static const char run_about[] =
    "Run a sweep: every (model, task, block of samples) still missing in DIR is one work item\n"
    "covering every variant of the sweep (one prefill, all variants decoded together). Under\n"
    "mpirun/srun every rank takes part: rank 0 hands out items longest first (a rank keeps its\n"
    "model while items for it remain) and works too; tensor_parallel T groups T consecutive ranks.\n"
    "Finished items are HDF5 files DIR/items/<model>/<task>/*.h5; rerunning the same command skips\n"
    "them, and a sweep grown by a budget or method computes only the missing variants.\n"
    "SIGTERM or SIGUSR1 (Slurm's time-limit warning): stop taking items, finish the item in flight\n"
    "(a second signal, or engine.on_signal: drop, drops it), reduce what is done, exit 0.";

typedef struct {
    run_plan *plan;
    exec_ctx *ex;
    item_exec_fn fn;
    FILE *log;
    par_info *par;
    double t_start, cost_total, cost_done;
    int done_items;
    double last_print;
    int quiet;
    double deadline;     /* epoch seconds the run must be over by; 0 = none */
    double busy_s;       /* worker-seconds of the items done, for the deadline's estimate */
} run_state;

static int run_one(void *ctx, int i, exec_timing *t, int *dropped)
{
    run_state *st = ctx;
    const work_item *it = &st->plan->items[i];
    double t0 = kv_now();
    int rc = exec_item_run(st->ex, st->fn, it, t, dropped);
    if (rc != KV_OK) {
        /* Disk full: say how much the rest needs; the run then ends (kv_die) with nothing damaged. */
        if (store_space_full(store_write_errno())) {
            char msg[2048];
            store_space_message(st->ex->out_dir, it->file, st->plan->items, st->plan->n_items, msg, sizeof msg);
            kv_seterr("%s", msg);
        }
        return KV_ERR;
    }
    if (st->log && st->par->tp_rank == 0) {
        char now[64];
        store_utc_now(now, sizeof now);
        fprintf(st->log, "%s rank %d %s %s samples %d variants %d est_tokens %d seconds %.3f\n", now, st->par->rank,
                *dropped ? "dropped" : "done", it->file, it->n_samples, it->n_variants, it->est_tokens, kv_now() - t0);
        fflush(st->log);
    }
    return KV_OK;
}

static void fmt_secs(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

/* Rank 0, under the coordinator lock. The ETA weights items by their estimated cost, since they
 * are handed out longest first. */
static void on_done(void *ctx, int unit, int item, const exec_timing *d)
{
    (void)unit;
    run_state *st = ctx;
    st->done_items++;
    st->cost_done += st->plan->items[item].cost;
    st->busy_s += exec_timing_seconds(d) - d->idle;
    double now = kv_now(), el = now - st->t_start;
    if (st->quiet) return;
    if (now - st->last_print < 1.0 && st->done_items < st->plan->n_items) return;
    st->last_print = now;
    double frac = st->cost_total > 0 ? st->cost_done / st->cost_total : 1;
    char eta[32];
    fmt_secs(frac > 0 ? el * (1 - frac) / frac : NAN, eta, sizeof eta);
    printf("progress: %d/%d items (%.1f%% of est. work), %.2f items/s, elapsed %.0fs, ETA %s\n", st->done_items,
           st->plan->n_items, 100 * frac, st->done_items / (el > 0 ? el : 1e-9), el, eta);
    fflush(stdout);
}

/* Rank 0, under the coordinator lock: does item i end before the deadline (estimated cost scaled
 * by what the items done so far took)? */
static int item_fits(void *ctx, int item)
{
    run_state *st = ctx;
    return deadline_now() + deadline_item_seconds(st->plan->items[item].cost, st->busy_s, st->cost_done) <=
           st->deadline;
}

typedef struct {
    const char *sweep_path, *out_dir, *backend, *deadline_arg, *status_file;
    int no_reduce, quiet;
    double deadline;            /* epoch seconds; 0 = none */
    const char *deadline_src;   /* where it came from */
} run_args;

/* Step 1, every rank: the command line. -1 to go on, else the exit status. */
static int run_parse(int argc, char **argv, run_args *a)
{
    const cli_opt opts[] = {
        {"--output", "DIR", OPT_STR, &a->out_dir, 0, "result folder (default: the sweep's output, else results/<name>)"},
        {"--backend", "B", OPT_STR, &a->backend, 0, "cpu, cuda or auto: overrides the sweep's engine.backend"},
        {"--no-reduce", NULL, OPT_FLAG, &a->no_reduce, 0, "do not write summary.h5/tables.md/scores.csv/plots at the end"},
        {"--quiet", NULL, OPT_FLAG, &a->quiet, 0, "no progress lines"},
        {"--deadline", "WHEN", OPT_STR, &a->deadline_arg, 0,
         "stop taking items that would not end by WHEN (+SECONDS, +Nm, +Nh, epoch seconds or\n"
         "YYYY-MM-DDTHH:MM[:SS][Z]); default under Slurm: the job's end time"},
        {"--status-file", "F", OPT_STR, &a->status_file, 0,
         "write whether the sweep is complete to F at the end (state, items_done, items_left,\n"
         "reason none|signal|deadline): what slurm/requeue.sbatch reads to requeue"},
        {0},
    };
    const cli_spec spec = {
        .name = "run",
        .usage = "kvbench run SWEEP.yaml [--output DIR] [--backend cpu|cuda|auto] [--no-reduce] [--quiet]\n"
                 "           [--deadline WHEN] [--status-file F]",
        .about = run_about,
        .footer = "Test seam: engine: {fake: true} or KVBENCH_FAKE_ENGINE=1 replaces the model by deterministic\n"
                  "fake predictions (for the harness's own tests; never real numbers).",
        .opts = opts, .positional = &a->sweep_path,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (a->backend && strcmp(a->backend, "cpu") && strcmp(a->backend, "cuda") && strcmp(a->backend, "auto")) {
        fprintf(stderr, "kvbench: error: unknown backend '%s' (--backend): expected cpu, cuda or auto\n", a->backend);
        return 2;
    }
    a->deadline_src = "--deadline";
    if (a->deadline_arg && deadline_parse(a->deadline_arg, deadline_now(), &a->deadline) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 2;
    }
    if (!a->deadline_arg) a->deadline = deadline_from_slurm(&a->deadline_src);
    if (!a->sweep_path) {
        fprintf(stderr, "kvbench: error: no sweep file (run): kvbench run SWEEP.yaml [--output DIR]\n");
        return 2;
    }
    return -1;
}

/* Step 2, every rank: load and validate the same sweep, so a bad sweep ends every rank at once
 * with one line (printed by rank 0) before any model is loaded; then the TP groups. Status. */
static int run_load(par_info *par, const run_args *a, sweep *s, sweep_variant **vars, int *nv)
{
    int bad = sweep_load(a->sweep_path, s) != KV_OK, loaded = !bad;
    if (!bad && a->backend) {
        free(s->engine.backend);
        s->engine.backend = kv_strdup(a->backend);
    }
    if (!bad) bad = sweep_variants(s, vars, nv) != KV_OK;
    if (!bad && !exec_fake_selected(s)) bad = sweep_check_models(s) != KV_OK;
    if (!bad) bad = par_groups(par, s->models[0].tensor_parallel) != KV_OK;
    if (par_max_int(par, bad)) {
        if (par->rank == 0) fprintf(stderr, "kvbench: error: %s\n", bad ? kv_lasterr() : "another rank failed");
        if (loaded) sweep_free(s);
        free(*vars), *vars = NULL;
        return KV_ERR;
    }
    return KV_OK;
}

/* Step 3: rank 0 takes the folder's lock (one run per folder at a time; it also guards the removal
 * of stale temporaries), decides what is missing and broadcasts it; the others never scan the
 * folder. Status; *lock_fd is rank 0's lock, held until the end. */
static int run_plan_broadcast(par_info *par, const sweep *s, const sweep_variant *vars, int nv, const char *out_dir,
                              run_plan *plan, int *lock_fd)
{
    memset(plan, 0, sizeof *plan);
    *lock_fd = -1;
    unsigned char *blob = NULL;
    long blob_len = 0;
    if (par->rank == 0) {
        int bad = store_mkdirs(out_dir) != KV_OK;
        if (!bad) {
            char lock[4096];
            snprintf(lock, sizeof lock, "%s/.lock", out_dir);
            *lock_fd = open(lock, O_CREAT | O_RDWR, 0666);
            if (*lock_fd < 0 || flock(*lock_fd, LOCK_EX | LOCK_NB) != 0) {
                kv_seterr("another kvbench run is using %s (%s): wait for it or use another --output", out_dir, lock);
                bad = 1;
            }
        }
        if (!bad) bad = run_plan_prepare(s, vars, nv, out_dir, 1, plan) != KV_OK;
        if (!bad) blob = run_plan_pack(plan, &blob_len);
        if (bad) {
            fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
            blob_len = -1;
        }
    }
    par_bcast(par, &blob_len, sizeof blob_len);
    if (blob_len < 0) return KV_ERR;
    if (par->rank != 0) blob = kv_malloc((size_t)blob_len);
    par_bcast(par, blob, blob_len);
    if (par->rank != 0 && run_plan_unpack(blob, blob_len, plan) != KV_OK) kv_die("bad work list from rank 0");
    free(blob);
    return KV_OK;
}

/* The rank's log, DIR/logs/rank<R>.log (appended; NULL if it cannot be opened). */
static FILE *run_log_open(const par_info *par, const char *out_dir, int n_items)
{
    char logp[4096];
    snprintf(logp, sizeof logp, "%s/logs", out_dir);
    store_mkdirs(logp);
    snprintf(logp, sizeof logp, "%s/logs/rank%d.log", out_dir, par->rank);
    FILE *log = fopen(logp, "a");
    if (log) {
        char host[64] = "?";
        gethostname(host, sizeof host - 1);
        fprintf(log, "start rank %d/%d pid %d host %s unit %d tp_rank %d items %d\n", par->rank, par->world,
                (int)getpid(), host, par->unit, par->tp_rank, n_items);
        fflush(log);
    }
    return log;
}

/* Step 4, every rank: the work items through the coordinator/worker protocol. */
static void run_work(par_info *par, const sweep *s, const sweep_variant *vars, int nv, const char *out_dir,
                     run_plan *plan, const run_args *a, par_outcome *out, double *wall)
{
    exec_ctx ex;
    exec_ctx_init(&ex, s, vars, nv, out_dir, par->rank, par->world);
    ex.tp = par->tp, ex.tp_rank = par->tp_rank, ex.tp_comm = par->tp_comm;
    ex.stop = &stop_flag;
    run_state st = {.plan = plan, .ex = &ex, .fn = exec_fake_selected(s) ? exec_fake : exec_engine, .par = par,
                    .t_start = kv_now(), .quiet = a->quiet, .deadline = a->deadline};
    for (int i = 0; i < plan->n_items; i++) st.cost_total += plan->items[i].cost;
    st.log = run_log_open(par, out_dir, plan->n_items);
    int *item_model = kv_calloc(plan->n_items + 1, sizeof(int));
    double *item_cost = kv_calloc(plan->n_items + 1, sizeof(double));
    for (int i = 0; i < plan->n_items; i++) item_model[i] = plan->items[i].model, item_cost[i] = plan->items[i].cost;
    par_work w = {.n_items = plan->n_items, .item_model = item_model, .item_cost = item_cost, .n_models = s->n_models,
                  .stop = &stop_flag, .run_item = run_one, .on_done = on_done,
                  .fits = a->deadline > 0 ? item_fits : NULL, .ctx = &st};
    if (par->rank == 0 && a->deadline > 0 && !a->quiet) {
        printf("run: deadline from %s: %.0f s from now; items that would not end by then are left for the next run\n",
               a->deadline_src, a->deadline - deadline_now());
        fflush(stdout);
    }
    double t0 = kv_now();
    par_work_run(par, &w, out);
    *wall = kv_now() - t0;
    if (st.log) {
        fprintf(st.log, "end rank %d items %d dropped %d%s\n", par->rank, out->done, out->dropped,
                stop_flag ? " (stop signal)" : "");
        fclose(st.log);
    }
    exec_ctx_free(&ex);
    free(item_model), free(item_cost);
}

/* --status-file: complete or not and why, written whole (temporary file, then rename) so that a
 * job script never reads half of it. Status. */
static int write_status_file(const char *path, const run_plan *plan, const par_outcome *out)
{
    int left = plan->n_items - out->done;
    const char *reason = left <= 0 ? "none" : (out->stopped || stop_flag) ? "signal" : out->skipped ? "deadline" : "none";
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "state %s\nitems_done %d\nitems_left %d\nreason %s\n", left > 0 ? "incomplete" : "complete",
                          out->done, left > 0 ? left : 0, reason) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "kvbench: error: cannot write the status file %s (--status-file): %s\n", path, strerror(errno));
        unlink(tmp);
        return KV_ERR;
    }
    return KV_OK;
}

/* Step 5, rank 0: the time summary and the reduce. The exit status. */
static int run_finish(const par_info *par, const run_args *a, const char *out_dir, const run_plan *plan,
                      const par_outcome *out, double wall)
{
    if (!a->quiet) {
        if (out->stopped || stop_flag)
            printf("run: stopped by signal: %d items done, %d dropped, %d left for the next run\n", out->done,
                   out->dropped, plan->n_items - out->done);
        if (out->skipped)
            printf("run: deadline: %d items not started (they would not end in time), %d items left for the "
                   "next run\n", out->skipped, plan->n_items - out->done);
        exec_timing_print(stdout, &out->total, wall, par->n_units);
    }
    if (a->status_file && write_status_file(a->status_file, plan, out) != KV_OK) return 1;
    if (a->no_reduce) return 0;
    reduced r;
    int rc = 0;
    double tr = kv_now();
    if (reduce_load(out_dir, 0, &r) != KV_OK || reduce_write(out_dir, &r) != KV_OK) {
        fprintf(stderr, "kvbench: error: reduce (%s): %s\n", out_dir, kv_lasterr());
        rc = 1;
    } else if (!a->quiet) {
        printf("reduce: %d item files, %d results (%d duplicates dropped) -> %s/{summary.h5,tables.md,"
               "scores.csv,plots/} in %.2fs\n",
               r.n_items, r.n_rows, r.duplicates, out_dir, kv_now() - tr);
    }
    reduce_free(&r);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    /* First thing: a stop signal from now on (or pending since start-up) stops the run cleanly. */
    install_signals();
    run_args a = {0};
    int rc = run_parse(argc, argv, &a);
    if (rc >= 0) return rc;
    par_info par;
    if (par_init(&argc, &argv, &par) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    sweep s;
    sweep_variant *vars = NULL;
    int nv = 0;
    if (run_load(&par, &a, &s, &vars, &nv) != KV_OK) {
        par_finalize(&par);
        return 2;
    }
    const char *out_dir = a.out_dir ? a.out_dir : s.output;
    drop_on_signal = s.engine.drop_on_signal;
    run_plan plan;
    int lock_fd;
    if (run_plan_broadcast(&par, &s, vars, nv, out_dir, &plan, &lock_fd) != KV_OK) {
        par_finalize(&par);
        return 2;
    }
    if (par.rank == 0 && !a.quiet) {
        printf("run: sweep %s: %d models x %d tasks x %d variants; %d items to do (%d results already stored); "
               "%d rank%s in %d group%s of %d%s\n",
               s.name, s.n_models, s.n_tasks, nv, plan.n_items, plan.n_done, par.world, par.world == 1 ? "" : "s",
               par.n_units, par.n_units == 1 ? "" : "s", par.tp, exec_fake_selected(&s) ? " [FAKE ENGINE: test seam]" : "");
        fflush(stdout);
    }
    par_outcome out;
    double wall;
    run_work(&par, &s, vars, nv, out_dir, &plan, &a, &out, &wall);
    rc = par.rank == 0 ? run_finish(&par, &a, out_dir, &plan, &out, wall) : 0;
    if (lock_fd >= 0) close(lock_fd);
    run_plan_free(&plan);
    free(vars);
    sweep_free(&s);
    par_finalize(&par);
    return rc;
}
