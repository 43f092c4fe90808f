/* test_cuda_kernels: every CUDA kernel against its CPU twin (the oracle) on random and edge-case
 * shapes, with a named tolerance per op and weight type. Engine ops go through the two backends'
 * vtables; the scoring ops are called directly with device memory from the CUDA backend. On a
 * machine without a GPU it prints why it skipped and exits 0 without a pass count. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/backend.h"
#include "util/util.h"
#include "kernels/scratch.h"
#include "kernels/argmax.h"
#include "kernels/attention.h"
#include "kernels/decode_attention.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/scoring.h"
#include "kernels/swiglu.h"
#include "kernels/add.h"
#include "tests/check.h"
#include "tests/cuda/scoring_tolerances.h"

/* Tolerances: |got - ref| <= atol + rtol·|ref| unless said otherwise. */
#define EMB_BF16_RTOL 3.92e-3   /* one bf16 rounding: 2^-8 */
#define EMB_F16_RTOL 4.9e-4     /* one fp16 rounding: 2^-11 */
#define RMS_ATOL 1e-6
#define RMS_RTOL 2e-6
#define ROPE_ATOL 2e-6
#define ROPE_RTOL 2e-6
#define ELEM_ATOL 1e-7
#define ELEM_RTOL 1e-6          /* expf: a few ulp */
/* GEMM: |got - ref| <= rtol · Σ_k |x_k w_k| (the bound of the input roundings and fp32 sums). */
#define MM_F32_RTOL 1e-5
#define MM_BF16_RTOL 2e-2
#define MM_F16_RTOL 3e-3
#define ATT_ATOL 2e-5
#define ATT_RTOL 1e-4
#define LSE_ATOL 1e-4
#define LSE_RTOL 1e-5
/* Tensor-core attention: q, k, v and the probabilities rounded to bf16 (2^-9 relative each); with
 * scores of O(1) that moves a probability by ~0.5% and an output (a mean of values in [-1, 1]) by
 * a few 1e-3. */
#define ATT_TC_ATOL 2e-2
#define ATT_TC_RTOL 2e-2
#define LSE_TC_ATOL 2e-2
#define LSE_TC_RTOL 2e-3
/* fp16 operands: 3 more mantissa bits than bf16, so 8x tighter */
#define ATT_TC16_ATOL 3e-3
#define ATT_TC16_RTOL 3e-3
#define LSE_TC16_ATOL 3e-3
#define LSE_TC16_RTOL 3e-4
#define DEC_ATOL 2e-5
#define DEC_RTOL 1e-4
#define POOL_AVG_RTOL 1e-6
#define NEU_ATOL 1e-12
#define NEU_RTOL 1e-9

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) /* uniform [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float rnd_sym(float a) { return (float)((2 * rnd() - 1) * a); }
static float *rand_array(long n, float a)
{
    float *x = kv_malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) x[i] = rnd_sym(a);
    return x;
}

static backend G, C; /* the CUDA backend (bf16 weights) and the CPU reference */

static void *up(backend *b, const void *host, size_t bytes)
{
    void *d = b->alloc(b->ctx, bytes ? bytes : 1);
    if (bytes) b->to_device(b->ctx, d, host, bytes);
    return d;
}
static void down(backend *b, void *host, const void *dev, size_t bytes) { b->to_host(b->ctx, host, dev, bytes); }

static void check_floats(const char *what, const float *got, const float *ref, long n, double atol, double rtol)
{
    double err;
    int ok = check_close_array(got, ref, n, atol, rtol, &err);
    CHECK(ok, "%s: max |err| %.3g (atol %.1g, rtol %.1g)", what, err, atol, rtol);
}

static void test_embedding(void)
{
    const char *types[] = {"bf16", "fp16", "fp32"};
    const double rtol[] = {EMB_BF16_RTOL, EMB_F16_RTOL, 0};
    const int vocab = 100, dims[] = {64, 576, 5};
    for (int t = 0; t < 3; t++) {
        setenv("KVBENCH_CUDA_WEIGHTS", types[t], 1);
        backend g;
        if (backend_open("cuda", 0, NULL, &g) != KV_OK) {
            CHECK(0, "open cuda with %s weights: %s", types[t], kv_lasterr());
            continue;
        }
        for (int di = 0; di < 3; di++) {
            int dim = dims[di], ids[] = {0, 99, 7, 7, 42, 0};
            int n = 6;
            float *table = rand_array((long)vocab * dim, 3), *ref = kv_malloc(sizeof(float) * n * dim);
            float *got = kv_malloc(sizeof(float) * n * dim);
            embedding_cpu(ref, table, ids, n, dim);
            qmatrix qt = {.type = QTYPE_F32, .rows = vocab, .cols = dim, .row_bytes = sizeof(float) * dim, .data = table};
            void *w = g.weight_upload(g.ctx, &qt);
            int *d_ids = up(&g, ids, sizeof ids);
            float *d_out = g.alloc(g.ctx, sizeof(float) * n * dim);
            g.embedding(g.ctx, d_out, w, d_ids, n, dim);
            down(&g, got, d_out, sizeof(float) * n * dim);
            char what[64];
            snprintf(what, sizeof what, "embedding %s dim %d", types[t], dim);
            check_floats(what, got, ref, (long)n * dim, 0, rtol[t]);
            g.weight_free(g.ctx, w), g.free(g.ctx, d_ids), g.free(g.ctx, d_out);
            free(table), free(ref), free(got);
        }
        backend_close(&g);
    }
    unsetenv("KVBENCH_CUDA_WEIGHTS");
}

