/* backend: the small vtable the engine computes through (DESIGN §3). Every pointer argument is
 * backend memory (device memory for CUDA, host memory for the CPU); the engine moves data with
 * to_device / to_host and never calls a kernel directly. The CPU backend is the reference. */
#ifndef KV_BACKEND_H
#define KV_BACKEND_H

#include <stddef.h>

#include "kernels/decode_attention.h"
#include "kernels/qtype.h"
#include "kernels/select.h"

/* Bytes moved between host and backend memory since the backend opened (issue 16): every
 * to_host / to_device (and argmax's host result) adds to it. */
typedef struct {
    unsigned long long to_host, to_device;
    /* not host traffic: bytes of statistics all-gathered over the tensor-parallel group for
     * device selection (engine/stats_backend.c), counted on each rank */
    unsigned long long tp_gather;
} backend_traffic;
#include "kernels/recall.h"

typedef struct backend {
    const char *name;   /* "cpu", "cuda" */
    char device[128];   /* human-readable device, for provenance */
    /* the compute dtype of weights and GEMM/attention inputs: "fp32" on the CPU (the oracle),
     * "fp16", "bf16" or "fp32" on CUDA; recorded with results */
    const char *dtype;
    void *ctx;          /* backend state: stream, cuBLAS handle, ... */
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *p);
    void (*to_device)(void *ctx, void *dst, const void *src, size_t bytes);
    void (*to_host)(void *ctx, void *dst, const void *src, size_t bytes);
    void (*copy)(void *ctx, void *dst, const void *src, size_t bytes); /* backend → backend memory */
    int host_memory;    /* 1 when backend memory is host memory (no staging copies needed) */
    /* 1 when weights and arithmetic are fp32 (the CPU; CUDA with KVBENCH_CUDA_WEIGHTS=fp32): two
     * runs of the same tokens then differ only in summation order. 0 with bf16/fp16 weights, where
     * GEMMs of other shapes (batch sizes, split counts) round differently. */
    int fp32;
    /* A weight matrix in the backend's storage format (CPU: the host matrix itself in whatever
     * format it is held, no copy; CUDA: a bf16 device copy). w lives as long as the engine.
     * Freed with weight_free. */
    void *(*weight_upload)(void *ctx, const qmatrix *w);
    void (*weight_free)(void *ctx, void *w);
    void (*embedding)(void *ctx, float *out, const void *table, const int *ids, int n, int dim);
    void (*rmsnorm)(void *ctx, float *out, const float *x, const float *w, int n_rows, int dim, float eps);
    void (*matmul)(void *ctx, float *out, const float *x, const void *w, int n, int in_dim, int out_dim);
    /* out[i] = matmul of x by w[i] (out_dim[i] rows) for count (<= 4) weights reading the same x, with
     * the bits of count matmul calls: one parallel region on the CPU instead of count. NULL where a
     * backend has nothing to gain (the engine then calls matmul count times). */
    void (*matmul_multi)(void *ctx, float *const *out, const float *x, const void *const *w, int count, int n,
                         int in_dim, const int *out_dim);
    void (*rope)(void *ctx, float *x, int n_rows, int n_heads, int head_dim, const int *positions,
                 const float *inv_freq);
    void (*swiglu)(void *ctx, float *out, const float *gate, const float *up, long n);
    void (*add)(void *ctx, float *x, const float *y, long n);
    void (*attention_prefill)(void *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                              int L, int H, int Hkv, int hd);
    /* seqs is a host array whose pointers are backend memory. */
    void (*decode_attention)(void *ctx, float *out, const float *q, const decode_seq *seqs, int B, int H,
                             int Hkv, int hd);
    /* Each sequence's new K/V row into its tail (decode_tail_store_*); seqs as for decode_attention. */
    void (*tail_store)(void *ctx, const decode_seq *seqs, int B, const float *k_new, const float *v_new, int kv_dim);
    void (*argmax)(void *ctx, int *out_host, const float *x, int n_rows, int n); /* result on the host */
    void (*sync)(void *ctx);
    void (*close)(void *ctx);
    /* Optional, NULL when the backend has none (CPU). The ops issued between graph_begin and
     * graph_end are recorded as one CUDA graph and launched at graph_end (a decode step: the
     * previous step's graph is updated in place when only kernel arguments changed). Inside the
     * pair: no to_host, to_device, argmax or free — each is a fatal error on CUDA. A copy recorded
     * in a graph would replay the bytes of the capture, frozen: the caller writes a graph's inputs
     * with to_device before graph_begin or graph_replay, on the same stream. */
    void (*graph_begin)(void *ctx);
    void (*graph_end)(void *ctx);
    /* Launch the graph the last graph_end built again, as it is (its kernels read the buffers they
     * were recorded with: the caller refreshes their contents before each replay). */
    void (*graph_replay)(void *ctx);
    /* CUDA: the cudaStream_t every op runs on, for the kernels called outside the vtable (the
     * scoring ops' _cuda twins in kernels/scoring.h take it as their `stream`). NULL on the CPU. */
    void *stream;
    /* The compression statistics of kernels/scoring.h (window_softmax_* and h2o_colsum_*; mode is
     * an h2o_mode) on backend memory: out (H, W, L) and (H, L-W). Per head they read only that
     * head's q, its KV head's k and its lse row, so a rank's block of heads gives exactly those
     * heads' rows of the full computation. */
    void (*window_softmax)(void *ctx, float *out, const float *q, const float *k, int L, int H, int Hkv, int hd,
                           int W, int fp16);
    void (*h2o_colsum)(void *ctx, float *out, const float *q, const float *k, const float *lse, int L, int H,
                       int Hkv, int hd, int W, int mode, int fp16);
    /* Optional (NULL: the backend has no such option): decode's linear layers on Q8_0/Q4_0/Q4_1 weights
     * with activations quantized to 8 bits (q8 = 1; kernels/qmatmul.h qmatmul_q8act_cpu) instead of
     * fp32 (q8 = 0, the default). Returns the name of the kernels used ("vnni", "avx2" or "c"). */
    const char *(*set_q8_activations)(void *ctx, int q8);
    /* Optional (NULL: none): the peak bytes of scratch the backend has held for dequantized weights. */
    size_t (*scratch_peak)(void *ctx);
    /* Optional (NULL: none; a backend whose kernels run asynchronously cannot time them without
     * waiting for each): wall seconds spent so far in the weight products (matmul, matmul_multi) and
     * in decode_attention, cumulative. */
    void (*kernel_seconds)(void *ctx, double *weights_s, double *attention_s);
    /* Counters of host <-> backend copies, owned by ctx (never NULL after backend_open). */
    backend_traffic *traffic;
    /* Free and total bytes of backend memory now (cudaMemGetInfo; on the CPU the host's available
     * memory, or KVBENCH_CPU_MEM_BYTES when set). Status. */
    int (*mem_info)(void *ctx, size_t *free_bytes, size_t *total_bytes);
    /* Device selection (issue 16): the selection steps of kernels/select.h on statistics in backend
     * memory, results (kept positions) in backend memory, so that only kept sets reach the host.
     * NULL when the backend has none: the plug-ins then run on host statistics. */
    void (*select_reduce)(void *ctx, float *a, const float *win, int H, int wm, int L, int W, int mean, int fp16);
    void (*select_pool)(void *ctx, float *out, const float *x, int H, int n, int kernel, int avg);
    void (*select_topk_window)(void *ctx, int *pos, const float *score, int H, int L, int W, int n_keep);
    void (*circuit_graph)(void *ctx, double *aq, double *ah, const float *win, int H, int wm, int N,
                          const circuit_params *p, int head);
    int (*circuit_select)(void *ctx, int *pos, const double *aq, const double *ah, int N, const circuit_params *p,
                          int C);
    /* The attention recall of a decode step (kernels/recall.h): out (B, H) backend memory; seqs a host
     * array whose pointers are backend memory, as for decode_attention. May run inside a graph. */
    void (*attention_recall)(void *ctx, float *out, const float *q, const recall_seq *seqs, int B, int H, int Hkv,
                             int hd);
} backend;

