/* test_qweights: weights in their storage format (issue 15). The fused dequantize-dot kernels of
 * kernels/qmatmul.h — every format, every ISA version this CPU runs (the portable C one always) —
 * against dequantize-then-dot in double; the fp32 dequantization of whole matrices bit for bit;
 * the conversions at load; and the engine on the demo model held as stored (Q4_1), bf16 and q8_0
 * against the fp32 oracle: last-position logits within named tolerances and FullKV greedy tokens. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/model.h"
#include "util/util.h"
#include "kernels/qmatmul.h"
#include "kernels/scoring.h"
#include "tests/check.h"

#define DEMO_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"
/* A fused dot over K terms in fp32 against the exact (double) dot of the same dequantized weights:
 * the error of a length-K fp32 sum is bounded by ~K·eps·Σ|w·x|; 8-32 partial sums make it far
 * smaller in practice. Relative to Σ|w·x|. */
#define TOL_QMM_REL_SUMABS 2e-6
/* Engine logits (O(10-30)) of the demo model vs the fp32 oracle. As stored = the same dequantized
 * values, only the summation order differs (30 layers); bf16 rounds every weight to 8 bits of
 * mantissa; q8_0 re-quantizes Q4_1 weights to 8 bits per 32-block. */
#define TOL_LOGITS_AS_STORED 2e-3
#define TOL_LOGITS_BF16 0.5
#define TOL_LOGITS_Q8_0 0.5
/* Logits through an lm_head with the final hidden state rounded to 8 bits per 32-value block (each
 * value off by at most its block's max|x|/254; the kernel test checks that bound): the demo prompt's
 * logits (largest |logit| 15.6) move by up to 0.64. */
#define TOL_LOGITS_Q8_ACTS 1.0
#define GREEDY_STEPS 32

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float rng_f(void) { return (float)rng_u32() / 4294967296.0f * 2.0f - 1.0f; } /* [-1, 1) */

/* A random matrix of a format: float types and Q8_0 through the quantizer, Q4_0/Q4_1 as random
 * blocks (random nibbles, scale and min). The caller frees data. */
static qmatrix random_matrix(int type, int64_t rows, int64_t cols)
{
    qmatrix w = {.type = type, .rows = rows, .cols = cols, .row_bytes = qtype_row_bytes(type, cols)};
    w.data = kv_malloc(w.row_bytes * rows);
    float *tmp = kv_malloc(sizeof(float) * cols);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = (uint8_t *)w.data + r * w.row_bytes;
        if (type == QTYPE_Q4_0 || type == QTYPE_Q4_1) {
            size_t bb = type == QTYPE_Q4_0 ? 18 : 20;
            for (int64_t b = 0; b < cols / 32; b++) {
                uint8_t *blk = row + b * bb;
                uint16_t d = half_from_float(0.01f + 0.05f * fabsf(rng_f())), m = half_from_float(-0.4f * fabsf(rng_f()));
                memcpy(blk, &d, 2);
                if (type == QTYPE_Q4_1) memcpy(blk + 2, &m, 2);
                for (size_t j = bb - 16; j < bb; j++) blk[j] = (uint8_t)rng_u32();
            }
        } else {
            for (int64_t c = 0; c < cols; c++) tmp[c] = rng_f() * 0.5f;
            qtype_quantize_row(type, tmp, row, cols);
        }
    }
    free(tmp);
    return w;
}

/* Each row of an n-row product (n >= 2) has the bits it has in a product of two rows (the row and the
 * next): how a batch is cut into groups or tiles does not change a row's sums, and no row of a batch
 * is summed as a row alone. */
static void check_grouping(int isa, const qmatrix *w, const float *x, int n, const float *out)
{
    const int64_t rows = w->rows, cols = w->cols;
    float *x2 = kv_malloc(sizeof(float) * 2 * cols), *o2 = kv_malloc(sizeof(float) * 2 * rows);
    int same = 1;
    for (int r = 0; r < n; r++) {
        memcpy(x2, x + r * cols, sizeof(float) * cols);
        memcpy(x2 + cols, x + ((r + 1) % n) * cols, sizeof(float) * cols);
        qmatmul_fused_cpu(isa, o2, x2, w, 2);
        same &= !memcmp(o2, out + r * rows, sizeof(float) * rows);
    }
    CHECK(same, "%s %s %lldx%lld n=%d: every row bit-identical to its row in a 2-row product", qtype_name(w->type),
          qmm_isa_name(isa), (long long)rows, (long long)cols, n);
    free(x2), free(o2);
}