static void test_rmsnorm(void)
{
    const int shapes[][2] = {{1, 64}, {7, 576}, {33, 4096}, {3, 5}, {2, 8192}};
    for (int s = 0; s < 5; s++) {
        int n = shapes[s][0], dim = shapes[s][1];
        long sz = (long)n * dim;
        float *x = rand_array(sz, 4), *w = rand_array(dim, 2), *ref = kv_malloc(sizeof(float) * sz);
        float *got = kv_malloc(sizeof(float) * sz);
        x[0] = 1e-3f; /* small and large magnitudes in one row */
        rmsnorm_cpu(ref, x, w, n, dim, 1e-5f);
        float *dx = up(&G, x, sizeof(float) * sz), *dw = up(&G, w, sizeof(float) * dim);
        float *dout = G.alloc(G.ctx, sizeof(float) * sz);
        G.rmsnorm(G.ctx, dout, dx, dw, n, dim, 1e-5f);
        down(&G, got, dout, sizeof(float) * sz);
        char what[64];
        snprintf(what, sizeof what, "rmsnorm %dx%d", n, dim);
        check_floats(what, got, ref, sz, RMS_ATOL, RMS_RTOL);
        G.rmsnorm(G.ctx, dx, dx, dw, n, dim, 1e-5f); /* in place */
        down(&G, got, dx, sizeof(float) * sz);
        snprintf(what, sizeof what, "rmsnorm in place %dx%d", n, dim);
        check_floats(what, got, ref, sz, RMS_ATOL, RMS_RTOL);
        G.free(G.ctx, dx), G.free(G.ctx, dw), G.free(G.ctx, dout);
        free(x), free(w), free(ref), free(got);
    }
}

static void test_rope(void)
{
    const int hds[] = {64, 128}, positions[] = {0, 1, 17, 8191, 131071};
    const int n = 5, heads = 4;
    for (int hi = 0; hi < 2; hi++) {
        for (int llama3 = 0; llama3 < 2; llama3++) {
            int hd = hds[hi];
            long sz = (long)n * heads * hd;
            float inv[128];
            rope_inv_freq(inv, hd, 500000.0, llama3, 8.0, 1.0, 4.0, 8192);
            float *x = rand_array(sz, 2), *ref = kv_malloc(sizeof(float) * sz), *got = kv_malloc(sizeof(float) * sz);
            memcpy(ref, x, sizeof(float) * sz);
            rope_cpu(ref, n, heads, hd, positions, inv);
            float *dx = up(&G, x, sizeof(float) * sz), *dinv = up(&G, inv, sizeof(float) * hd / 2);
            int *dpos = up(&G, positions, sizeof positions);
            G.rope(G.ctx, dx, n, heads, hd, dpos, dinv);
            down(&G, got, dx, sizeof(float) * sz);
            char what[64];
            snprintf(what, sizeof what, "rope hd %d llama3 %d", hd, llama3);
            check_floats(what, got, ref, sz, ROPE_ATOL, ROPE_RTOL);
            G.free(G.ctx, dx), G.free(G.ctx, dinv), G.free(G.ctx, dpos);
            free(x), free(ref), free(got);
        }
    }
}

static void test_elementwise(void)
{
    const long ns[] = {1, 1000, 100003};
    for (int s = 0; s < 3; s++) {
        long n = ns[s];
        float *g = rand_array(n, 8), *u = rand_array(n, 3), *ref = kv_malloc(sizeof(float) * n);
        float *got = kv_malloc(sizeof(float) * n);
        if (n > 2) g[1] = -100.0f, g[2] = 100.0f; /* expf overflow and saturation */
        swiglu_cpu(ref, g, u, n);
        float *dg = up(&G, g, sizeof(float) * n), *du = up(&G, u, sizeof(float) * n);
        float *dout = G.alloc(G.ctx, sizeof(float) * n);
        G.swiglu(G.ctx, dout, dg, du, n);
        down(&G, got, dout, sizeof(float) * n);
        char what[64];
        snprintf(what, sizeof what, "swiglu n %ld", n);
        check_floats(what, got, ref, n, ELEM_ATOL, ELEM_RTOL);
        memcpy(ref, g, sizeof(float) * n);
        add_cpu(ref, u, n);
        G.add(G.ctx, dg, du, n);
        down(&G, got, dg, sizeof(float) * n);
        snprintf(what, sizeof what, "add n %ld", n);
        check_floats(what, got, ref, n, 0, 0);
        G.free(G.ctx, dg), G.free(G.ctx, du), G.free(G.ctx, dout);
        free(g), free(u), free(ref), free(got);
    }
}

