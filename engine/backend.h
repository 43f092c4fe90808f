/* backend: the small vtable the engine computes through (DESIGN §3). Every pointer argument is
 * backend memory (device memory for CUDA, host memory for the CPU); the engine moves data with
 * to_device / to_host and never calls a kernel directly. The CPU backend is the reference. */
#ifndef KV_BACKEND_H
#define KV_BACKEND_H

#include <stddef.h>

#include "kernels/decode_attention.h"
#include "kernels/qtype.h"
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
    /* Optional (NULL: none): the peak bytes of scratch the backend has held for dequantized weights. */
    size_t (*scratch_peak)(void *ctx);
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

int backend_cpu_open(int threads, backend *out);
/* Defined by the CUDA backend when it is compiled in (KV_HAVE_CUDA). */
int backend_cuda_open(const char *dtype, backend *out);

#endif
