/* backend_cpu: the reference backend — host memory, the kernels/cpu ops, OpenMP threads. Weight
 * matrices stay in the format the model holds them in (kernels/qtype.h): fp32 goes to BLAS as
 * before; compact formats go to the fused dequantize-dot kernels for up to QMM_MAX_FUSED_ROWS rows
 * (decode), and for more rows (prefill) are dequantized into an fp32 scratch for sgemm. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "util/util.h"
#include "kernels/add.h"
#include "kernels/argmax.h"
#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "kernels/qmatmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/scoring.h"
#include "kernels/swiglu.h"

/* The prefill's MLP runs in row chunks (gate, up, down, then the next chunk): a few slots keep the
 * last dequantized matrices so that each is dequantized once per layer, not once per chunk. */
#define CPU_SCRATCH_SLOTS 3

typedef struct {
    const qmatrix *w; /* the matrix whose fp32 copy f32 holds, NULL if none */
    float *f32;
    size_t cap;       /* floats */
    unsigned long used;
} cpu_scratch_slot;

typedef struct {
    int isa;          /* qmm_isa of the fused kernels */
    int q8_acts;      /* decode with 8-bit activations on Q8_0/Q4_0/Q4_1 weights (set_q8_activations) */
    int q8_kern;      /* ... through these kernels (qmm_q8_kernel) */
    cpu_scratch_slot slot[CPU_SCRATCH_SLOTS];
    unsigned long tick;
    size_t held, peak; /* scratch bytes now and at most */
    backend_traffic traffic;
    double weights_s, attention_s; /* kernel_seconds: wall time in the weight products and decode attention */
} cpu_ctx;

/* w in fp32: a slot already holding it, else the least recently used slot refilled. */
static const float *cpu_scratch_f32(cpu_ctx *c, const qmatrix *w)
{
    cpu_scratch_slot *s = NULL;
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++)
        if (c->slot[i].w == w) s = &c->slot[i];
    if (!s) {
        s = &c->slot[0];
        for (int i = 1; i < CPU_SCRATCH_SLOTS; i++)
            if (c->slot[i].used < s->used) s = &c->slot[i];
        size_t need = (size_t)(w->rows * w->cols);
        if (s->cap < need) {
            c->held -= s->cap * sizeof(float);
            free(s->f32);
            s->f32 = kv_malloc(need * sizeof(float));
            s->cap = need;
            c->held += need * sizeof(float);
            if (c->held > c->peak) c->peak = c->held;
        }
        qmatrix_dequant_cpu(c->isa, w, s->f32);
        s->w = w;
    }
    s->used = ++c->tick;
    return s->f32;
}

static size_t cpu_scratch_peak(void *ctx) { return ((cpu_ctx *)ctx)->peak; }

static const char *cpu_set_q8_activations(void *ctx, int q8)
{
    cpu_ctx *c = ctx;
    c->q8_acts = q8;
    c->q8_kern = qmm_q8_for_isa(c->isa);
    return qmm_q8_name(c->q8_kern);
}

static void cpu_close(void *ctx)
{
    cpu_ctx *c = ctx;
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++) free(c->slot[i].f32);
    free(c);
}