static void test_matmul(void)
{
    const char *types[] = {"bf16", "fp16", "fp32"};
    const double rtol[] = {MM_BF16_RTOL, MM_F16_RTOL, MM_F32_RTOL};
    const int shapes[][3] = {{1, 64, 1}, {3, 576, 1536}, {26, 1000, 333}, {257, 128, 64}};
    for (int t = 0; t < 3; t++) {
        setenv("KVBENCH_CUDA_WEIGHTS", types[t], 1);
        backend g;
        if (backend_open("cuda", 0, NULL, &g) != KV_OK) {
            CHECK(0, "open cuda with %s weights: %s", types[t], kv_lasterr());
            continue;
        }
        for (int s = 0; s < 4; s++) {
            int n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
            float *x = rand_array((long)n * in, 2), *w = rand_array((long)out * in, 0.5f);
            float *ref = kv_malloc(sizeof(float) * n * out), *got = kv_malloc(sizeof(float) * n * out);
            matmul_cpu(ref, x, w, n, in, out);
            qmatrix qw = {.type = QTYPE_F32, .rows = out, .cols = in, .row_bytes = sizeof(float) * in, .data = w};
            void *dw = g.weight_upload(g.ctx, &qw);
            float *dx = up(&g, x, sizeof(float) * n * in), *dout = g.alloc(g.ctx, sizeof(float) * n * out);
            g.matmul(g.ctx, dout, dx, dw, n, in, out);
            down(&g, got, dout, sizeof(float) * n * out);
            double worst = 0;
            int ok = 1;
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < out; j++) {
                    double bound = 0;
                    for (int kk = 0; kk < in; kk++) bound += fabs((double)x[(long)i * in + kk] * w[(long)j * in + kk]);
                    double e = fabs((double)got[(long)i * out + j] - ref[(long)i * out + j]);
                    if (!(e <= rtol[t] * bound)) ok = 0;
                    if (bound > 0 && e / bound > worst) worst = e / bound;
                }
            }
            CHECK(ok, "matmul %s %dx%d·%dx%d: worst |err|/Σ|xw| %.3g > %.1g", types[t], n, in, out, in, worst, rtol[t]);
            g.weight_free(g.ctx, dw), g.free(g.ctx, dx), g.free(g.ctx, dout);
            free(x), free(w), free(ref), free(got);
        }
        backend_close(&g);
    }
    unsetenv("KVBENCH_CUDA_WEIGHTS");
}

/* Both prefill kernels against the CPU: fp32 SIMT tightly, the tensor-core one in bf16 and in fp16
 * within their tolerances (head_dim 64 and 128 take the WMMA path, the others fall back to fp32). */
static void test_attention_prefill(void)
{
    const int shapes[][4] = {{1, 1, 1, 64}, {17, 4, 2, 64}, {100, 9, 3, 64}, {300, 8, 2, 128},
                             {70, 2, 1, 96}, {33, 4, 4, 256}, {65, 2, 2, 32}, {1000, 4, 1, 128}, {129, 3, 3, 64}};
    for (int s = 0; s < 9; s++) {
        int L = shapes[s][0], H = shapes[s][1], Hkv = shapes[s][2], hd = shapes[s][3];
        long qn = (long)L * H * hd, kn = (long)L * Hkv * hd;
        float *q = rand_array(qn, 2), *k = rand_array(kn, 2), *v = rand_array(kn, 1);
        float *ref = kv_malloc(sizeof(float) * qn), *got = kv_malloc(sizeof(float) * qn);
        float *lref = kv_malloc(sizeof(float) * H * L), *lgot = kv_malloc(sizeof(float) * H * L);
        attention_prefill_cpu(ref, lref, q, k, v, L, H, Hkv, hd);
        float *dq = up(&G, q, sizeof(float) * qn), *dk = up(&G, k, sizeof(float) * kn), *dv = up(&G, v, sizeof(float) * kn);
        float *dout = G.alloc(G.ctx, sizeof(float) * qn), *dl = G.alloc(G.ctx, sizeof(float) * H * L);
        for (int tc = 0; tc < 3; tc++) { /* 0: fp32 SIMT, 1: bf16 WMMA, 2: fp16 WMMA */
            if (tc) attention_prefill_tc_cuda(dout, dl, dq, dk, dv, L, H, Hkv, hd, tc == 2, G.stream);
            else attention_prefill_cuda(dout, dl, dq, dk, dv, L, H, Hkv, hd, G.stream);
            down(&G, got, dout, sizeof(float) * qn);
            down(&G, lgot, dl, sizeof(float) * H * L);
            int wmma = tc && (hd == 64 || hd == 128);
            char what[96];
            const char *kind = tc == 2 ? "_tc16" : tc ? "_tc" : "";
            const int f16 = wmma && tc == 2;
            snprintf(what, sizeof what, "attention_prefill%s L%d H%d Hkv%d hd%d out", kind, L, H, Hkv, hd);
            check_floats(what, got, ref, qn, f16 ? ATT_TC16_ATOL : wmma ? ATT_TC_ATOL : ATT_ATOL,
                         f16 ? ATT_TC16_RTOL : wmma ? ATT_TC_RTOL : ATT_RTOL);
            snprintf(what, sizeof what, "attention_prefill%s L%d H%d Hkv%d hd%d lse", kind, L, H, Hkv, hd);
            check_floats(what, lgot, lref, (long)H * L, f16 ? LSE_TC16_ATOL : wmma ? LSE_TC_ATOL : LSE_ATOL,
                         f16 ? LSE_TC16_RTOL : wmma ? LSE_TC_RTOL : LSE_RTOL);
        }
        G.free(G.ctx, dq), G.free(G.ctx, dk), G.free(G.ctx, dv), G.free(G.ctx, dout), G.free(G.ctx, dl);
        free(q), free(k), free(v), free(ref), free(got), free(lref), free(lgot);
    }
}

