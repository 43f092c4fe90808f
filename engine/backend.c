/* backend: run-time choice of the compute backend and of the tensor-parallel communicator that
 * goes with it. The only place CUDA (and NCCL) is conditional. */
#include "engine/backend.h"

#include <string.h>

#include "engine/comm.h"
#include "util/util.h"

int backend_open(const char *name, int threads, const char *dtype, backend *out)
{
    memset(out, 0, sizeof *out);
    if (dtype && strcmp(dtype, "fp16") && strcmp(dtype, "bf16") && strcmp(dtype, "fp32")) {
        kv_seterr("unknown dtype '%s' (expected fp16, bf16 or fp32)", dtype);
        return KV_ERR;
    }
    int want_auto = !name || !strcmp(name, "auto");
    if (!want_auto && strcmp(name, "cpu") && strcmp(name, "cuda")) {
        kv_seterr("unknown backend '%s' (expected cpu, cuda or auto)", name);
        return KV_ERR;
    }
    if (want_auto || !strcmp(name, "cuda")) {
#ifdef KV_HAVE_CUDA
        if (backend_cuda_open(dtype, out) == KV_OK) return KV_OK;
        if (!want_auto) return KV_ERR;
#else
        if (!want_auto) {
            kv_seterr("backend cuda: this kvbench was built without CUDA (rebuild with nvcc: make CUDA=1)");
            return KV_ERR;
        }
#endif
    }
    return backend_cpu_open(threads, out);
}

void backend_close(backend *b)
{
    if (b->close) b->close(b->ctx);
    memset(b, 0, sizeof *b);
}

int backend_comm_open(const backend *b, const void *mpi_comm, comm *out)
{
    memset(out, 0, sizeof *out);
    if (!strcmp(b->name, "cpu")) return comm_mpi_open(mpi_comm, out); /* simulated device included */
#if defined(KV_HAVE_CUDA) && defined(KV_HAVE_NCCL)
    if (!strcmp(b->name, "cuda")) return comm_nccl_open(mpi_comm, b->stream, out);
#endif
    kv_seterr("backend %s: tensor parallel needs NCCL, which this kvbench was built without (install NCCL "
              "and rebuild, or use --backend cpu)", b->name);
    return KV_ERR;
}
