/* backend_cuda: the CUDA backend behind the vtable of engine/backend.h. Device memory from
 * cudaMalloc (never managed memory), one stream for every op, a cuBLAS handle on that stream with
 * a fixed workspace (so GEMMs can be captured in graphs), weights uploaded once in the compute dtype
 * (engine_opts.dtype: fp16 — the default, the reference's torch.float16 —, bf16, or fp32, what
 * whole-model tests compare exactly; KVBENCH_CUDA_WEIGHTS=fp16|bf16|fp32 overrides).
 *
 * CUDA graphs: graph_begin starts capturing the stream; graph_end turns what was recorded into a
 * graph, updates the instantiated graph of the previous step in place when the topology is the
 * same (only kernel parameters such as tail lengths changed) or instantiates a new one, and
 * launches it; graph_replay launches that graph again unchanged. Host copies (to_device, to_host)
 * inside a capture are refused: a recorded copy would replay the capture's bytes, frozen; the
 * engine writes a step's inputs before graph_begin / graph_replay. */
#include "kernels/cuda/common.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "engine/backend.h"
#include "kernels/add.h"
#include "kernels/argmax.h"
#include "kernels/attention.h"
#include "kernels/cublas_load.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/scoring.h"
#include "kernels/swiglu.h"
}

#define CUBLAS_WORKSPACE_BYTES (32u << 20)
#define UPLOAD_CHUNK_FLOATS (32L << 20) /* 128 MiB of fp32 per conversion step */
#define ALLOC_CACHE_SLOTS 256 /* see cuda_alloc */

typedef struct {
    void *p;
    size_t bytes;
} cuda_block;

typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t cublas;
    void *cublas_ws;
    kv_wtype wtype;
    int attention_tc;       /* prefill attention on the tensor cores (bf16/fp16 weights) */
    int capturing;          /* between graph_begin and graph_end */
    cudaGraphExec_t graph_exec;
    long graph_updates, graph_instantiations, graph_replays;
    cuda_block *live; /* allocations handed out by alloc (for their sizes at free) */
    int n_live, live_cap;
    cuda_block cached[ALLOC_CACHE_SLOTS]; /* freed blocks kept for reuse */
    int n_cached;
    size_t cached_bytes;
    backend_traffic traffic;
} cuda_ctx;

/* The stream of a CUDA backend context (engine/backend_cuda_select.cu). */
extern "C" void *backend_cuda_stream(void *ctx) { return ((cuda_ctx *)ctx)->stream; }
/* Bytes the selection ops move between host and device themselves (CircuitKV's head lists). */
extern "C" void backend_cuda_count(void *ctx, size_t to_host, size_t to_device)
{
    ((cuda_ctx *)ctx)->traffic.to_host += to_host;
    ((cuda_ctx *)ctx)->traffic.to_device += to_device;
}

static int cuda_mem_info(void *ctx, size_t *free_bytes, size_t *total_bytes)
{
    (void)ctx;
    cudaError_t e = cudaMemGetInfo(free_bytes, total_bytes);
    if (e != cudaSuccess) {
        kv_seterr("cudaMemGetInfo: %s", cudaGetErrorString(e));
        return KV_ERR;
    }
    return KV_OK;
}

/* Device memory: cudaMalloc behind a small exact-size cache. The engine allocates and frees the
 * same dozen buffers every decode step; cudaMalloc/cudaFree cost tens of microseconds each and
 * cudaFree synchronizes the device. Every op runs on the one stream, so a freed block can be handed
 * out again at once: its next user is ordered after its last one. Blocks of at most
 * ALLOC_CACHE_MAX_BLOCK are kept, ALLOC_CACHE_MAX_BYTES in all; the cache is emptied when
 * cudaMalloc runs out of memory. */
#define ALLOC_CACHE_MAX_BLOCK ((size_t)1 << 30)
#define ALLOC_CACHE_MAX_BYTES ((size_t)4 << 30)