/* B sequences over one prompt of L tokens: sorted random views (some rows empty, some full) and
 * tails of 1..5 tokens. */
static void run_decode_case(int L, int B, int H, int Hkv, int hd, int cap, int count_on_device)
{
    const long ks = (long)Hkv * hd;
    float *kp = rand_array((long)L * ks, 2), *vp = rand_array((long)L * ks, 1);
    float *q = rand_array((long)B * H * hd, 2);
    float *dkp = up(&G, kp, sizeof(float) * L * ks), *dvp = up(&G, vp, sizeof(float) * L * ks);
    float *dq = up(&G, q, sizeof(float) * B * H * hd);
    decode_seq *hs = kv_calloc(B, sizeof *hs), *ds = kv_calloc(B, sizeof *ds);
    void **to_free = kv_calloc((size_t)B * 4, sizeof(void *));
    for (int b = 0; b < B; b++) {
        int *pos = kv_calloc((size_t)H * cap, sizeof(int)), *len = kv_calloc(H, sizeof(int));
        for (int h = 0; h < H; h++) {
            int want = h == 0 ? 0 : h == 1 ? cap : (int)(rnd() * (cap + 1)); /* empty, full, random */
            if (want > L) want = L;
            int m = 0;
            for (int j = 0; j < L && m < want; j++) /* selection sampling: sorted, distinct */
                if (rnd() * (L - j) < want - m) pos[(long)h * cap + m++] = j;
            len[h] = m;
        }
        int nt = 1 + (int)(rnd() * 5);
        float *kt = rand_array(nt * ks, 2), *vt = rand_array(nt * ks, 1);
        hs[b] = (decode_seq){kp, vp, pos, len, cap, kt, vt, nt, NULL, 0};
        ds[b] = (decode_seq){dkp, dvp, up(&G, pos, sizeof(int) * H * cap), up(&G, len, sizeof(int) * H), cap,
                             up(&G, kt, sizeof(float) * nt * ks), up(&G, vt, sizeof(float) * nt * ks), nt, NULL, 0};
        if (count_on_device) {
            /* as a captured decode step sees it: the length in device memory, n_tail a bound */
            ds[b].n_tail_at = up(&G, &nt, sizeof(int));
            ds[b].n_tail = nt + 7;
        }
        to_free[4 * b] = (void *)ds[b].pos, to_free[4 * b + 1] = (void *)ds[b].len;
        to_free[4 * b + 2] = (void *)ds[b].k_tail, to_free[4 * b + 3] = (void *)ds[b].v_tail;
    }
    long on = (long)B * H * hd;
    float *ref = kv_malloc(sizeof(float) * on), *got = kv_malloc(sizeof(float) * on);
    decode_attention_cpu(ref, q, hs, B, H, Hkv, hd);
    float *dout = G.alloc(G.ctx, sizeof(float) * on);
    G.decode_attention(G.ctx, dout, dq, ds, B, H, Hkv, hd);
    down(&G, got, dout, sizeof(float) * on);
    char what[80];
    snprintf(what, sizeof what, "decode_attention L%d B%d H%d Hkv%d hd%d cap%d", L, B, H, Hkv, hd, cap);
    check_floats(what, got, ref, on, DEC_ATOL, DEC_RTOL);
    for (int b = 0; b < B; b++) {
        free((void *)hs[b].pos), free((void *)hs[b].len), free((void *)hs[b].k_tail), free((void *)hs[b].v_tail);
        for (int t = 0; t < 4; t++) G.free(G.ctx, to_free[4 * b + t]);
        if (ds[b].n_tail_at) G.free(G.ctx, (void *)ds[b].n_tail_at);
    }
    G.free(G.ctx, dkp), G.free(G.ctx, dvp), G.free(G.ctx, dq), G.free(G.ctx, dout);
    free(kp), free(vp), free(q), free(hs), free(ds), free(to_free), free(ref), free(got);
}

static void test_decode_attention(void)
{
    for (int dev_count = 0; dev_count < 2; dev_count++) {
        run_decode_case(50, 3, 4, 2, 64, 20, dev_count);
        run_decode_case(200, 40, 3, 1, 128, 200, dev_count); /* more sequences than one launch holds */
        run_decode_case(3000, 2, 8, 2, 128, 3000, dev_count); /* long views: many key splits */
        run_decode_case(20, 1, 2, 2, 96, 7, dev_count);
    }
}

/* The tail store writes row b into slot (count - 1) of sequence b's tail and nothing else, with
 * the count read from device memory; 40 sequences span two launches. */