static void *cpu_alloc(void *ctx, size_t bytes) { (void)ctx; return kv_malloc(bytes); }
static void cpu_free(void *ctx, void *p) { (void)ctx; free(p); }
static void cpu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (dst != src) memcpy(dst, src, bytes);
}
static void cpu_to_device(void *ctx, void *dst, const void *src, size_t bytes)
{
    ((cpu_ctx *)ctx)->traffic.to_device += bytes;
    cpu_copy(ctx, dst, src, bytes);
}
static void cpu_to_host(void *ctx, void *dst, const void *src, size_t bytes)
{
    ((cpu_ctx *)ctx)->traffic.to_host += bytes;
    cpu_copy(ctx, dst, src, bytes);
}
static void *cpu_weight_upload(void *ctx, const qmatrix *w) { (void)ctx; return (void *)w; }
static void cpu_weight_free(void *ctx, void *w) { (void)ctx; (void)w; }
static void cpu_embedding(void *ctx, float *out, const void *table, const int *ids, int n, int dim)
{
    (void)ctx;
    const qmatrix *t = table;
    if (t->type == QTYPE_F32) {
        embedding_cpu(out, t->data, ids, n, dim);
        return;
    }
    #pragma omp parallel for schedule(static) if (n > 64)
    for (int i = 0; i < n; i++)
        qtype_dequant_row(t->type, (const char *)t->data + (size_t)ids[i] * t->row_bytes, out + (long)i * dim, dim);
}
static void cpu_rmsnorm(void *ctx, float *out, const float *x, const float *w, int n_rows, int dim, float eps)
{
    (void)ctx;
    rmsnorm_cpu(out, x, w, n_rows, dim, eps);
}
static void cpu_matmul_untimed(cpu_ctx *c, float *out, const float *x, const qmatrix *q, int n, int in_dim,
                               int out_dim)
{
    if (q->type == QTYPE_F32) /* the fp32 oracle: BLAS, exactly as before compact weights */
        matmul_cpu(out, x, q->data, n, in_dim, out_dim);
    else if (n <= QMM_MAX_FUSED_ROWS && c->q8_acts && qmm_q8_supported(q->type))
        qmatmul_q8act_cpu(c->q8_kern, out, x, q, n);
    else if (n <= QMM_MAX_FUSED_ROWS)
        qmatmul_fused_cpu(c->isa, out, x, q, n);
    else
        matmul_cpu(out, x, cpu_scratch_f32(c, q), n, in_dim, out_dim);
}
static void cpu_matmul(void *ctx, float *out, const float *x, const void *w, int n, int in_dim, int out_dim)
{
    cpu_ctx *c = ctx;
    const double t0 = kv_now();
    cpu_matmul_untimed(c, out, x, w, n, in_dim, out_dim);
    c->weights_s += kv_now() - t0;
}
static void cpu_matmul_multi(void *ctx, float *const *out, const float *x, const void *const *w, int count, int n,
                             int in_dim, const int *out_dim)
{
    cpu_ctx *c = ctx;
    const qmatrix *const *q = (const qmatrix *const *)w;
    const double t0 = kv_now();
    if (n <= QMM_MAX_FUSED_ROWS && qmm_multi_fusable(q, count) && q[0]->type != QTYPE_F32) {
        if (c->q8_acts && qmm_q8_supported(q[0]->type))
            qmatmul_q8act_multi_cpu(c->q8_kern, out, x, q, count, n);
        else
            qmatmul_fused_multi_cpu(c->isa, out, x, q, count, n);
    } else {
        for (int i = 0; i < count; i++) cpu_matmul_untimed(c, out[i], x, q[i], n, in_dim, out_dim[i]);
    }
    c->weights_s += kv_now() - t0;
}
static void cpu_rope(void *ctx, float *x, int n_rows, int n_heads, int head_dim, const int *positions,
                     const float *inv_freq)
{
    (void)ctx;
    rope_cpu(x, n_rows, n_heads, head_dim, positions, inv_freq);
}
static void cpu_swiglu(void *ctx, float *out, const float *gate, const float *up, long n)
{
    (void)ctx;
    swiglu_cpu(out, gate, up, n);
}
static void cpu_add(void *ctx, float *x, const float *y, long n)
{
    (void)ctx;
    add_cpu(x, y, n);
}
static void cpu_attention_prefill(void *ctx, float *out, float *lse, const float *q, const float *k, const float *v,
                                  int L, int H, int Hkv, int hd)
{
    (void)ctx;
    attention_prefill_cpu(out, lse, q, k, v, L, H, Hkv, hd);
}
static void cpu_decode_attention(void *ctx, float *out, const float *q, const decode_seq *seqs, int B, int H,
                                 int Hkv, int hd)
{
    cpu_ctx *c = ctx;
    const double t0 = kv_now();
    decode_attention_cpu(out, q, seqs, B, H, Hkv, hd);
    c->attention_s += kv_now() - t0;
}
static void cpu_kernel_seconds(void *ctx, double *weights_s, double *attention_s)
{
    const cpu_ctx *c = ctx;
    *weights_s = c->weights_s, *attention_s = c->attention_s;
}
static void cpu_attention_recall(void *ctx, float *out, const float *q, const recall_seq *seqs, int B, int H,
                                 int Hkv, int hd)
{
    (void)ctx;
    attention_recall_cpu(out, q, seqs, B, H, Hkv, hd);
}
static void cpu_tail_store(void *ctx, const decode_seq *seqs, int B, const float *k_new, const float *v_new,
                           int kv_dim)
{
    (void)ctx;
    decode_tail_store_cpu(seqs, B, k_new, v_new, kv_dim);
}
static void cpu_argmax(void *ctx, int *out, const float *x, int n_rows, int n)
{
    ((cpu_ctx *)ctx)->traffic.to_host += sizeof(int) * (size_t)n_rows;
    argmax_cpu(out, x, n_rows, n);
}
static void cpu_sync(void *ctx) { (void)ctx; }
static void cpu_window_softmax(void *ctx, float *out, const float *q, const float *k, int L, int H, int Hkv, int hd,
                               int W, int fp16)
{
    (void)ctx;
    window_softmax_cpu(out, q, k, L, H, Hkv, hd, W, fp16);
}
static void cpu_h2o_colsum(void *ctx, float *out, const float *q, const float *k, const float *lse, int L, int H,
                           int Hkv, int hd, int W, int mode, int fp16)
{
    (void)ctx;
    h2o_colsum_cpu(out, q, k, lse, L, H, Hkv, hd, W, (h2o_mode)mode, fp16);
}

