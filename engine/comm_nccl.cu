/* comm_nccl: the tensor-parallel communicator over NCCL, for GPU ranks (engine/comm.h). The group
 * is the ranks of an MPI communicator (consecutive ranks on one node, from MPI_Comm_split); group
 * rank 0 creates the NCCL unique id and broadcasts it over that communicator, then every rank joins
 * with ncclCommInitRank on its current device (the CUDA backend selected it).
 *
 * Every operation is enqueued in place on the backend's stream and returns without a host sync:
 * the engine's next kernel on that stream (the residual add after an all-reduce, the device→host
 * copy after a gather) is ordered after it, and a decode step captured as a CUDA graph records the
 * collectives with the kernels. Failures the run cannot survive go through NCCL_CHECK/MPI_CHECK,
 * which end in kv_die (host, rank, then MPI_Abort through the fatal hook) so no rank of the group
 * hangs in a collective waiting for a dead peer. */
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>

#include "kernels/cuda/common.cuh"

extern "C" {
#include "engine/comm.h"
#include "util/mpi_check.h"
}

#define NCCL_CHECK(stmt)                                                                                   \
    do {                                                                                                   \
        ncclResult_t kv_nccl_st_ = (stmt);                                                                 \
        if (kv_nccl_st_ != ncclSuccess)                                                                    \
            kv_die("NCCL error %d (%s) in `%s` at %s:%d in %s()", (int)kv_nccl_st_,                        \
                   ncclGetErrorString(kv_nccl_st_), #stmt, __FILE__, __LINE__, __func__);                 \
    } while (0)

typedef struct {
    ncclComm_t nccl;
    cudaStream_t stream;
} nccl_ctx;

/* In-place sum: the partial products of the row-split o and down projections (Megatron). */
static int nccl_allreduce_sum(void *ctx, float *buf, long n)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    NCCL_CHECK(ncclAllReduce(buf, buf, (size_t)n, ncclFloat, ncclSum, c->nccl, c->stream));
    return KV_OK;
}

/* recv = the ranks' n floats in rank order: the compression statistics of every head. */
static int nccl_allgather(void *ctx, const float *send, float *recv, long n)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    NCCL_CHECK(ncclAllGather(send, recv, (size_t)n, ncclFloat, c->nccl, c->stream));
    return KV_OK;
}

static int nccl_broadcast(void *ctx, void *buf, long bytes, int root)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    NCCL_CHECK(ncclBroadcast(buf, buf, (size_t)bytes, ncclChar, root, c->nccl, c->stream));
    return KV_OK;
}

static void nccl_close(void *ctx)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    /* Collectives still queued on the stream must finish before the communicator goes. */
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    NCCL_CHECK(ncclCommDestroy(c->nccl));
    free(c);
}

extern "C" int comm_nccl_open(const void *mpi_comm, void *stream, comm *out)
{
    MPI_Comm mc = *(const MPI_Comm *)mpi_comm;
    int size = 0, rank = 0, device = 0;
    MPI_CHECK(MPI_Comm_size(mc, &size));
    MPI_CHECK(MPI_Comm_rank(mc, &rank));
    CUDA_CHECK(cudaGetDevice(&device));

    ncclUniqueId id;
    if (rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    MPI_CHECK(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, mc));

    nccl_ctx *c = (nccl_ctx *)kv_calloc(1, sizeof *c);
    c->stream = (cudaStream_t)stream;
    ncclResult_t st = ncclCommInitRank(&c->nccl, size, id, rank);
    if (st != ncclSuccess) {
        /* A setup failure (no peer access, a bad NCCL_* environment) is reported, not fatal here:
         * the engine turns it into one error line and the launcher aborts the group. */
        kv_seterr("ncclCommInitRank (rank %d of %d on cuda:%d) failed: %s; NCCL_DEBUG=INFO says why", rank, size,
                  device, ncclGetErrorString(st));
        free(c);
        return KV_ERR;
    }
    out->size = size;
    out->rank = rank;
    out->ctx = c;
    out->allreduce_sum = nccl_allreduce_sum;
    out->allgather = nccl_allgather;
    out->broadcast = nccl_broadcast;
    out->close = nccl_close;
    out->graph_safe = 1;
    return KV_OK;
}