static void test_tail_store(void)
{
    enum { B = 40, KD = 96, CAP = 6 };
    float *kn = rand_array((long)B * KD, 1), *vn = rand_array((long)B * KD, 1);
    float *dkn = up(&G, kn, sizeof(float) * B * KD), *dvn = up(&G, vn, sizeof(float) * B * KD);
    decode_seq hs[B], ds[B];
    int counts[B];
    float *dk[B], *dv[B];
    memset(hs, 0, sizeof hs), memset(ds, 0, sizeof ds);
    int *dcounts = G.alloc(G.ctx, sizeof counts);
    for (int b = 0; b < B; b++) counts[b] = 1 + b % CAP;
    G.to_device(G.ctx, dcounts, counts, sizeof counts);
    float *zero = kv_calloc((size_t)CAP * KD, sizeof(float));
    for (int b = 0; b < B; b++) {
        hs[b].k_tail = kv_calloc((size_t)CAP * KD, sizeof(float)), hs[b].v_tail = kv_calloc((size_t)CAP * KD, sizeof(float));
        hs[b].n_tail = counts[b];
        dk[b] = up(&G, zero, sizeof(float) * CAP * KD), dv[b] = up(&G, zero, sizeof(float) * CAP * KD);
        ds[b] = (decode_seq){.k_tail = dk[b], .v_tail = dv[b], .n_tail = CAP, .n_tail_at = dcounts + b};
    }
    decode_tail_store_cpu(hs, B, kn, vn, KD);
    G.tail_store(G.ctx, ds, B, dkn, dvn, KD);
    float *got = kv_malloc(sizeof(float) * CAP * KD);
    int ok = 1;
    for (int b = 0; b < B; b++) {
        down(&G, got, dk[b], sizeof(float) * CAP * KD);
        ok &= !memcmp(got, hs[b].k_tail, sizeof(float) * CAP * KD);
        down(&G, got, dv[b], sizeof(float) * CAP * KD);
        ok &= !memcmp(got, hs[b].v_tail, sizeof(float) * CAP * KD);
        free(hs[b].k_tail), free(hs[b].v_tail);
        G.free(G.ctx, dk[b]), G.free(G.ctx, dv[b]);
    }
    CHECK(ok, "decode tail store (40 sequences, counts from device memory) equals the CPU twin exactly");
    G.free(G.ctx, dcounts), G.free(G.ctx, dkn), G.free(G.ctx, dvn);
    free(kn), free(vn), free(zero), free(got);
}

static void test_argmax(void)
{
    const int ns[] = {1, 7, 49152};
    for (int s = 0; s < 3; s++) {
        int n = ns[s], rows = 5;
        float *x = rand_array((long)rows * n, 10);
        if (n > 5) {
            x[3] = x[5] = 100.0f;                          /* row 0: tie, the lower index wins */
            for (int i = 0; i < n; i++) x[n + i] = -2.0f;  /* row 1: all equal → 0 */
            x[2 * n + 0] = -INFINITY, x[2 * n + n - 1] = 50.0f; /* row 2: the max at the end */
        }
        int ref[5], got[5];
        argmax_cpu(ref, x, rows, n);
        float *dx = up(&G, x, sizeof(float) * rows * n);
        G.argmax(G.ctx, got, dx, rows, n);
        int ok = !memcmp(ref, got, sizeof ref);
        CHECK(ok, "argmax n %d: rows {%d %d %d %d %d} vs CPU {%d %d %d %d %d}", n, got[0], got[1], got[2], got[3],
              got[4], ref[0], ref[1], ref[2], ref[3], ref[4]);
        G.free(G.ctx, dx);
        free(x);
    }
}

