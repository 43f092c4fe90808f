/* tp_launch: joining a tensor-parallel group for the single-prompt commands (generate, bench):
 * MPI_Init, one group of all ranks (world size must equal T), the MPI communicator for the CPU
 * backend, and MPI_Abort as the fatal hook so that no rank hangs on another's error. */
#ifndef KV_TP_LAUNCH_H
#define KV_TP_LAUNCH_H

int tp_launch_join(int tp, int *rank, void **comm_out);
int tp_launch_rank(void);      /* 0 without MPI */
void tp_launch_abort(int code);
void tp_launch_finish(void);

#endif
