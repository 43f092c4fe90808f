/* mpi_check: MPI_CHECK, the MPI twin of CUDA_CHECK/NCCL_CHECK (STYLE: one macro per error kind).
 * A failing MPI call prints the call, file:line, function, MPI's own error string, host and rank
 * (kv_die), then aborts the job through the fatal hook (MPI_Abort once MPI is up). MPI's default
 * handler would abort before the call returns; the layers that initialise MPI set
 * MPI_ERRORS_RETURN on MPI_COMM_WORLD so that these checks, not the library, report. Include only
 * from files that use MPI. */
#ifndef KV_MPI_CHECK_H
#define KV_MPI_CHECK_H

#include <mpi.h>

#include "util/util.h"

#define MPI_CHECK(stmt)                                                                                    \
    do {                                                                                                   \
        int kv_mpi_rc_ = (stmt);                                                                           \
        if (kv_mpi_rc_ != MPI_SUCCESS) {                                                                   \
            char kv_mpi_msg_[MPI_MAX_ERROR_STRING];                                                        \
            int kv_mpi_len_ = 0;                                                                           \
            MPI_Error_string(kv_mpi_rc_, kv_mpi_msg_, &kv_mpi_len_);                                       \
            kv_die("MPI error %d (%s) in `%s` at %s:%d in %s()", kv_mpi_rc_, kv_mpi_msg_, #stmt, __FILE__, \
                   __LINE__, __func__);                                                                    \
        }                                                                                                  \
    } while (0)

#endif
