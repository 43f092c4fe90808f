/* comm_mpi: the tensor-parallel communicator over MPI, for CPU ranks (host buffers). */
#include <stdlib.h>

#include "engine/comm.h"
#include "util/mpi_check.h"
#include "util/util.h"

typedef struct {
    MPI_Comm c;
} mpi_ctx;

static int mpi_allreduce_sum(void *ctx, float *buf, long n)
{
    mpi_ctx *m = ctx;
    /* MPI counts are int: large buffers go in pieces */
    for (long off = 0; off < n; off += 1L << 30) {
        int cnt = (int)(n - off < (1L << 30) ? n - off : (1L << 30));
        if (MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, m->c) != MPI_SUCCESS) {
            kv_seterr("MPI_Allreduce of %d floats failed", cnt);
            return KV_ERR;
        }
    }
    return KV_OK;
}

static int mpi_allgather(void *ctx, const float *send, float *recv, long n)
{
    mpi_ctx *m = ctx;
    if (n > 1L << 30) {
        kv_seterr("allgather of %ld floats exceeds the MPI count limit", n);
        return KV_ERR;
    }
    if (MPI_Allgather(send, (int)n, MPI_FLOAT, recv, (int)n, MPI_FLOAT, m->c) != MPI_SUCCESS) {
        kv_seterr("MPI_Allgather of %ld floats failed", n);
        return KV_ERR;
    }
    return KV_OK;
}

static int mpi_broadcast(void *ctx, void *buf, long bytes, int root)
{
    mpi_ctx *m = ctx;
    if (bytes > 1L << 30 || MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, m->c) != MPI_SUCCESS) {
        kv_seterr("MPI_Bcast of %ld bytes failed", bytes);
        return KV_ERR;
    }
    return KV_OK;
}

static void mpi_close(void *ctx)
{
    mpi_ctx *m = ctx;
    MPI_CHECK(MPI_Comm_free(&m->c));
    free(m);
}

int comm_mpi_open(const void *mpi_comm, comm *out)
{
    mpi_ctx *m = kv_malloc(sizeof *m);
    if (MPI_Comm_dup(*(const MPI_Comm *)mpi_comm, &m->c) != MPI_SUCCESS) {
        free(m);
        kv_seterr("MPI_Comm_dup of the tensor-parallel group failed");
        return KV_ERR;
    }
    MPI_CHECK(MPI_Comm_size(m->c, &out->size));
    MPI_CHECK(MPI_Comm_rank(m->c, &out->rank));
    out->ctx = m;
    out->allreduce_sum = mpi_allreduce_sum;
    out->allgather = mpi_allgather;
    out->broadcast = mpi_broadcast;
    out->close = mpi_close;
    return KV_OK;
}