static size_t alloc_round(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

static void live_add(cuda_ctx *c, void *p, size_t bytes)
{
    if (c->n_live == c->live_cap) {
        c->live_cap = c->live_cap ? 2 * c->live_cap : 64;
        c->live = (cuda_block *)kv_realloc(c->live, sizeof *c->live * (size_t)c->live_cap);
    }
    c->live[c->n_live++] = (cuda_block){p, bytes};
}

static size_t live_remove(cuda_ctx *c, void *p)
{
    for (int i = c->n_live - 1; i >= 0; i--) {
        if (c->live[i].p == p) {
            size_t n = c->live[i].bytes;
            c->live[i] = c->live[--c->n_live];
            return n;
        }
    }
    kv_die("backend cuda: free of %p, which this backend did not allocate", p);
}

static void cache_flush(cuda_ctx *c)
{
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    for (int i = 0; i < c->n_cached; i++) CUDA_CHECK(cudaFree(c->cached[i].p));
    c->n_cached = 0;
    c->cached_bytes = 0;
}

static void *cuda_alloc(void *ctx, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!bytes) return NULL;
    size_t n = alloc_round(bytes);
    void *p = NULL;
    for (int i = c->n_cached - 1; i >= 0; i--) {
        if (c->cached[i].bytes == n) {
            p = c->cached[i].p;
            c->cached_bytes -= n;
            c->cached[i] = c->cached[--c->n_cached];
            break;
        }
    }
    if (!p) {
        cudaError_t e = cudaMalloc(&p, n);
        if (e == cudaErrorMemoryAllocation && c->n_cached && !cuda_stream_capturing(c->stream)) {
            (void)cudaGetLastError();
            cache_flush(c);
            e = cudaMalloc(&p, n);
        }
        if (e != cudaSuccess)
            kv_die("backend cuda: cudaMalloc of %zu bytes failed: %s (%s)", n, cudaGetErrorName(e),
                   cudaGetErrorString(e));
    }
    live_add(c, p, n);
    return p;
}

static void cuda_free_mem(void *ctx, void *p)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!p) return;
    size_t n = live_remove(c, p);
    if (n <= ALLOC_CACHE_MAX_BLOCK && c->n_cached < ALLOC_CACHE_SLOTS && c->cached_bytes + n <= ALLOC_CACHE_MAX_BYTES) {
        c->cached[c->n_cached++] = (cuda_block){p, n};
        c->cached_bytes += n;
        return;
    }
    if (cuda_stream_capturing(c->stream)) kv_die("backend cuda: freeing a large buffer inside a CUDA graph capture");
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    CUDA_CHECK(cudaFree(p));
}

static void cuda_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!bytes || dst == src) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
}

static void cuda_to_device(void *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!bytes || dst == src) return;
    if (c->capturing)
        kv_die("backend cuda: to_device inside a CUDA graph capture (a replay would copy the capture's bytes): "
               "write the graph's inputs before graph_begin/graph_replay");
    c->traffic.to_device += bytes;
    /* Pageable sources: cudaMemcpyAsync returns once the source is staged, so the caller may reuse
     * its buffer immediately. */
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, c->stream));
}

static void cuda_to_host(void *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!bytes) return;
    if (c->capturing) kv_die("backend cuda: to_host inside a CUDA graph capture");
    c->traffic.to_host += bytes;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

/* fp32 rows [r0, r0+nr) of a host matrix: the matrix itself when it is fp32, else dequantized into
 * host (the caller's buffer of nr * cols floats). */
static const float *host_rows_f32(const qmatrix *w, long r0, long nr, float *host)
{
    if (w->type == QTYPE_F32) return (const float *)w->data + r0 * w->cols;
    for (long r = 0; r < nr; r++)
        qtype_dequant_row(w->type, (const char *)w->data + (size_t)(r0 + r) * w->row_bytes, host + r * w->cols, w->cols);
    return host;
}

