/* backend_cuda_select: the CUDA backend's selection ops — kernels/cuda/select.cu on the backend's
 * stream (engine/backend.h, issue 16). */
#include "kernels/cuda/common.cuh"

extern "C" {
#include "engine/backend.h"
void *backend_cuda_stream(void *ctx);
void backend_cuda_count(void *ctx, size_t to_host, size_t to_device);
}

static void cu_select_reduce(void *ctx, float *a, const float *win, int H, int wm, int L, int W, int mean, int fp16)
{
    select_reduce_cuda(a, win, H, wm, L, W, mean, fp16, backend_cuda_stream(ctx));
}
static void cu_select_pool(void *ctx, float *out, const float *x, int H, int n, int kernel, int avg)
{
    select_pool_cuda(out, x, H, n, kernel, avg, backend_cuda_stream(ctx));
}
static void cu_select_topk_window(void *ctx, int *pos, const float *score, int H, int L, int W, int n_keep)
{
    select_topk_window_cuda(pos, score, H, L, W, n_keep, backend_cuda_stream(ctx));
}
static void cu_circuit_graph(void *ctx, double *aq, double *ah, const float *win, int H, int wm, int N,
                             const circuit_params *p, int head)
{
    circuit_graph_cuda(aq, ah, win, H, wm, N, p, head, backend_cuda_stream(ctx));
    /* the shared graphs order the heads on the host: 2H doubles there, at most 2H head ids back */
    if (head < 0) backend_cuda_count(ctx, sizeof(double) * 2 * (size_t)H, sizeof(int) * 2 * (size_t)H);
}
static int cu_circuit_select(void *ctx, int *pos, const double *aq, const double *ah, int N, const circuit_params *p,
                             int C)
{
    return circuit_select_graph_cuda(pos, aq, ah, N, p, C, backend_cuda_stream(ctx));
}

extern "C" void backend_cuda_select_ops(backend *b)
{
    b->select_reduce = cu_select_reduce;
    b->select_pool = cu_select_pool;
    b->select_topk_window = cu_select_topk_window;
    b->circuit_graph = cu_circuit_graph;
    b->circuit_select = cu_circuit_select;
}