static void test_kernels(void)
{
    static const int64_t shapes[][2] = {{37, 64}, {200, 576}, {5, 1536}, {130, 100}, {17, 8}, {9, 96}}; /* 96: an odd number of blocks */
    static const int ns[] = {1, 2, 3, 5, 26, 33, 64};
    for (int type = 0; type < QTYPE_COUNT; type++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int64_t rows = shapes[s][0], cols = shapes[s][1];
            if (qtype_is_block(type) && cols % 32) continue;
            qmatrix w = random_matrix(type, rows, cols);
            float *deq = kv_malloc(sizeof(float) * rows * cols);
            for (int64_t r = 0; r < rows; r++)
                qtype_dequant_row(type, (uint8_t *)w.data + r * w.row_bytes, deq + r * cols, cols);
            for (int isa = 0; isa < QMM_ISA_COUNT; isa++) {
                if (!qmm_isa_available(isa)) continue;
                float *whole = kv_malloc(sizeof(float) * rows * cols);
                qmatrix_dequant_cpu(isa, &w, whole);
                CHECK(!memcmp(whole, deq, sizeof(float) * rows * cols), "%s %s: dequantized matrix bit-identical",
                      qtype_name(type), qmm_isa_name(isa));
                free(whole);
            }
            for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
                int n = ns[k];
                float *x = kv_malloc(sizeof(float) * n * cols), *out = kv_malloc(sizeof(float) * n * rows);
                double *ref = kv_malloc(sizeof(double) * n * rows), *mag = kv_malloc(sizeof(double) * n * rows);
                for (int64_t i = 0; i < n * cols; i++) x[i] = rng_f();
                for (int r = 0; r < n; r++)
                    for (int64_t o = 0; o < rows; o++) {
                        double acc = 0, m = 0;
                        for (int64_t c = 0; c < cols; c++) {
                            double p = (double)deq[o * cols + c] * x[r * cols + c];
                            acc += p, m += fabs(p);
                        }
                        ref[r * rows + o] = acc, mag[r * rows + o] = m > 0 ? m : 1;
                    }
                for (int isa = 0; isa < QMM_ISA_COUNT; isa++) {
                    if (!qmm_isa_available(isa)) continue;
                    qmatmul_fused_cpu(isa, out, x, &w, n);
                    double worst = 0;
                    int ok = 1;
                    for (int64_t i = 0; i < n * rows; i++) {
                        double err = fabs(out[i] - ref[i]) / mag[i];
                        if (!(err <= TOL_QMM_REL_SUMABS)) ok = 0;
                        if (err > worst || isnan(err)) worst = err;
                    }
                    CHECK(ok, "%s %s %lldx%lld n=%d: max error %.3g of sum|w x| (tolerance %g)", qtype_name(type),
                          qmm_isa_name(isa), (long long)rows, (long long)cols, n, worst, TOL_QMM_REL_SUMABS);
                    if (n >= 5) check_grouping(isa, &w, x, n, out);
                }
                free(x), free(out), free(ref), free(mag);
            }
            free(deq), free(w.data);
        }
    for (int isa = 0; isa < QMM_ISA_COUNT; isa++)
        printf("ok kernels %s: %s\n", qmm_isa_name(isa), qmm_isa_available(isa) ? "tested" : "not on this CPU");
}