int backend_cpu_open(int threads, backend *b)
{
    memset(b, 0, sizeof *b);
    if (threads > 0) omp_set_num_threads(threads);
    b->name = "cpu";
    b->dtype = "fp32"; /* whatever dtype a sweep asks of the GPU: the CPU is the fp32 oracle */
    cpu_ctx *c = kv_calloc(1, sizeof *c);
    c->isa = qmm_isa_default();
    b->ctx = c;
    b->close = cpu_close;
    b->scratch_peak = cpu_scratch_peak;
    b->kernel_seconds = cpu_kernel_seconds;
    b->set_q8_activations = cpu_set_q8_activations;
    /* the processor's model name, for provenance and the tables' Hardware line */
    char model[96] = "CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            snprintf(model, sizeof model, "%s", colon + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
    snprintf(b->device, sizeof b->device, "%s, %d threads", model, omp_get_max_threads());
    b->alloc = cpu_alloc;
    b->free = cpu_free;
    b->to_device = cpu_to_device;
    b->to_host = cpu_to_host;
    b->copy = cpu_copy;
    b->traffic = &c->traffic;
    /* the simulated device (KVBENCH_SIMULATE_DEVICE=1): the engine's device path on host memory */
    const char *sim = getenv("KVBENCH_SIMULATE_DEVICE");
    b->host_memory = !(sim && !strcmp(sim, "1"));
    if (!b->host_memory) snprintf(b->device + strlen(b->device), sizeof b->device - strlen(b->device),
                                  " (simulated device)");
    backend_cpu_select_ops(b);
    b->fp32 = 1;
    b->weight_upload = cpu_weight_upload;
    b->weight_free = cpu_weight_free;
    b->embedding = cpu_embedding;
    b->rmsnorm = cpu_rmsnorm;
    b->matmul = cpu_matmul;
    b->matmul_multi = cpu_matmul_multi;
    b->rope = cpu_rope;
    b->swiglu = cpu_swiglu;
    b->add = cpu_add;
    b->attention_prefill = cpu_attention_prefill;
    b->decode_attention = cpu_decode_attention;
    b->tail_store = cpu_tail_store;
    b->attention_recall = cpu_attention_recall;
    b->argmax = cpu_argmax;
    b->sync = cpu_sync;
    b->window_softmax = cpu_window_softmax;
    b->h2o_colsum = cpu_h2o_colsum;
    return KV_OK;
}