/* name: "cpu", "cuda" or "auto"/NULL (cuda when compiled in and a device is present, else cpu).
 * dtype: "fp16", "bf16", "fp32" or NULL (the backend's default) — the GPU's compute dtype; the CPU
 * backend always computes in fp32 and says so in out->dtype. Status; asking for cuda without a
 * device or build, or an unknown dtype, is KV_ERR with the reason. */
int backend_open(const char *name, int threads, const char *dtype, backend *out);
void backend_close(backend *b);

/* The tensor-parallel communicator for the ranks of mpi_comm (an MPI_Comm *, see engine/comm.h)
 * that suits this backend: NCCL on the backend's stream for CUDA, MPI for the CPU. Collective
 * over the group; status. */
struct comm;
int backend_comm_open(const backend *b, const void *mpi_comm, struct comm *out);

/* KVBENCH_SIMULATE_DEVICE=1: host_memory off, so the engine takes the device path (statistics in
 * backend buffers, every host copy through to_host/to_device and counted) — the "simulated device"
 * the transfer tests run on. */
int backend_cpu_open(int threads, backend *out);
/* Sets b's selection ops and mem_info to the CPU's (engine/backend_cpu_select.c). */
void backend_cpu_select_ops(backend *b);
/* Defined by the CUDA backend when it is compiled in (KV_HAVE_CUDA). */
int backend_cuda_open(const char *dtype, backend *out);
/* The CUDA backend's selection ops (engine/backend_cuda_select.cu). */
void backend_cuda_select_ops(backend *b);

#endif