static void test_conversions(void)
{
    /* bf16: round to nearest even */
    CHECK(qtype_f32_to_bf16(1.0f) == 0x3f80, "bf16(1)");
    CHECK(qtype_f32_to_bf16(1.00390625f) == 0x3f80, "bf16 tie to even (down)");
    CHECK(qtype_f32_to_bf16(1.01171875f) == 0x3f82, "bf16 tie to even (up)");
    CHECK(isnan(qtype_bf16_to_f32(qtype_f32_to_bf16(NAN))), "bf16 NaN stays NaN");
    /* q8_0: each weight within half a step of d = amax/127 */
    float x[64], y[64];
    uint8_t q[68];
    for (int i = 0; i < 64; i++) x[i] = rng_f() * (i < 32 ? 1.0f : 1e-3f);
    qtype_quantize_row(QTYPE_Q8_0, x, q, 64);
    qtype_dequant_row(QTYPE_Q8_0, q, y, 64);
    int ok = 1;
    for (int b = 0; b < 2; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        for (int j = 0; j < 32; j++) ok &= fabsf(y[b * 32 + j] - x[b * 32 + j]) <= 0.5f * amax / 127 * 1.01f + 1e-7f;
    }
    CHECK(ok, "q8_0 round trip within half a step");
    CHECK(qtype_row_bytes(QTYPE_Q4_1, 576) == 18 * 20 && qtype_row_bytes(QTYPE_Q8_0, 33) == 0, "row bytes");
}

/* The demo file as stored: every matrix dequantizes to exactly the fp32 load (the loader's
 * un-permutation of q/k rows and the block copies are right), bf16/q8_0 conversions are the
 * rounding of the fp32 load, and a tensor-parallel rank keeps its Q4_1 column slices as blocks. */
static void test_load_formats(void)
{
    model f, a, b;
    if (model_load_as(DEMO_MODEL, NULL, MODEL_WEIGHTS_F32, &f) != KV_OK ||
        model_load_as(DEMO_MODEL, NULL, MODEL_WEIGHTS_AS_STORED, &a) != KV_OK ||
        model_load_as(DEMO_MODEL, NULL, MODEL_WEIGHTS_BF16, &b) != KV_OK) {
        CHECK(0, "demo loads: %s", kv_lasterr());
        return;
    }
    int L = f.cfg.n_layers, same = 1, rounded = 1, n_q41 = 0;
    for (int i = -1; i < 7 * L; i++) {
        const qmatrix *mf = i < 0 ? &f.w.tok_embeddings : &f.w.layer_mats[i];
        const qmatrix *ma = i < 0 ? &a.w.tok_embeddings : &a.w.layer_mats[i];
        const qmatrix *mb = i < 0 ? &b.w.tok_embeddings : &b.w.layer_mats[i];
        n_q41 += ma->type == QTYPE_Q4_1;
        float *row = kv_malloc(sizeof(float) * mf->cols);
        for (int64_t r = 0; r < mf->rows; r++) {
            const float *ref = (const float *)mf->data + r * mf->cols;
            qtype_dequant_row(ma->type, (uint8_t *)ma->data + r * ma->row_bytes, row, ma->cols);
            same &= !memcmp(row, ref, sizeof(float) * mf->cols);
            const uint16_t *h = (const uint16_t *)((uint8_t *)mb->data + r * mb->row_bytes);
            for (int64_t c = 0; c < mf->cols; c++) rounded &= h[c] == qtype_f32_to_bf16(ref[c]);
        }
        free(row);
    }
    CHECK(same, "as-stored matrices dequantize to the fp32 load exactly");
    CHECK(rounded, "bf16 load = fp32 load rounded to nearest even");
    CHECK(n_q41 > 0 && a.w.arena_bytes < f.w.arena_bytes / 4, "as stored: %d Q4_1 matrices, %zu bytes vs %zu fp32",
          n_q41, a.w.arena_bytes, f.w.arena_bytes);
    printf("ok demo weights: fp32 %.1f MB, as stored %.1f MB, bf16 %.1f MB\n", f.w.arena_bytes / 1e6,
           a.w.arena_bytes / 1e6, b.w.arena_bytes / 1e6);
    /* tp 3 rank 1: o_proj's columns [192, 384) are 6 whole blocks of each Q4_1 row */
    model s;
    model_shard sh = {3, 1};
    if (model_load_as(DEMO_MODEL, &sh, MODEL_WEIGHTS_AS_STORED, &s) == KV_OK) {
        const qmatrix *so = &s.w.wo[4], *ao = &a.w.wo[4];
        int ok = so->type == ao->type && so->cols == 192;
        for (int64_t r = 0; r < so->rows && ok; r++)
            ok &= !memcmp((uint8_t *)so->data + r * so->row_bytes,
                          (uint8_t *)ao->data + r * ao->row_bytes + qtype_row_bytes(ao->type, 192), so->row_bytes);
        CHECK(ok, "tp 3 rank 1: o_proj kept as %s blocks, the slice of the full load", qtype_name(so->type));
        model_free(&s);
    } else {
        CHECK(0, "tp load: %s", kv_lasterr());
    }
    model_free(&f), model_free(&a), model_free(&b);
    /* random bf16 = random fp32 rounded */
    model rf, rb;
    if (model_init_random_as("smollm2-135m", 7, NULL, MODEL_WEIGHTS_F32, &rf) == KV_OK &&
        model_init_random_as("smollm2-135m", 7, NULL, MODEL_WEIGHTS_BF16, &rb) == KV_OK) {
        int ok = rb.w.w_down[3].type == QTYPE_BF16;
        const float *ref = rf.w.w_down[3].data;
        const uint16_t *h = rb.w.w_down[3].data;
        for (int64_t i = 0; i < rf.w.w_down[3].rows * rf.w.w_down[3].cols && ok; i++) ok &= h[i] == qtype_f32_to_bf16(ref[i]);
        CHECK(ok, "random bf16 weights are the fp32 ones rounded");
        model_free(&rf), model_free(&rb);
    } else {
        CHECK(0, "random: %s", kv_lasterr());
    }
}

