/* comm: the tensor-parallel communicator (issue 7). One interface, two implementations: MPI for
 * CPU ranks (engine/comm_mpi.c) and NCCL for GPUs (engine/comm_nccl.cu). Buffers are backend
 * memory of the engine that owns the group. A group of size 1 is never created: the engine treats
 * NULL as "no TP". The engine opens its communicator after its backend (backend_comm_open picks
 * the implementation), on an MPI communicator of the group that the caller keeps alive until
 * engine_close. Every rank of the group calls the same operations in the same order. */
#ifndef KV_COMM_H
#define KV_COMM_H

typedef struct comm {
    int size, rank;
    void *ctx;
    /* In-place sum over the group of n floats. */
    int (*allreduce_sum)(void *ctx, float *buf, long n);
    /* recv (size * n floats) = every rank's n floats, in rank order. */
    int (*allgather)(void *ctx, const float *send, float *recv, long n);
    int (*broadcast)(void *ctx, void *buf, long bytes, int root);
    void (*close)(void *ctx);
    /* 1 when the operations are enqueued on the backend's stream without touching the host, so a
     * CUDA graph can record them (NCCL); 0 when they run on the host at call time (MPI). */
    int graph_safe;
} comm;

/* mpi_comm points at an MPI_Comm (kept opaque so this header needs no <mpi.h>); it is duplicated,
 * so the engine's collectives never interleave with the caller's own messages on it. Collective
 * over the group. */
int comm_mpi_open(const void *mpi_comm, comm *out);
/* NCCL group over the ranks of mpi_comm on the calling thread's current CUDA device (the CUDA
 * backend set it): group rank 0 makes the unique id and broadcasts it over MPI. Operations are
 * enqueued on `stream` (a cudaStream_t, the backend's) in place, without a host sync, so they
 * order with the backend's kernels and can be captured in CUDA graphs. Collective over the group. */
int comm_nccl_open(const void *mpi_comm, void *stream, comm *out);

#endif
