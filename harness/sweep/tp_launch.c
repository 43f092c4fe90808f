/* tp_launch: MPI set-up of a tensor-parallel group for generate/bench (the sweep runner builds
 * its groups in harness/sweep/mpi_run.c with MPI_Comm_split). The engine opens its communicator (NCCL
 * or MPI, by backend) on the MPI communicator made here. */
#include "harness/sweep/tp_launch.h"

#include <stdlib.h>

#include "util/mpi_check.h"
#include "util/util.h"

static int tp_active;
static MPI_Comm tp_mpi_comm;

static void abort_hook(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int tp_launch_join(int tp, int *rank, const void **mpi_comm_out)
{
    int inited = 0;
    MPI_CHECK(MPI_Initialized(&inited));
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        kv_seterr("MPI_Init failed: tensor parallel needs %d MPI ranks (mpirun -np %d ...)", tp, tp);
        return KV_ERR;
    }
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)); /* errors reach MPI_CHECK */
    int world, me;
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &me));
    kv_set_rank(me);
    kv_set_fatal_hook(abort_hook);
    if (world != tp) {
        kv_seterr("needs exactly %d MPI ranks (mpirun -np %d ...), got %d", tp, tp, world);
        return KV_ERR;
    }
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &tp_mpi_comm));
    tp_active = 1;
    *rank = me;
    *mpi_comm_out = &tp_mpi_comm;
    return KV_OK;
}

int tp_launch_rank(void)
{
    int inited = 0, me = 0;
    MPI_CHECK(MPI_Initialized(&inited));
    if (inited) MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &me));
    return me;
}

void tp_launch_abort(int code)
{
    int inited = 0;
    MPI_CHECK(MPI_Initialized(&inited));
    if (inited) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void tp_launch_finish(void)
{
    if (!tp_active) return;
    MPI_CHECK(MPI_Comm_free(&tp_mpi_comm));
    tp_active = 0;
    MPI_CHECK(MPI_Finalize());
}