/* The 8-bit-activation product of one activation row and one weight row, written from
 * kernels/qmatmul.h's description (not through the kernel's helpers): blocks quantized as
 * d = max|x|/127, q = nearbyint(x * (1/d)); exact integer sums of the stored quants; per block
 * acc = fma((float)I, d * d_w, acc), for Q4_1 then fma(d Σq, m, acc). Also the bound of the activations'
 * rounding: Σ_b (d_b / 2) Σ_k |w_k| over the dequantized weights. */
static float q8_reference(int type, const uint8_t *row, const float *x, int64_t K, double *bound)
{
    float acc = 0;
    *bound = 0;
    const size_t bb = type == QTYPE_Q8_0 ? 34 : type == QTYPE_Q4_0 ? 18 : 20;
    for (int64_t b = 0; b < K / 32; b++) {
        const uint8_t *blk = row + b * bb;
        float amax = 0, wd[32];
        for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[b * 32 + k]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t h;
        memcpy(&h, blk, 2);
        const float dw = half_to_float(h);
        memcpy(&h, blk + 2, 2);
        const float m = type == QTYPE_Q4_1 ? half_to_float(h) : 0;
        qtype_dequant_row(type, blk, wd, 32);
        int32_t isum = 0, qsum = 0;
        double wabs = 0;
        for (int k = 0; k < 32; k++) {
            const int q = (int)nearbyintf(x[b * 32 + k] * id);
            int wq;
            if (type == QTYPE_Q8_0)
                wq = (int8_t)blk[2 + k];
            else {
                const uint8_t nib = blk[bb - 16 + k % 16];
                wq = (k < 16 ? nib & 15 : nib >> 4) - (type == QTYPE_Q4_0 ? 8 : 0);
            }
            isum += wq * q, qsum += q, wabs += fabs(wd[k]);
        }
        acc = fmaf((float)isum, d * dw, acc);
        if (type == QTYPE_Q4_1) acc = fmaf(d * (float)qsum, m, acc);
        *bound += 0.5001 * d * wabs;
    }
    return acc;
}

/* Every third Q8_0 row's blocks set to the extreme quants (-128 where even, 127 where odd, a block
 * of -128s every 5th): the largest byte products the AVX2 version's 16-bit pair sums must hold. */
static void q8_extremes(qmatrix *w)
{
    for (int64_t r = 0; r < w->rows; r += 3)
        for (int64_t b = 0; b < w->cols / 32; b++) {
            int8_t *q = (int8_t *)((uint8_t *)w->data + r * w->row_bytes + b * 34 + 2);
            for (int k = 0; k < 32; k++) q[k] = (int8_t)((b % 5 == 0 || k % 2 == 0) ? -128 : 127);
        }
}