static void *cuda_weight_upload(void *ctx, const qmatrix *w)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    void *dst = NULL;
    const long n = (long)(w->rows * w->cols), cols = (long)w->cols;
    if (n <= 0) return NULL;
    CUDA_CHECK(cudaMalloc(&dst, kv_wtype_size(c->wtype) * (size_t)n));
    if (c->wtype == KV_WTYPE_F32 && w->type == QTYPE_F32) {
        CUDA_CHECK(cudaMemcpyAsync(dst, w->data, sizeof(float) * (size_t)n, cudaMemcpyHostToDevice, c->stream));
        return dst;
    }
    /* Whole rows of fp32 at a time through a device buffer, converted in place on the stream: the
     * host matrix (in whatever format the model holds it; compact ones are dequantized on the host
     * chunk by chunk) is read once and no whole fp32 copy exists on either side. */
    long rows_per = UPLOAD_CHUNK_FLOATS / cols;
    if (rows_per < 1) rows_per = 1;
    if (rows_per > (long)w->rows) rows_per = (long)w->rows;
    float *tmp = (float *)cuda_scratch(c->stream, SCRATCH_UPLOAD, sizeof(float) * (size_t)(rows_per * cols));
    float *host = w->type == QTYPE_F32 ? NULL : (float *)kv_malloc(sizeof(float) * (size_t)(rows_per * cols));
    for (long r0 = 0; r0 < (long)w->rows; r0 += rows_per) {
        long nr = (long)w->rows - r0 < rows_per ? (long)w->rows - r0 : rows_per, m = nr * cols;
        const float *src = host_rows_f32(w, r0, nr, host);
        char *out = (char *)dst + kv_wtype_size(c->wtype) * (size_t)(r0 * cols);
        if (c->wtype == KV_WTYPE_F32) {
            CUDA_CHECK(cudaMemcpyAsync(out, src, sizeof(float) * (size_t)m, cudaMemcpyHostToDevice, c->stream));
        } else {
            CUDA_CHECK(cudaMemcpyAsync(tmp, src, sizeof(float) * (size_t)m, cudaMemcpyHostToDevice, c->stream));
            cuda_convert_f32(out, tmp, m, c->wtype, c->stream);
        }
        /* a pageable source is staged before cudaMemcpyAsync returns; host is reused next chunk */
    }
    free(host);
    return dst;
}

static void cuda_weight_free(void *ctx, void *w)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!w) return;
    if (cuda_stream_capturing(c->stream)) kv_die("backend cuda: weight_free inside a CUDA graph capture");
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    CUDA_CHECK(cudaFree(w));
}

static void cuda_embedding(void *ctx, float *out, const void *table, const int *ids, int n, int dim)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    embedding_cuda_typed(out, table, ids, n, dim, c->wtype, c->stream);
}

static void cuda_rmsnorm(void *ctx, float *out, const float *x, const float *w, int n_rows, int dim, float eps)
{
    rmsnorm_cuda(out, x, w, n_rows, dim, eps, ((cuda_ctx *)ctx)->stream);
}

static void cuda_matmul(void *ctx, float *out, const float *x, const void *w, int n, int in_dim, int out_dim)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    matmul_cuda_typed(out, x, w, n, in_dim, out_dim, c->cublas, c->wtype);
}

static void cuda_rope(void *ctx, float *x, int n_rows, int n_heads, int head_dim, const int *positions,
                      const float *inv_freq)
{
    rope_cuda(x, n_rows, n_heads, head_dim, positions, inv_freq, ((cuda_ctx *)ctx)->stream);
}

static void cuda_swiglu(void *ctx, float *out, const float *gate, const float *up, long n)
{
    swiglu_cuda(out, gate, up, n, ((cuda_ctx *)ctx)->stream);
}

static void cuda_add(void *ctx, float *x, const float *y, long n) { add_cuda(x, y, n, ((cuda_ctx *)ctx)->stream); }

static void cuda_window_softmax(void *ctx, float *out, const float *q, const float *k, int L, int H, int Hkv, int hd,
                                int W, int fp16)
{
    window_softmax_cuda(out, q, k, L, H, Hkv, hd, W, fp16, ((cuda_ctx *)ctx)->stream);
}

static void cuda_h2o_colsum(void *ctx, float *out, const float *q, const float *k, const float *lse, int L, int H,
                            int Hkv, int hd, int W, int mode, int fp16)
{
    h2o_colsum_cuda(out, q, k, lse, L, H, Hkv, hd, W, (h2o_mode)mode, fp16, ((cuda_ctx *)ctx)->stream);
}

static void cuda_attention_prefill(void *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                                   int L, int H, int Hkv, int hd)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (c->attention_tc)
        attention_prefill_tc_cuda(out, lse, q, k, v, L, H, Hkv, hd, c->wtype == KV_WTYPE_F16, c->stream);
    else attention_prefill_cuda(out, lse, q, k, v, L, H, Hkv, hd, c->stream);
}

static void cuda_decode_attention(void *ctx, float *out, const float *q, const decode_seq *seqs, int B, int H,
                                  int Hkv, int hd)
{
    decode_attention_cuda(out, q, seqs, B, H, Hkv, hd, ((cuda_ctx *)ctx)->stream);
}

static void cuda_attention_recall(void *ctx, float *out, const float *q, const recall_seq *seqs, int B, int H,
                                  int Hkv, int hd)
{
    attention_recall_cuda(out, q, seqs, B, H, Hkv, hd, ((cuda_ctx *)ctx)->stream);
}