static void test_window_h2o(void)
{
    const int shapes[][5] = {{50, 8, 4, 2, 64}, {300, 32, 3, 1, 128}, {16, 16, 2, 2, 96}, {129, 1, 2, 1, 64}};
    for (int s = 0; s < 4; s++) {
        int L = shapes[s][0], W = shapes[s][1], H = shapes[s][2], Hkv = shapes[s][3], hd = shapes[s][4];
        long qn = (long)L * H * hd, kn = (long)L * Hkv * hd;
        float *q = rand_array(qn, 2), *k = rand_array(kn, 2), *v = rand_array(kn, 1);
        float *att = kv_malloc(sizeof(float) * qn), *lse = kv_malloc(sizeof(float) * H * L);
        attention_prefill_cpu(att, lse, q, k, v, L, H, Hkv, hd);
        float *dq = up(&G, q, sizeof(float) * qn), *dk = up(&G, k, sizeof(float) * kn);
        float *dlse = up(&G, lse, sizeof(float) * H * L);
        long wn = (long)H * W * L;
        float *ref = kv_malloc(sizeof(float) * wn), *got = kv_malloc(sizeof(float) * wn);
        float *dout = G.alloc(G.ctx, sizeof(float) * wn);
        char what[96];
        for (int fp16 = 0; fp16 < 2; fp16++) {
            window_softmax_cpu(ref, q, k, L, H, Hkv, hd, W, fp16);
            window_softmax_cuda(dout, dq, dk, L, H, Hkv, hd, W, fp16, G.stream);
            down(&G, got, dout, sizeof(float) * wn);
            snprintf(what, sizeof what, "window_softmax L%d W%d H%d Hkv%d hd%d fp16 %d", L, W, H, Hkv, hd, fp16);
            check_floats(what, got, ref, wn, fp16 ? WIN16_ATOL : WIN_ATOL, fp16 ? WIN16_RTOL : WIN_RTOL);
        }
        long cn = (long)H * (L - W);
        for (int mode = 0; mode < 3 && cn > 0; mode++) {
            for (int fp16 = 0; fp16 < 2; fp16++) {
                h2o_colsum_cpu(ref, q, k, lse, L, H, Hkv, hd, W, (h2o_mode)mode, fp16);
                h2o_colsum_cuda(dout, dq, dk, dlse, L, H, Hkv, hd, W, (h2o_mode)mode, fp16, G.stream);
                down(&G, got, dout, sizeof(float) * cn);
                snprintf(what, sizeof what, "h2o_colsum L%d W%d H%d hd%d mode %d fp16 %d", L, W, H, hd, mode, fp16);
                check_floats(what, got, ref, cn, fp16 ? H2O16_ATOL : H2O_ATOL, fp16 ? H2O16_RTOL : H2O_RTOL);
            }
        }
        /* The engine hands h2o_colsum the device prefill's LSE, which with bf16 weights comes from
         * the tensor-core attention (bf16-rounded q·k, LSE_TC tolerances away from the CPU's). The
         * column sums must still be the CPU's within the fp32 H2O tolerances: their statistics come
         * from one precision (issue 13), not the TC LSE mixed with fp32 logits. */
        if (cn > 0 && (hd == 64 || hd == 128)) {
            float *dv = up(&G, v, sizeof(float) * kn), *datt = G.alloc(G.ctx, sizeof(float) * qn);
            float *dl_tc = G.alloc(G.ctx, sizeof(float) * H * L);
            attention_prefill_tc_cuda(datt, dl_tc, dq, dk, dv, L, H, Hkv, hd, 0, G.stream);
            h2o_colsum_cpu(ref, q, k, lse, L, H, Hkv, hd, W, H2O_CAUSAL, 0);
            h2o_colsum_cuda(dout, dq, dk, dl_tc, L, H, Hkv, hd, W, H2O_CAUSAL, 0, G.stream);
            down(&G, got, dout, sizeof(float) * cn);
            snprintf(what, sizeof what, "h2o_colsum L%d W%d H%d hd%d causal, LSE of the tensor-core prefill", L, W, H, hd);
            check_floats(what, got, ref, cn, H2O_ATOL, H2O_RTOL);
            G.free(G.ctx, dv), G.free(G.ctx, datt), G.free(G.ctx, dl_tc);
        }
        G.free(G.ctx, dq), G.free(G.ctx, dk), G.free(G.ctx, dlse), G.free(G.ctx, dout);
        free(q), free(k), free(v), free(att), free(lse), free(ref), free(got);
    }
}

static void test_pool(void)
{
    const int ns[] = {1, 2, 5, 100}, ks[] = {1, 3, 4, 7};
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 4; b++) {
            int n = ns[a], k = ks[b];
            float *x = rand_array(n, 5), ref[100], got[100];
            float *dx = up(&G, x, sizeof(float) * n), *dout = G.alloc(G.ctx, sizeof(float) * n);
            pool1d_max_cpu(ref, x, n, k);
            pool1d_max_cuda(dout, dx, n, k, G.stream);
            down(&G, got, dout, sizeof(float) * n);
            char what[64];
            snprintf(what, sizeof what, "pool1d_max n %d k %d", n, k);
            check_floats(what, got, ref, n, 0, 0);
            pool1d_avg_cpu(ref, x, n, k);
            pool1d_avg_cuda(dout, dx, n, k, G.stream);
            down(&G, got, dout, sizeof(float) * n);
            snprintf(what, sizeof what, "pool1d_avg n %d k %d", n, k);
            check_floats(what, got, ref, n, 0, POOL_AVG_RTOL);
            G.free(G.ctx, dx), G.free(G.ctx, dout);
            free(x);
        }
    }
}

static int cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Top-k as sets with ties by value: the multisets of selected scores must be equal (any choice
 * among equal scores is the same set by value); the lowest-position rule then fixes positions. */
static void run_topk_case(const float *score, int n, int k, const char *label)
{
    int *ref = kv_malloc(sizeof(int) * (n + 1)), *got = kv_malloc(sizeof(int) * (n + 1));
    float *scratch = kv_malloc(sizeof(float) * (n + 1));
    int nr = topk_lowest_cpu(ref, score, n, k, scratch);
    float *ds = up(&G, score, sizeof(float) * n);
    int *dout = G.alloc(G.ctx, sizeof(int) * (n + 1));
    int ng = topk_lowest_cuda(dout, ds, n, k, NULL, G.stream);
    if (ng > 0) down(&G, got, dout, sizeof(int) * ng);
    CHECK(ng == nr, "topk %s n %d k %d: count %d vs CPU %d", label, n, k, ng, nr);
    if (ng == nr) {
        float *vr = kv_malloc(sizeof(float) * (nr + 1)), *vg = kv_malloc(sizeof(float) * (nr + 1));
        int in_range = 1;
        for (int i = 0; i < nr; i++) {
            vr[i] = score[ref[i]];
            if (got[i] < 0 || got[i] >= n) in_range = 0;
            vg[i] = in_range ? score[got[i]] : NAN;
        }
        qsort(vr, nr, sizeof(float), cmp_float_desc);
        qsort(vg, nr, sizeof(float), cmp_float_desc);
        int same_values = in_range;
        for (int i = 0; i < nr && same_values; i++) same_values = vr[i] == vg[i];
        CHECK(same_values, "topk %s n %d k %d: selected scores differ as a set", label, n, k);
        CHECK(!memcmp(ref, got, sizeof(int) * nr), "topk %s n %d k %d: positions differ (lowest-position ties)",
              label, n, k);
        free(vr), free(vg);
    }
    G.free(G.ctx, ds), G.free(G.ctx, dout);
    free(ref), free(got), free(scratch);
}

