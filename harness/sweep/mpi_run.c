/* mpi_run: MPI start-up, TP groups and the coordinator/worker protocol (see mpi_run.h).
 *
 * Protocol: a group leader sends TAG_REQ with {last item, dropped, stop request, timings of the
 * last item}; rank 0's coordinator thread answers TAG_ITEM with the next item index or -1 (no
 * more work, or stopping). Group members receive each index by MPI_Bcast from their leader. */
#include "harness/sweep/mpi_run.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mpi_check.h"
#include "util/util.h"

enum { TAG_REQ = 101, TAG_ITEM = 102 };
enum { MSG_ITEM, MSG_DROPPED, MSG_STOP, MSG_T0, MSG_LEN = MSG_T0 + EXEC_TIMING_PACKED };

static MPI_Comm group_comm = MPI_COMM_NULL;

static void abort_hook(int code) { MPI_Abort(MPI_COMM_WORLD, code ? code : 1); }

static int launched(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int par_init(int *argc, char ***argv, par_info *p)
{
    memset(p, 0, sizeof *p);
    p->world = 1, p->tp = 1, p->n_units = 1, p->threaded = 1;
    if (!launched()) return KV_OK;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        kv_seterr("MPI_Init_thread failed");
        return KV_ERR;
    }
    p->mpi = 1;
    /* Errors come back to MPI_CHECK (which names the call, then aborts the job) instead of MPI's
     * default abort without context; communicators split from WORLD inherit this. */
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &p->rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &p->world));
    p->n_units = p->world;
    p->unit = p->rank;
    p->threaded = provided >= MPI_THREAD_MULTIPLE;
    kv_set_rank(p->rank);
    kv_set_fatal_hook(abort_hook);
    return KV_OK;
}

void par_finalize(par_info *p)
{
    if (!p->mpi) return;
    if (group_comm != MPI_COMM_NULL) MPI_CHECK(MPI_Comm_free(&group_comm));
    MPI_CHECK(MPI_Finalize());
    p->mpi = 0;
}

void par_abort(int code)
{
    int inited = 0, fin = 0;
    MPI_CHECK(MPI_Initialized(&inited));
    MPI_CHECK(MPI_Finalized(&fin));
    if (inited && !fin) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    exit(code);
}

