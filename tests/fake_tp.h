/* fake_tp: an in-process tensor-parallel group for the tests of the statistics and selection
 * paths (tests/test_stats_backend.c, tests/test_select_device.c): the ranks run one after another
 * in one process. Static functions: each test includes it once. */
#ifndef KV_TESTS_FAKE_TP_H
#define KV_TESTS_FAKE_TP_H

#include <stdlib.h>
#include <string.h>

#include "engine/comm.h"
#include "util/util.h"

#define FAKE_MAX_CALLS 16 /* all-gathers per layer: win, win16 and up to 8 H2O settings */

/* An in-process TP group: the ranks run one after another, each all-gather deposits the rank's
 * block into the slot of that call and returns every block deposited so far, so the last rank of
 * a layer receives exactly what MPI would give every rank. */
typedef struct {
    int size, fail;
    float *slot[FAKE_MAX_CALLS];
    long n[FAKE_MAX_CALLS];
} fake_world;

typedef struct {
    fake_world *w;
    int rank, calls;
} fake_rank;

static int fake_allgather(void *ctx, const float *send, float *recv, long n)
{
    fake_rank *f = ctx;
    fake_world *w = f->w;
    int c = f->calls++;
    if (w->fail || c >= FAKE_MAX_CALLS || (w->slot[c] && w->n[c] != n)) {
        kv_seterr("fake allgather: call %d of %ld floats refused", c, n);
        return KV_ERR;
    }
    if (!w->slot[c]) {
        w->slot[c] = kv_calloc((size_t)w->size * (size_t)n, sizeof(float));
        w->n[c] = n;
    }
    memcpy(w->slot[c] + (long)f->rank * n, send, sizeof(float) * (size_t)n);
    memcpy(recv, w->slot[c], sizeof(float) * (size_t)w->size * (size_t)n);
    return KV_OK;
}

/* The T ranks of world w: fr[r] and its communicator cm[r] (ctx fr[r], allgather fake_allgather). */
static void fake_group(fake_world *w, int T, fake_rank *fr, comm *cm)
{
    for (int r = 0; r < T; r++) {
        fr[r] = (fake_rank){.w = w, .rank = r};
        cm[r] = (comm){.size = T, .rank = r, .ctx = &fr[r], .allgather = fake_allgather};
    }
}

static void fake_world_free(fake_world *w)
{
    for (int c = 0; c < FAKE_MAX_CALLS; c++) free(w->slot[c]);
    memset(w->slot, 0, sizeof w->slot);
}

#endif