static void test_topk(void)
{
    const int ns[] = {1, 10, 1000, 70000};
    for (int a = 0; a < 4; a++) {
        int n = ns[a];
        float *score = kv_malloc(sizeof(float) * n);
        for (int i = 0; i < n; i++) score[i] = roundf(rnd_sym(8) * 4) / 4; /* a coarse grid: many ties */
        const int ks[] = {0, 1, 5, n / 2, n - 1, n, n + 3};
        for (int b = 0; b < 7; b++) run_topk_case(score, n, ks[b], "ties");
        for (int i = 0; i < n; i++) score[i] = rnd_sym(1); /* distinct */
        run_topk_case(score, n, n / 3 + 1, "distinct");
        for (int i = 0; i < n; i++) score[i] = (i & 1) ? 0.0f : -0.0f; /* +0 and -0 tie */
        run_topk_case(score, n, n / 2 + (n > 1), "signed zeros");
        for (int i = 0; i < n; i++) score[i] = i % 3 == 0 ? -INFINITY : (float)(i % 5); /* -inf entries */
        run_topk_case(score, n, n / 2 + 1, "-inf");
        free(score);
    }
}

static void run_neumann_case(int N, int W, int s, int K, double gamma)
{
    float *a = kv_malloc(sizeof(float) * W * N);
    for (long i = 0; i < (long)W * N; i++) a[i] = (float)rnd() * (rnd() < 0.2 ? 1.0f : 0.01f);
    circuit_chain cq, ch;
    circuit_chain_init(&cq, a, NULL, N, W, s);
    for (long i = 0; i < (long)W * N; i++) a[i] = (float)rnd();
    circuit_chain_init(&ch, a, NULL, N, W, s);
    double *qr = kv_malloc(sizeof(double) * N), *hr = kv_malloc(sizeof(double) * N);
    double *qg = kv_malloc(sizeof(double) * N), *hg = kv_malloc(sizeof(double) * N);
    int steps_ref = circuit_neumann_cpu(qr, hr, &cq, &ch, K, gamma);
    const int P = N - W;
    circuit_chain dq = cq, dh = ch;
    dq.win = up(&G, cq.win, sizeof(double) * W * N), dq.h = up(&G, cq.h, sizeof(double) * P);
    dq.cum = up(&G, cq.cum, sizeof(double) * P);
    dh.win = up(&G, ch.win, sizeof(double) * W * N), dh.h = up(&G, ch.h, sizeof(double) * P);
    dh.cum = up(&G, ch.cum, sizeof(double) * P);
    double *dqi = G.alloc(G.ctx, sizeof(double) * N), *dhi = G.alloc(G.ctx, sizeof(double) * N);
    int steps = circuit_neumann_cuda(dqi, dhi, &dq, &dh, K, gamma, G.stream);
    down(&G, qg, dqi, sizeof(double) * N);
    down(&G, hg, dhi, sizeof(double) * N);
    CHECK(steps == steps_ref, "neumann N %d W %d s %d K %d: %d steps vs CPU %d", N, W, s, K, steps, steps_ref);
    int ok = 1;
    double worst = 0;
    for (int j = 0; j < N; j++) {
        if (!check_close(qg[j], qr[j], NEU_ATOL, NEU_RTOL) || !check_close(hg[j], hr[j], NEU_ATOL, NEU_RTOL)) ok = 0;
        worst = fmax(worst, fmax(fabs(qg[j] - qr[j]), fabs(hg[j] - hr[j])));
    }
    CHECK(ok, "neumann N %d W %d s %d K %d: max |err| %.3g", N, W, s, K, worst);
    G.free(G.ctx, dq.win), G.free(G.ctx, dq.h), G.free(G.ctx, dq.cum);
    G.free(G.ctx, dh.win), G.free(G.ctx, dh.h), G.free(G.ctx, dh.cum);
    G.free(G.ctx, dqi), G.free(G.ctx, dhi);
    circuit_chain_free(&cq), circuit_chain_free(&ch);
    free(a), free(qr), free(hr), free(qg), free(hg);
}

static void test_neumann(void)
{
    run_neumann_case(200, 16, 4, 50, 0.9);
    run_neumann_case(3000, 64, 4, 20, 0.99);
    run_neumann_case(40, 8, 1, 1000, 0.5); /* stops early */
    run_neumann_case(2100, 32, 0, 10, 1.0); /* no sinks, more prefix rows than threads */
}

/* Scratch buffers replaced while a CUDA graph may point at them wait per stream (issue 13): stream
 * A grows a scratch slot during a capture, then stream B (another backend) allocates outside any
 * capture — which must not free A's waiting buffer (one global list did) — and A's graph replays
 * with the right results; the buffer is freed when the capture after the next one begins. */