int par_groups(par_info *p, int tp)
{
    if (tp < 1) tp = 1;
    if (p->world % tp) {
        kv_seterr("tensor_parallel %d does not divide the %d ranks: launch a multiple of %d ranks", tp, p->world, tp);
        return KV_ERR;
    }
    p->tp = tp;
    p->n_units = p->world / tp;
    p->unit = p->rank / tp;
    p->tp_rank = p->rank % tp;
    if (tp == 1 || !p->mpi) return KV_OK;
    /* Consecutive ranks form a group: on a node launched with --map-by core they share the node. */
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, p->unit, p->tp_rank, &group_comm));
    /* A group across nodes would all-reduce over the network twice per layer: refuse, on every rank. */
    MPI_Comm node;
    int n_local = 0, ok, all_ok = 0;
    MPI_CHECK(MPI_Comm_split_type(group_comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_size(node, &n_local));
    MPI_CHECK(MPI_Comm_free(&node));
    ok = n_local == tp;
    MPI_CHECK(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (!all_ok) {
        kv_seterr("a tensor_parallel %d group spans nodes: run a multiple of %d ranks per node, consecutive ranks "
                  "on one node (mpirun --map-by ppr:N:node, srun --distribution=block)", tp, tp);
        return KV_ERR;
    }
    p->tp_comm = &group_comm; /* the engine opens NCCL or MPI collectives on it, by backend */
    return KV_OK;
}

void par_bcast(par_info *p, void *buf, long bytes)
{
    if (!p->mpi || p->world == 1) return;
    char *b = buf;
    /* MPI counts are int: send large blobs in pieces. */
    for (long off = 0; off < bytes; off += 1L << 30) {
        long n = bytes - off < (1L << 30) ? bytes - off : (1L << 30);
        MPI_CHECK(MPI_Bcast(b + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD));
    }
}

int par_max_int(par_info *p, int v)
{
    if (!p->mpi || p->world == 1) return v;
    int r;
    MPI_CHECK(MPI_Allreduce(&v, &r, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    return r;
}

void par_barrier(par_info *p)
{
    if (p->mpi && p->world > 1) MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

/* ---- coordinator ------------------------------------------------------------------------- */

typedef struct {
    par_info *p;
    par_work *w;
    sched sc;
    pthread_mutex_t lock;
    int stopping;
    int active;              /* units still asking */
    double *unit_end;        /* when each unit got its -1 */
    par_outcome out;
} coord;

/* One request: record the finished item, pick the next. Under the lock. */
static int coord_next(coord *c, int unit, const double *msg)
{
    pthread_mutex_lock(&c->lock);
    exec_timing d = {0};
    exec_timing_unpack(msg + MSG_T0, &d);
    exec_timing_add(&c->out.total, &d);
    int last = (int)msg[MSG_ITEM];
    if (last >= 0) {
        if (msg[MSG_DROPPED] != 0) {
            c->out.dropped++;
        } else {
            c->out.done++;
            if (c->w->on_done) c->w->on_done(c->w->ctx, unit, last, &d);
        }
    }
    if (msg[MSG_STOP] != 0 || (c->w->stop && *c->w->stop)) c->stopping = 1;
    int next = c->stopping ? -1 : sched_next(&c->sc, unit);
    /* Deadline: an item that would not end in time is left for the next run; a shorter one may fit. */
    while (next >= 0 && c->w->fits && !c->w->fits(c->w->ctx, next)) {
        c->out.skipped++;
        next = sched_next(&c->sc, unit);
    }
    if (next < 0) {
        sched_unit_done(&c->sc, unit);
        c->unit_end[unit] = kv_now();
        c->active--;
    }
    pthread_mutex_unlock(&c->lock);
    return next;
}

static void *coord_thread(void *arg)
{
    coord *c = arg;
    /* Remote leaders: every unit but rank 0's own. */
    int remote = c->p->n_units - 1;
    while (remote > 0) {
        double msg[MSG_LEN];
        MPI_Status st;
        MPI_CHECK(MPI_Recv(msg, MSG_LEN, MPI_DOUBLE, MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &st));
        int unit = st.MPI_SOURCE / c->p->tp;
        int next = coord_next(c, unit, msg);
        MPI_CHECK(MPI_Send(&next, 1, MPI_INT, st.MPI_SOURCE, TAG_ITEM, MPI_COMM_WORLD));
        if (next < 0) remote--;
    }
    return NULL;
}

/* ---- workers ----------------------------------------------------------------------------- */

static int leader_loop(par_info *p, par_work *w, coord *c, par_outcome *out)
{
    int last = -1, dropped = 0;
    exec_timing delta = {0};
    for (;;) {
        double msg[MSG_LEN] = {0};
        msg[MSG_ITEM] = last, msg[MSG_DROPPED] = dropped, msg[MSG_STOP] = w->stop && *w->stop;
        exec_timing_pack(&delta, msg + MSG_T0);
        double t0 = kv_now();
        int next;
        if (p->rank == 0) {
            next = coord_next(c, p->unit, msg);
        } else {
            MPI_CHECK(MPI_Send(msg, MSG_LEN, MPI_DOUBLE, 0, TAG_REQ, MPI_COMM_WORLD));
            MPI_CHECK(MPI_Recv(&next, 1, MPI_INT, 0, TAG_ITEM, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
        }
        memset(&delta, 0, sizeof delta);
        delta.idle = kv_now() - t0;
        if (p->tp > 1) MPI_CHECK(MPI_Bcast(&next, 1, MPI_INT, 0, group_comm));
        if (next < 0) break;
        if (w->run_item(w->ctx, next, &delta, &dropped) != KV_OK) kv_die("%s", kv_lasterr());
        out->done += !dropped;
        out->dropped += dropped;
        last = next;
    }
    return KV_OK;
}

static int member_loop(par_info *p, par_work *w, par_outcome *out)
{
    for (;;) {
        int next;
        MPI_CHECK(MPI_Bcast(&next, 1, MPI_INT, 0, group_comm));
        if (next < 0) break;
        exec_timing t = {0};
        int dropped;
        if (w->run_item(w->ctx, next, &t, &dropped) != KV_OK) kv_die("%s", kv_lasterr());
        out->done += !dropped;
    }
    (void)p;
    return KV_OK;
}

int par_work_run(par_info *p, par_work *w, par_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (p->rank != 0) {
        par_outcome mine = {0};
        int rc = p->tp_rank == 0 ? leader_loop(p, w, NULL, &mine) : member_loop(p, w, &mine);
        *out = mine;
        return rc;
    }
    coord c;
    memset(&c, 0, sizeof c);
    c.p = p, c.w = w;
    sched_init(&c.sc, w->n_items, w->item_model, w->item_cost, w->n_models, p->n_units);
    pthread_mutex_init(&c.lock, NULL);
    c.active = p->n_units;
    c.unit_end = kv_calloc(p->n_units, sizeof(double));
    pthread_t th;
    int have_thread = p->mpi && p->n_units > 1;
    if (have_thread && pthread_create(&th, NULL, coord_thread, &c) != 0) kv_die("cannot start the coordinator thread");
    par_outcome mine = {0};
    if (p->threaded || !have_thread) {
        leader_loop(p, w, &c, &mine);
    } else {
        /* Without MPI_THREAD_MULTIPLE rank 0 only coordinates: its group takes no item. */
        double msg[MSG_LEN] = {-1};
        coord_next(&c, 0, msg);
        if (p->tp > 1) {
            int none = -1;
            MPI_CHECK(MPI_Bcast(&none, 1, MPI_INT, 0, group_comm));
        }
    }
    if (have_thread) pthread_join(th, NULL);
    double end = kv_now();
    /* Idle at the end: each unit waited from its last -1 until the whole run finished. */
    for (int u = 0; u < p->n_units; u++)
        if (c.unit_end[u] > 0) c.out.total.idle += end - c.unit_end[u];
    c.out.stopped = c.stopping;
    *out = c.out;
    sched_free(&c.sc);
    free(c.unit_end);
    pthread_mutex_destroy(&c.lock);
    return KV_OK;
}