/* qmatmul_q8act_cpu, every version this CPU has (C, AVX2, AVX-512 VNNI): bit for bit the reference sequence above, so every row has
 * the same bits alone and in any batch; within the activations' rounding bound of the exact product. */
static void test_q8_kernels(void)
{
    static const int64_t shapes[][2] = {{37, 64}, {200, 576}, {5, 1536}, {17, 32}};
    static const int ns[] = {1, 2, 7, 8, 9, 21, 26, 64};
    static const int types[] = {QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q4_1};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const int type = types[t];
            const int64_t rows = shapes[s][0], cols = shapes[s][1];
            qmatrix w = random_matrix(type, rows, cols);
            if (type == QTYPE_Q8_0) q8_extremes(&w);
            float *deq = kv_malloc(sizeof(float) * rows * cols);
            for (int64_t r = 0; r < rows; r++)
                qtype_dequant_row(type, (uint8_t *)w.data + r * w.row_bytes, deq + r * cols, cols);
            for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
                const int n = ns[k];
                float *x = kv_malloc(sizeof(float) * n * cols), *out = kv_malloc(sizeof(float) * n * rows);
                for (int64_t i = 0; i < n * cols; i++) x[i] = rng_f() * (i % 97 == 0 ? 8.0f : 1.0f);
                for (int kern = 0; kern < QMM_Q8_COUNT; kern++) {
                    if (!qmm_q8_available(kern)) continue;
                    qmatmul_q8act_cpu(kern, out, x, &w, n);
                    int exact = 1, close = 1;
                    for (int r = 0; r < n; r++)
                        for (int64_t o = 0; o < rows; o++) {
                            double bound, e = 0;
                            const float want =
                                q8_reference(type, (uint8_t *)w.data + o * w.row_bytes, x + r * cols, cols, &bound);
                            exact &= !memcmp(&want, &out[r * rows + o], sizeof want);
                            double mag = 0;
                            for (int64_t c = 0; c < cols; c++) {
                                const double p = (double)deq[o * cols + c] * x[r * cols + c];
                                e += p, mag += fabs(p);
                            }
                            close &= fabs(out[r * rows + o] - e) <= bound + TOL_QMM_REL_SUMABS * mag * 8;
                        }
                    CHECK(exact, "q8 activations %s %s %lldx%lld n=%d: bit-identical to the reference sequence",
                          qtype_name(type), qmm_q8_name(kern), (long long)rows, (long long)cols, n);
                    CHECK(close, "q8 activations %s %s %lldx%lld n=%d: within the activations' rounding bound of the "
                          "exact product", qtype_name(type), qmm_q8_name(kern), (long long)rows, (long long)cols, n);
                }
                free(x), free(out);
            }
            free(deq), free(w.data);
        }
    for (int kern = 0; kern < QMM_Q8_COUNT; kern++)
        printf("ok q8 activation kernels: %s %s\n", qmm_q8_name(kern), qmm_q8_available(kern) ? "tested" : "not on this CPU");
}

/* The multi kernels (a layer's q, k, v from one x): each output bit-identical to its own one-matrix
 * call, for every fp32 and q8 version; matrices of different types fall back to one call each. */