static void test_scratch_streams(void)
{
    backend A, B;
    if (backend_open("cuda", 0, NULL, &A) != KV_OK || backend_open("cuda", 0, NULL, &B) != KV_OK) {
        CHECK(0, "open two CUDA backends: %s", kv_lasterr());
        return;
    }
    const int Ls = 40, L = 400, W = 8, H = 2, Hkv = 1, hd = 64;
    long qn = (long)L * H * hd, kn = (long)L * Hkv * hd, cn = (long)H * (L - W);
    float *q = rand_array(qn, 2), *k = rand_array(kn, 2), *ref = kv_malloc(sizeof(float) * cn);
    float *got = kv_malloc(sizeof(float) * cn);
    float *qa = up(&A, q, sizeof(float) * qn), *ka = up(&A, k, sizeof(float) * kn), *oa = A.alloc(A.ctx, sizeof(float) * cn);
    float *qb = up(&B, q, sizeof(float) * qn), *kb = up(&B, k, sizeof(float) * kn), *ob = B.alloc(B.ctx, sizeof(float) * cn);
    A.sync(A.ctx), B.sync(B.ctx);
    h2o_colsum_cpu(ref, q, k, NULL, L, H, Hkv, hd, W, H2O_PREFIX, 0);
    A.graph_begin(A.ctx);
    h2o_colsum_cuda(oa, qa, ka, NULL, Ls, H, Hkv, hd, W, H2O_PREFIX, 0, A.stream); /* row stats for 40 rows */
    h2o_colsum_cuda(oa, qa, ka, NULL, L, H, Hkv, hd, W, H2O_PREFIX, 0, A.stream);  /* grows: 40's buffer waits */
    A.graph_end(A.ctx);
    A.sync(A.ctx);
    CHECK(cuda_scratch_waiting(A.stream) == 1, "stream A: the buffer replaced in its capture waits (%d waiting)",
          cuda_scratch_waiting(A.stream));
    h2o_colsum_cuda(ob, qb, kb, NULL, L, H, Hkv, hd, W, H2O_PREFIX, 0, B.stream); /* B allocates, no capture */
    B.sync(B.ctx);
    CHECK(cuda_scratch_waiting(A.stream) == 1, "stream B's allocation left stream A's waiting buffer alone (%d)",
          cuda_scratch_waiting(A.stream));
    A.graph_replay(A.ctx);
    down(&A, got, oa, sizeof(float) * cn);
    check_floats("h2o_colsum prefix, replayed graph after another stream's scratch growth", got, ref, cn, H2O_ATOL,
                 H2O_RTOL);
    for (int capture = 2; capture <= 3; capture++) { /* no growth now; capture 3's begin frees capture 1's */
        A.graph_begin(A.ctx);
        h2o_colsum_cuda(oa, qa, ka, NULL, L, H, Hkv, hd, W, H2O_PREFIX, 0, A.stream);
        A.graph_end(A.ctx);
        A.sync(A.ctx);
        CHECK(cuda_scratch_waiting(A.stream) == (capture == 2), "after capture %d: %d buffers waiting", capture,
              cuda_scratch_waiting(A.stream));
    }
    down(&A, got, oa, sizeof(float) * cn);
    check_floats("h2o_colsum prefix, third capture", got, ref, cn, H2O_ATOL, H2O_RTOL);
    A.free(A.ctx, qa), A.free(A.ctx, ka), A.free(A.ctx, oa), B.free(B.ctx, qb), B.free(B.ctx, kb), B.free(B.ctx, ob);
    backend_close(&A), backend_close(&B);
    free(q), free(k), free(ref), free(got);
}

/* to_device between graph_begin and graph_end is refused with a clear error (engine/backend.h): a
 * recorded copy would replay the capture's bytes. Run in a child (kv_die exits), the capture open. */
static void test_to_device_in_capture(void)
{
    float host[4] = {1, 2, 3, 4};
    float *d = G.alloc(G.ctx, sizeof host);
    G.to_device(G.ctx, d, host, sizeof host);
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    fflush(stdout), fflush(stderr);
    G.graph_begin(G.ctx);
    G.add(G.ctx, d, d, 4);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20); /* a CUDA runtime confused by the fork must not hang the test */
        dup2(fds[1], 2);
        G.to_device(G.ctx, d, host, sizeof host);
        _exit(0);
    }
    close(fds[1]);
    char msg[512] = "";
    ssize_t n, got = 0;
    while (got < (ssize_t)sizeof msg - 1 && (n = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0) got += n;
    msg[got] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    G.graph_end(G.ctx);
    G.sync(G.ctx);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(msg, "to_device inside a CUDA graph capture"),
          "to_device during a capture: exit 1 with a clear error (status %d: %s)", status, msg);
    G.free(G.ctx, d);
}

int main(void)
{
    if (backend_open("cuda", 0, NULL, &G) != KV_OK) {
        printf("test_cuda_kernels: skipped, no CUDA device (%s)\n", kv_lasterr());
        return 0;
    }
    backend_cpu_open(0, &C);
    printf("test_cuda_kernels: %s vs %s\n", G.device, C.device);
    test_embedding();
    test_rmsnorm();
    test_rope();
    test_elementwise();
    test_matmul();
    test_attention_prefill();
    test_decode_attention();
    test_tail_store();
    test_argmax();
    test_window_h2o();
    test_pool();
    test_topk();
    test_neumann();
    test_scratch_streams();
    test_to_device_in_capture();
    backend_close(&G);
    backend_close(&C);
    return check_report("test_cuda_kernels");
}
