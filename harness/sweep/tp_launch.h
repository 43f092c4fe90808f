/* tp_launch: joining a tensor-parallel group for the single-prompt commands (generate, bench):
 * MPI_Init, one group of all ranks (world size must equal T), its MPI communicator (engine_opts
 * tp_mpi_comm; the engine builds NCCL or MPI collectives on it), and MPI_Abort as the fatal hook
 * so that no rank hangs on another's error. */
#ifndef KV_TP_LAUNCH_H
#define KV_TP_LAUNCH_H

/* *mpi_comm_out: an MPI_Comm * valid until tp_launch_finish (close the engine first). */
int tp_launch_join(int tp, int *rank, const void **mpi_comm_out);
int tp_launch_rank(void);      /* 0 without MPI */
void tp_launch_abort(int code);
void tp_launch_finish(void);

#endif