static void cuda_tail_store(void *ctx, const decode_seq *seqs, int B, const float *k_new, const float *v_new,
                            int kv_dim)
{
    decode_tail_store_cuda(seqs, B, k_new, v_new, kv_dim, ((cuda_ctx *)ctx)->stream);
}

static void cuda_argmax(void *ctx, int *out_host, const float *x, int n_rows, int n)
{
    ((cuda_ctx *)ctx)->traffic.to_host += sizeof(int) * (size_t)n_rows;
    argmax_cuda(out_host, x, n_rows, n, ((cuda_ctx *)ctx)->stream);
}

static void cuda_sync(void *ctx) { CUDA_CHECK(cudaStreamSynchronize(((cuda_ctx *)ctx)->stream)); }

static void cuda_graph_begin(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (c->capturing) kv_die("backend cuda: graph_begin while a capture is already open");
    cuda_scratch_capture_begin(c->stream); /* synchronizes; frees scratch no live graph can use */
    c->capturing = 1;
    /* Relaxed: scratch buffers may grow (cudaMalloc) while the first step is recorded. */
    CUDA_CHECK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed));
}

static void cuda_graph_end(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    cudaGraph_t g = NULL;
    CUDA_CHECK(cudaStreamEndCapture(c->stream, &g));
    c->capturing = 0;
    int updated = 0;
    if (c->graph_exec) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate(c->graph_exec, g, &info) == cudaSuccess) {
            updated = 1;
            c->graph_updates++;
        } else {
            (void)cudaGetLastError(); /* a different topology is not an error: instantiate anew */
            CUDA_CHECK(cudaGraphExecDestroy(c->graph_exec));
            c->graph_exec = NULL;
        }
    }
    if (!updated) {
        CUDA_CHECK(cudaGraphInstantiate(&c->graph_exec, g, 0));
        c->graph_instantiations++;
    }
    CUDA_CHECK(cudaGraphDestroy(g));
    CUDA_CHECK(cudaGraphLaunch(c->graph_exec, c->stream));
}

static void cuda_graph_replay(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!c->graph_exec) kv_die("backend cuda: graph_replay before any graph was built");
    CUDA_CHECK(cudaGraphLaunch(c->graph_exec, c->stream));
    c->graph_replays++;
}

static void cuda_close(void *ctx)
{
    cuda_ctx *c = (cuda_ctx *)ctx;
    if (!c) return;
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (c->graph_exec) CUDA_CHECK(cudaGraphExecDestroy(c->graph_exec));
    cache_flush(c);
    for (int i = 0; i < c->n_live; i++) CUDA_CHECK(cudaFree(c->live[i].p)); /* leaked by the caller */
    free(c->live);
    CUBLAS_CHECK(kv_cublas.destroy(c->cublas));
    CUDA_CHECK(cudaFree(c->cublas_ws));
    cuda_scratch_release(c->stream);
    CUDA_CHECK(cudaStreamDestroy(c->stream));
    free(c);
}

/* Which GPU this process uses: KVBENCH_CUDA_DEVICE, else the MPI local rank (one rank per GPU on
 * a node), else 0. */
static int pick_device(int n_devices)
{
    const char *env = getenv("KVBENCH_CUDA_DEVICE");
    if (!env) env = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!env) env = getenv("SLURM_LOCALID");
    int d = env ? atoi(env) : 0;
    return d >= 0 ? d % n_devices : 0;
}

