/* nompi/mpi.h: a single-rank stand-in for <mpi.h>, for builds without an MPI library (the device
 * bundle, `make device-bundle`: compiled with -DKV_NO_MPI -Iengine/nompi). It declares only what
 * kvbench uses. MPI_Init and MPI_Init_thread fail with a one-line error: such a build runs as one
 * plain process (par_init and tp_launch_join never initialise MPI unless a launcher or a
 * tensor-parallel request asks for it), so every multi-rank request ends in a clear error instead
 * of a silent world of one. The other calls act on a world of one rank and are never reached
 * without a successful MPI_Init. */
#ifndef KV_NOMPI_H
#define KV_NOMPI_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int MPI_Comm;
typedef int MPI_Datatype;
typedef int MPI_Op;
typedef int MPI_Info;
typedef int MPI_Errhandler;
typedef struct {
    int MPI_SOURCE, MPI_TAG, MPI_ERROR;
} MPI_Status;

enum { MPI_SUCCESS = 0, MPI_ERR_OTHER = 15, MPI_MAX_ERROR_STRING = 256 };
enum { MPI_COMM_NULL = 0, MPI_COMM_WORLD = 1 };
enum { MPI_THREAD_SINGLE = 0, MPI_THREAD_MULTIPLE = 3 };
enum { MPI_BYTE = 1, MPI_INT = 4, MPI_FLOAT = 5, MPI_DOUBLE = 8 }; /* values are the sizes in bytes */
enum { MPI_SUM, MPI_MIN, MPI_MAX };
enum { MPI_INFO_NULL = 0, MPI_COMM_TYPE_SHARED = 1, MPI_ANY_SOURCE = -1 };
enum { MPI_ERRORS_ARE_FATAL = 1, MPI_ERRORS_RETURN = 2 };
#define MPI_IN_PLACE ((void *)1)
#define MPI_STATUS_IGNORE ((MPI_Status *)0)

static inline int kv_nompi_refuse(const char *what)
{
    fprintf(stderr, "kvbench: error: %s: this kvbench was built without MPI (KV_NO_MPI, the device bundle) and "
                    "runs as one process only; multi-rank runs (mpirun, srun, --tensor-parallel > 1) need the full "
                    "build (make)\n", what);
    return MPI_ERR_OTHER;
}
static inline int MPI_Init(int *argc, char ***argv) { (void)argc, (void)argv; return kv_nompi_refuse("MPI_Init"); }
static inline int MPI_Init_thread(int *argc, char ***argv, int req, int *provided)
{
    (void)argc, (void)argv, (void)req, *provided = MPI_THREAD_SINGLE;
    return kv_nompi_refuse("MPI_Init_thread");
}
static inline int MPI_Initialized(int *flag) { return *flag = 0, MPI_SUCCESS; }
static inline int MPI_Finalized(int *flag) { return *flag = 0, MPI_SUCCESS; }
static inline int MPI_Finalize(void) { return MPI_SUCCESS; }
static inline int MPI_Abort(MPI_Comm c, int code) { (void)c, exit(code); }
static inline int MPI_Comm_set_errhandler(MPI_Comm c, MPI_Errhandler h) { return (void)c, (void)h, MPI_SUCCESS; }
static inline int MPI_Comm_size(MPI_Comm c, int *n) { return (void)c, *n = 1, MPI_SUCCESS; }
static inline int MPI_Comm_rank(MPI_Comm c, int *r) { return (void)c, *r = 0, MPI_SUCCESS; }
static inline int MPI_Comm_dup(MPI_Comm c, MPI_Comm *out) { return *out = c, MPI_SUCCESS; }
static inline int MPI_Comm_free(MPI_Comm *c) { return *c = MPI_COMM_NULL, MPI_SUCCESS; }
static inline int MPI_Comm_split(MPI_Comm c, int color, int key, MPI_Comm *out)
{
    return (void)color, (void)key, *out = c, MPI_SUCCESS;
}
static inline int MPI_Comm_split_type(MPI_Comm c, int type, int key, MPI_Info info, MPI_Comm *out)
{
    return (void)type, (void)key, (void)info, *out = c, MPI_SUCCESS;
}
static inline int MPI_Barrier(MPI_Comm c) { return (void)c, MPI_SUCCESS; }
static inline int MPI_Bcast(void *buf, int n, MPI_Datatype t, int root, MPI_Comm c)
{
    return (void)buf, (void)n, (void)t, (void)root, (void)c, MPI_SUCCESS;
}
/* One rank: the reduction of one contribution is that contribution. */
static inline int MPI_Allreduce(const void *send, void *recv, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c)
{
    (void)op, (void)c;
    if (send != MPI_IN_PLACE) memcpy(recv, send, (size_t)n * (size_t)t);
    return MPI_SUCCESS;
}
static inline int MPI_Allgather(const void *send, int n, MPI_Datatype t, void *recv, int rn, MPI_Datatype rt,
                                MPI_Comm c)
{
    (void)rn, (void)rt, (void)c;
    memcpy(recv, send, (size_t)n * (size_t)t);
    return MPI_SUCCESS;
}
/* Point-to-point messages need a second rank: unreachable in one process. */
static inline int MPI_Send(const void *buf, int n, MPI_Datatype t, int dest, int tag, MPI_Comm c)
{
    (void)buf, (void)n, (void)t, (void)dest, (void)tag, (void)c;
    return kv_nompi_refuse("MPI_Send");
}
static inline int MPI_Recv(void *buf, int n, MPI_Datatype t, int src, int tag, MPI_Comm c, MPI_Status *st)
{
    (void)src, (void)tag, (void)c;
    memset(buf, 0, (size_t)n * (size_t)t); /* defined contents for a caller that reads on */
    if (st) st->MPI_SOURCE = st->MPI_TAG = st->MPI_ERROR = 0;
    return kv_nompi_refuse("MPI_Recv");
}
static inline int MPI_Error_string(int code, char *msg, int *len)
{
    *len = snprintf(msg, MPI_MAX_ERROR_STRING, "MPI error %d (no MPI in this build)", code);
    return MPI_SUCCESS;
}

#endif