static void test_multi_kernels(void)
{
    static const int64_t rows[3] = {72, 24, 24}; /* q, k, v of a GQA layer: 4.5 and 1.5 chunks of 16 */
    static const int ns[] = {1, 2, 5, 21};
    static const int types[][3] = {{QTYPE_Q4_1, QTYPE_Q4_1, QTYPE_Q4_1}, {QTYPE_Q8_0, QTYPE_Q8_0, QTYPE_Q8_0},
                                   {QTYPE_Q4_0, QTYPE_Q4_0, QTYPE_Q4_0}, {QTYPE_Q4_1, QTYPE_Q4_1, QTYPE_Q8_0},
                                   {QTYPE_BF16, QTYPE_BF16, QTYPE_BF16}};
    const int64_t cols = 576;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        qmatrix w[3];
        const qmatrix *wp[3];
        for (int i = 0; i < 3; i++) w[i] = random_matrix(types[t][i], rows[i], cols), wp[i] = &w[i];
        const int q8 = qmm_q8_supported(types[t][0]) && qmm_q8_supported(types[t][1]) && qmm_q8_supported(types[t][2]);
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            const int n = ns[k];
            float *x = kv_malloc(sizeof(float) * n * cols), *one = kv_malloc(sizeof(float) * n * rows[0]);
            float *out[3];
            for (int i = 0; i < 3; i++) out[i] = kv_malloc(sizeof(float) * n * rows[i]);
            for (int64_t i = 0; i < n * cols; i++) x[i] = rng_f();
            for (int isa = 0; isa < QMM_ISA_COUNT; isa++) {
                if (!qmm_isa_available(isa)) continue;
                qmatmul_fused_multi_cpu(isa, out, x, wp, 3, n);
                int same = 1;
                for (int i = 0; i < 3; i++) {
                    qmatmul_fused_cpu(isa, one, x, wp[i], n);
                    same &= !memcmp(one, out[i], sizeof(float) * n * rows[i]);
                }
                CHECK(same, "multi %s/%s/%s %s n=%d: each output bit-identical to its own product",
                      qtype_name(types[t][0]), qtype_name(types[t][1]), qtype_name(types[t][2]), qmm_isa_name(isa), n);
            }
            for (int kern = 0; q8 && kern < QMM_Q8_COUNT; kern++) {
                if (!qmm_q8_available(kern)) continue;
                qmatmul_q8act_multi_cpu(kern, out, x, wp, 3, n);
                int same = 1;
                for (int i = 0; i < 3; i++) {
                    qmatmul_q8act_cpu(kern, one, x, wp[i], n);
                    same &= !memcmp(one, out[i], sizeof(float) * n * rows[i]);
                }
                CHECK(same, "multi q8 activations %s/%s/%s %s n=%d: each output bit-identical to its own product",
                      qtype_name(types[t][0]), qtype_name(types[t][1]), qtype_name(types[t][2]), qmm_q8_name(kern), n);
            }
            for (int i = 0; i < 3; i++) free(out[i]);
            free(x), free(one);
        }
        CHECK(qmm_multi_fusable(wp, 3) == (types[t][0] == types[t][2]), "multi %s/%s/%s: fused only when one type",
              qtype_name(types[t][0]), qtype_name(types[t][1]), qtype_name(types[t][2]));
        for (int i = 0; i < 3; i++) free(w[i].data);
    }
}

static const int PROMPT[] = {1, 504, 3458, 282, 4649, 314, 5248, 30, 378, 3458, 282, 4649, 314, 5248, 30, 2, 1,
                             9690, 198, 2683, 253, 4082, 3223, 1717, 30, 2, 198, 1, 4093, 198, 1780, 314};
#define PROMPT_LEN ((int)(sizeof PROMPT / sizeof *PROMPT))