extern "C" int backend_cuda_open(const char *dtype, backend *b)
{
    memset(b, 0, sizeof *b);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        kv_seterr("backend cuda: no CUDA device (%s)",
                  e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found 0 devices");
        (void)cudaGetLastError();
        return KV_ERR;
    }
    /* The compute dtype: the caller's (a sweep's dtype, --dtype), else fp16 as the reference's
     * torch.float16; KVBENCH_CUDA_WEIGHTS overrides both (the whole-model tests pin fp32 with it). */
    kv_wtype wtype = KV_WTYPE_F16;
    const char *wenv = getenv("KVBENCH_CUDA_WEIGHTS");
    if (!(wenv && *wenv)) wenv = dtype;
    if (wenv && *wenv) {
        if (!strcmp(wenv, "bf16")) wtype = KV_WTYPE_BF16;
        else if (!strcmp(wenv, "fp16")) wtype = KV_WTYPE_F16;
        else if (!strcmp(wenv, "fp32")) wtype = KV_WTYPE_F32;
        else {
            kv_seterr("backend cuda: dtype '%s' (KVBENCH_CUDA_WEIGHTS or the caller's; expected bf16, fp16 or fp32)",
                      wenv);
            return KV_ERR;
        }
    }
    /* Half-precision weights: attention on the tensor cores in the same half type; fp32 weights keep the fp32
     * kernel (the CPU's numbers). KVBENCH_CUDA_ATTENTION=fp32|tc overrides. */
    int attention_tc = wtype != KV_WTYPE_F32;
    const char *aenv = getenv("KVBENCH_CUDA_ATTENTION");
    if (aenv && *aenv) {
        if (!strcmp(aenv, "tc")) attention_tc = 1;
        else if (!strcmp(aenv, "fp32")) attention_tc = 0;
        else {
            kv_seterr("backend cuda: KVBENCH_CUDA_ATTENTION='%s' (expected tc or fp32)", aenv);
            return KV_ERR;
        }
    }
    int dev = pick_device(n);
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    if (prop.major < 9) {
        kv_seterr("backend cuda: device %d (%s) is sm_%d%d; this build targets sm_90 (Hopper) and newer", dev,
                  prop.name, prop.major, prop.minor);
        return KV_ERR;
    }
    char lerr[768];
    if (kv_cublas_load(lerr, sizeof lerr)) {
        kv_seterr("backend cuda: %s", lerr);
        return KV_ERR;
    }
    CUDA_CHECK(cudaSetDevice(dev));
    cuda_ctx *c = (cuda_ctx *)kv_calloc(1, sizeof *c);
    c->device = dev;
    c->wtype = wtype;
    c->attention_tc = attention_tc;
    CUDA_CHECK(cudaStreamCreate(&c->stream));
    CUBLAS_CHECK(kv_cublas.create(&c->cublas));
    CUBLAS_CHECK(kv_cublas.set_stream(c->cublas, c->stream));
    CUDA_CHECK(cudaMalloc(&c->cublas_ws, CUBLAS_WORKSPACE_BYTES));
    CUBLAS_CHECK(kv_cublas.set_workspace(c->cublas, c->cublas_ws, CUBLAS_WORKSPACE_BYTES));
    CUBLAS_CHECK(kv_cublas.set_math_mode(c->cublas, CUBLAS_DEFAULT_MATH)); /* no TF32: fp32 means fp32 */

    b->name = "cuda";
    b->dtype = wtype == KV_WTYPE_F16 ? "fp16" : wtype == KV_WTYPE_BF16 ? "bf16" : "fp32";
    snprintf(b->device, sizeof b->device, "cuda:%d %.48s (sm_%d%d, %d GiB, %s weights, %s attention)", dev % 100,
             prop.name, prop.major % 100, prop.minor % 10, (int)(prop.totalGlobalMem >> 30) % 100000,
             kv_wtype_name(wtype), attention_tc ? "tensor-core" : "fp32");
    b->ctx = c;
    b->alloc = cuda_alloc;
    b->free = cuda_free_mem;
    b->to_device = cuda_to_device;
    b->to_host = cuda_to_host;
    b->copy = cuda_copy;
    b->host_memory = 0;
    b->fp32 = wtype == KV_WTYPE_F32;
    b->weight_upload = cuda_weight_upload;
    b->weight_free = cuda_weight_free;
    b->embedding = cuda_embedding;
    b->rmsnorm = cuda_rmsnorm;
    b->matmul = cuda_matmul;
    b->rope = cuda_rope;
    b->swiglu = cuda_swiglu;
    b->add = cuda_add;
    b->window_softmax = cuda_window_softmax;
    b->h2o_colsum = cuda_h2o_colsum;
    b->attention_prefill = cuda_attention_prefill;
    b->decode_attention = cuda_decode_attention;
    b->tail_store = cuda_tail_store;
    b->attention_recall = cuda_attention_recall;
    b->argmax = cuda_argmax;
    b->sync = cuda_sync;
    b->close = cuda_close;
    b->graph_begin = cuda_graph_begin;
    b->graph_end = cuda_graph_end;
    b->graph_replay = cuda_graph_replay;
    b->stream = c->stream;
    b->traffic = &c->traffic;
    b->mem_info = cuda_mem_info;
    backend_cuda_select_ops(b);
    return KV_OK;
}
