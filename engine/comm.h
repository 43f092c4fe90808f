/* comm: the tensor-parallel communicator (issue 7). One interface, two implementations: MPI for
 * CPU ranks (engine/comm_mpi.c) and NCCL for GPUs. Buffers are backend memory of the engine that
 * owns the group. A group of size 1 is never created: the engine treats NULL as "no TP". */
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
} comm;

/* mpi_comm points at an MPI_Comm (kept opaque so this header needs no <mpi.h>). */
int comm_mpi_open(const void *mpi_comm, comm *out);
/* NCCL group over the ranks of mpi_comm; the unique id is broadcast over MPI. */
int comm_nccl_open(const void *mpi_comm, int device, comm *out);

#endif