/* logits and FullKV greedy tokens of the demo model held in wformat, decoded with activations acts */
static int engine_run_acts(int wformat, int acts, float *logits, int *tokens, int *n_tokens)
{
    engine *e;
    engine_opts o = {.backend = "cpu", .weights = wformat, .activations = acts};
    if (engine_open(DEMO_MODEL, &o, &e) != KV_OK) return KV_ERR;
    int rc = engine_prefill_logits(e, PROMPT, PROMPT_LEN, logits);
    variant v;
    variant_init(&v, method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    gen_params gp = {.max_new_tokens = GREEDY_STEPS};
    gen_result r;
    if (rc == KV_OK) rc = engine_generate(e, PROMPT, PROMPT_LEN, &v, 1, &gp, &r, NULL);
    if (rc == KV_OK) {
        *n_tokens = r.n_ids;
        memcpy(tokens, r.ids, sizeof(int) * r.n_ids);
        gen_result_free(&r);
    }
    engine_close(e);
    return rc;
}

static int engine_run(int wformat, float *logits, int *tokens, int *n_tokens)
{
    return engine_run_acts(wformat, ENGINE_ACTS_F32, logits, tokens, n_tokens);
}

/* The demo model as stored, decoded with 8-bit activations against fp32 activations: the prompt's
 * logits (the prefill's sgemm in fp32, then the last position's lm_head, a one-row product with 8-bit
 * activations) within TOL_LOGITS_Q8_ACTS, and the FullKV greedy
 * tokens are compared step by step — the first divergence is reported: rounding the activations to 8
 * bits per block moves logits by ~1e-2 (the kernels' bound is tested above), enough to flip a
 * near-tie between two tokens, as in llama.cpp's CPU decode. */
static void test_engine_q8_activations(void)
{
    int V = 49152, t32[GREEDY_STEPS], t8[GREEDY_STEPS], n32 = 0, n8 = 0;
    float *l32 = kv_malloc(sizeof(float) * V), *l8 = kv_malloc(sizeof(float) * V);
    if (engine_run_acts(MODEL_WEIGHTS_AS_STORED, ENGINE_ACTS_F32, l32, t32, &n32) != KV_OK ||
        engine_run_acts(MODEL_WEIGHTS_AS_STORED, ENGINE_ACTS_Q8, l8, t8, &n8) != KV_OK) {
        CHECK(0, "q8 activations engine: %s", kv_lasterr());
        free(l32), free(l8);
        return;
    }
    double err;
    CHECK(check_close_array(l8, l32, V, TOL_LOGITS_Q8_ACTS, 0, &err),
          "q8 activations: the prompt's logits max |diff| %.3g vs fp32 activations (tolerance %g)", err,
          TOL_LOGITS_Q8_ACTS);
    float big = 0;
    for (int i = 0; i < V; i++) big = fmaxf(big, fabsf(l32[i]));
    printf("ok q8 activations: the prompt's logits max |diff| %.3g (largest |logit| %.3g)\n", err, big);
    int same = 0;
    while (same < n8 && same < n32 && t8[same] == t32[same]) same++;
    CHECK(n8 == GREEDY_STEPS && same >= 1, "q8 activations: %d tokens, the first equal to fp32's", n8);
    printf("ok q8 activations: greedy FullKV tokens identical to fp32 activations for %d of %d steps\n", same, n32);
    free(l32), free(l8);
}

static void test_engine_formats(void)
{
    int V = 49152, ref_tok[GREEDY_STEPS], ref_n = 0;
    float *ref = kv_malloc(sizeof(float) * V), *got = kv_malloc(sizeof(float) * V);
    if (engine_run(MODEL_WEIGHTS_F32, ref, ref_tok, &ref_n) != KV_OK) {
        CHECK(0, "f32 engine: %s", kv_lasterr());
        return;
    }
    struct { int f; double tol; int want_same_tokens; } cases[] = {
        {MODEL_WEIGHTS_AS_STORED, TOL_LOGITS_AS_STORED, 1},
        {MODEL_WEIGHTS_BF16, TOL_LOGITS_BF16, 0},
        {MODEL_WEIGHTS_Q8_0, TOL_LOGITS_Q8_0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int tok[GREEDY_STEPS], n = 0;
        const char *name = model_wformat_name(cases[i].f);
        if (engine_run(cases[i].f, got, tok, &n) != KV_OK) {
            CHECK(0, "%s engine: %s", name, kv_lasterr());
            continue;
        }
        double err;
        int ok = check_close_array(got, ref, V, cases[i].tol, 0, &err);
        CHECK(ok, "%s weights: logits max |diff| %.3g vs the fp32 oracle (tolerance %g)", name, err, cases[i].tol);
        int same = 0;
        while (same < n && same < ref_n && tok[same] == ref_tok[same]) same++;
        if (cases[i].want_same_tokens)
            CHECK(same == ref_n && n == ref_n, "%s weights: FullKV greedy tokens identical to fp32 for %d steps (%d)",
                  name, ref_n, same);
        printf("ok %s weights: logits max |diff| %.3g, greedy tokens identical to fp32 for %d of %d steps\n", name,
               err, same, ref_n);
    }
    free(ref), free(got);
}

int main(void)
{
    test_conversions();
    test_kernels();
    test_q8_kernels();
    test_multi_kernels();
    test_load_formats();
    test_engine_formats();
    test_engine_q8_activations();
    return check_report("test_qweights");
}
