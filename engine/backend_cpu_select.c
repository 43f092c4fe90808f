/* backend_cpu_select: the CPU backend's selection ops (kernels/select.h on "backend" memory,
 * which is host memory) and its memory report. The same functions the host plug-ins call, so a
 * selection through the backend is bit-identical to the host path. */
#include <stdlib.h>
#include <sys/sysinfo.h>

#include "engine/backend.h"
#include "util/util.h"

static void cpu_select_reduce(void *ctx, float *a, const float *win, int H, int wm, int L, int W, int mean, int fp16)
{
    (void)ctx;
    select_reduce_cpu(a, win, H, wm, L, W, mean, fp16);
}
static void cpu_select_pool(void *ctx, float *out, const float *x, int H, int n, int kernel, int avg)
{
    (void)ctx;
    select_pool_cpu(out, x, H, n, kernel, avg);
}
static void cpu_select_topk_window(void *ctx, int *pos, const float *score, int H, int L, int W, int n_keep)
{
    (void)ctx;
    select_topk_window_cpu(pos, score, H, L, W, n_keep);
}
static void cpu_circuit_graph(void *ctx, double *aq, double *ah, const float *win, int H, int wm, int N,
                              const circuit_params *p, int head)
{
    (void)ctx;
    circuit_graph_cpu(aq, ah, win, H, wm, N, p, head);
}
static int cpu_circuit_select(void *ctx, int *pos, const double *aq, const double *ah, int N, const circuit_params *p,
                              int C)
{
    (void)ctx;
    return circuit_select_graph_cpu(pos, aq, ah, N, p, C);
}

/* KVBENCH_CPU_MEM_BYTES (a byte count) when set, else the kernel's free + buffer memory. */
static int cpu_mem_info(void *ctx, size_t *free_bytes, size_t *total_bytes)
{
    (void)ctx;
    const char *env = getenv("KVBENCH_CPU_MEM_BYTES");
    if (env && *env) {
        char *end;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end || v == 0) {
            kv_seterr("KVBENCH_CPU_MEM_BYTES='%s': expected a positive byte count", env);
            return KV_ERR;
        }
        *free_bytes = *total_bytes = (size_t)v;
        return KV_OK;
    }
    struct sysinfo si;
    if (sysinfo(&si) != 0) {
        kv_seterr("sysinfo failed: cannot tell the host's free memory (set KVBENCH_CPU_MEM_BYTES)");
        return KV_ERR;
    }
    *free_bytes = (size_t)(si.freeram + si.bufferram) * si.mem_unit;
    *total_bytes = (size_t)si.totalram * si.mem_unit;
    return KV_OK;
}

void backend_cpu_select_ops(backend *b)
{
    b->mem_info = cpu_mem_info;
    b->select_reduce = cpu_select_reduce;
    b->select_pool = cpu_select_pool;
    b->select_topk_window = cpu_select_topk_window;
    b->circuit_graph = cpu_circuit_graph;
    b->circuit_select = cpu_circuit_select;
}
