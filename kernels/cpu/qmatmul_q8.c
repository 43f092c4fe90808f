/* qmatmul_q8 (CPU): linear layers with 8-bit activations on Q8_0/Q4_0/Q4_1 weights (llama.cpp's
 * scheme for its CPU decode; see kernels/qmatmul.h).
 *
 * Each 32-value block of an activation row becomes int8 with its own scale (d = max|x| / 127,
 * q = x * (1/d) rounded to nearest even) and Σq. A weight block's quants, as unsigned bytes, times the
 * activation quants sum exactly in int32 (Q4_0: nibbles, minus 8 Σq; Q8_0: q + 128, minus 128 Σq;
 * Q4_1: nibbles, its offset m added as m * (d Σq)); each block's sum is scaled and accumulated in fp32
 * with one fused multiply-add: acc = fma((float)I, d_x * d_w, acc) [+ fma(d_x Σq, m, acc)], block after
 * block. The AVX-512 VNNI version keeps 16 weight rows in the lanes of a vector (interleaved once
 * per call by loads and lane permutes, then reused by every activation row); each lane does the scalar
 * sequence of its output, so a row's outputs have the same bits alone or in a batch, and in the
 * portable C version. The AVX2 version does the same with 8 rows and byte multiply-adds. */
#include "kernels/qmatmul.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "util/half.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/isa_targets.h"
#define Q8_X86 1
#else
#define Q8_X86 0
#endif

#define Q8_R 8          /* activation rows per pass over a group of weight rows (independent chains) */
#define Q8_W 16         /* weight rows per vector (the lanes) */
#define Q8_OCHUNK 16    /* output rows per OpenMP work unit: one vector of weight rows, so that the 192-row K and V
                         * projections split 6/6 over two threads, not 2/1 */
#define Q8_PAR_MIN (1 << 15)
#define Q8_INLINE inline __attribute__((always_inline))

/* The quantized activations, row after row: q (n, K), and per block (n, K/32) its scale d, the
 * correction the weight type subtracts from the integer sum (8 Σq for Q4_0, 128 Σq for Q8_0, 0 for
 * Q4_1) and d Σq (Q4_1's offset term). */
typedef struct {
    int n;
    int64_t nb;
    int8_t *q;
    float *d, *dsum;
    int32_t *corr;
} q8_acts;

int qmm_q8_supported(int type) { return type == QTYPE_Q8_0 || type == QTYPE_Q4_0 || type == QTYPE_Q4_1; }

int qmm_q8_available(int kern)
{
    switch (kern) {
    case QMM_Q8_C: return 1;
#if Q8_X86
    case QMM_Q8_AVX2: return qmm_isa_available(QMM_ISA_AVX2);
    case QMM_Q8_VNNI:
        return qmm_isa_available(QMM_ISA_AVX512) && (KV_AVX512_EMULATED || __builtin_cpu_supports("avx512vnni"));
#endif
    default: return 0;
    }
}

const char *qmm_q8_name(int kern)
{
    static const char *const names[QMM_Q8_COUNT] = {"c", "avx2", "vnni"};
    return kern >= 0 && kern < QMM_Q8_COUNT ? names[kern] : "?";
}

int qmm_q8_for_isa(int isa)
{
    if (isa == QMM_ISA_AVX512 && qmm_q8_available(QMM_Q8_VNNI)) return QMM_Q8_VNNI;
    if (isa != QMM_ISA_C && qmm_q8_available(QMM_Q8_AVX2)) return QMM_Q8_AVX2;
    return QMM_Q8_C;
}

static size_t block_bytes(int type) { return qtype_row_bytes(type, QTYPE_BLOCK); }

/* Slot s's scale d, the weight type's correction and d Σq, from the block's quants summing to sum. */
static void set_block_scale(q8_acts *a, int type, size_t s, float d, int32_t sum)
{
    a->d[s] = d;
    a->corr[s] = type == QTYPE_Q4_0 ? 8 * sum : type == QTYPE_Q8_0 ? 128 * sum : 0;
    a->dsum[s] = d * (float)sum;
}

/* Block b of activation row r (32 values at x). */
static void quantize_block(q8_acts *a, int type, int r, int64_t b, const float *x)
{
    const size_t s = (size_t)r * a->nb + b;
    float amax = 0;
    for (int k = 0; k < QTYPE_BLOCK; k++) amax = fmaxf(amax, fabsf(x[k]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    int8_t *q = a->q + s * QTYPE_BLOCK;
    int32_t sum = 0;
    for (int k = 0; k < QTYPE_BLOCK; k++) {
        const int v = (int)lrintf(x[k] * id); /* nearest, ties to even; |v| <= 127 */
        q[k] = (int8_t)v;
        sum += v;
    }
    set_block_scale(a, type, s, d, sum);
}

#if Q8_X86
/* quantize_block 32 values at a time: the same max, scale and products; the conversion rounds to
 * nearest even as lrintf does (the default rounding mode), so the same bits. */
static KV_T_AVX512 void quantize_block_avx512(q8_acts *a, int type, int r, int64_t b, const float *x)
{
    const size_t s = (size_t)r * a->nb + b;
    const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
    _mm_storeu_si128((__m128i *)(a->q + s * QTYPE_BLOCK), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(a->q + s * QTYPE_BLOCK + 16), _mm512_cvtepi32_epi8(q1));
    set_block_scale(a, type, s, d, _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)));
}

/* The same 8 values at a time (AVX2). */
static __attribute__((target("avx2,fma"))) void quantize_block_avx2(q8_acts *a, int type, int r, int64_t b,
                                                                   const float *x)
{
    const size_t s = (size_t)r * a->nb + b;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 xv[4], m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) xv[i] = _mm256_loadu_ps(x + 8 * i), m = _mm256_max_ps(m, _mm256_and_ps(xv[i], abs_mask));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; i++) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(xv[i], vid));
    /* |q| <= 127: the saturating packs are exact; they interleave 128-bit lanes, the permute undoes it */
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256((__m256i *)(a->q + s * QTYPE_BLOCK),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0x4e));
    t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0xb1));
    set_block_scale(a, type, s, d, _mm_cvtsi128_si32(t4));
}
#endif

/* The calling thread's buffers for n rows of K values (grown as needed, kept for the thread's life):
 * every thread of a product quantizes all the rows itself (a few microseconds) instead of waiting at
 * a barrier for a shared copy. */
static q8_acts *q8_acts_for(int n, int64_t K)
{
    static _Thread_local q8_acts a;
    static _Thread_local size_t cap;
    const size_t slots = (size_t)n * (K / QTYPE_BLOCK);
    if (cap < slots) {
        free(a.q), free(a.d), free(a.dsum), free(a.corr);
        a.q = malloc(slots * QTYPE_BLOCK);
        a.d = malloc(slots * sizeof(float));
        a.dsum = malloc(slots * sizeof(float));
        a.corr = malloc(slots * sizeof(int32_t));
        if (!a.q || !a.d || !a.dsum || !a.corr) abort();
        cap = slots;
    }
    a.n = n, a.nb = K / QTYPE_BLOCK;
    return &a;
}

/* Rows o .. o + W - 1 of w (rows past the matrix repeat its last): their addresses, and their byte
 * offsets from row o for a gather of their block headers. */
static Q8_INLINE void rows_from(const qmatrix *w, int64_t o, int W, const uint8_t **row, int32_t *idx)
{
    for (int l = 0; l < W; l++) {
        const int64_t r = o + l < w->rows ? o + l : w->rows - 1;
        row[l] = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        idx[l] = (int32_t)((r - o) * (int64_t)w->row_bytes);
    }
}

/* The W rows after rows o .. o + W - 1 (the thread's next group), prefetched a few cache lines per
 * block of this group: next_rows_step once a block. No division in the block loop: two of them per
 * block cost as much as the rest of an AVX2 interleave. */
typedef struct {
    const uint8_t *next;
    size_t lines, per_block, line;
} next_rows;

static Q8_INLINE next_rows next_rows_of(const qmatrix *w, int64_t o, int W, int64_t nb)
{
    const size_t lines = o + W < w->rows ? (W * w->row_bytes + 63) / 64 : 0;
    return (next_rows){(const uint8_t *)w->data + (size_t)(o + W) * w->row_bytes, lines, (lines + nb - 1) / nb, 0};
}

static Q8_INLINE void next_rows_step(next_rows *p)
{
    for (size_t end = p->line + p->per_block < p->lines ? p->line + p->per_block : p->lines; p->line < end; p->line++)
        __builtin_prefetch(p->next + 64 * p->line, 0, 3); /* prefetcht0 */
}

/* Activation row r quantized (row r of x, K values). */
static void quantize_row(q8_acts *a, int kern, int type, const float *x, int r)
{
    for (int64_t b = 0; b < a->nb; b++) {
#if Q8_X86
        if (kern == QMM_Q8_VNNI) {
            quantize_block_avx512(a, type, r, b, x + b * QTYPE_BLOCK);
            continue;
        }
        if (kern == QMM_Q8_AVX2) {
            quantize_block_avx2(a, type, r, b, x + b * QTYPE_BLOCK);
            continue;
        }
#endif
        quantize_block(a, type, r, b, x + b * QTYPE_BLOCK);
    }
}

/* The calling thread's interleaved weight rows (*wu, at least wu_bytes) and their scales (*ws, at least
 * ws_floats), 64-byte aligned; grown as needed and kept for the thread's life. */
static void interleave_scratch(size_t wu_bytes, size_t ws_floats, uint8_t **wu, float **ws)
{
    static _Thread_local uint8_t *u;
    static _Thread_local float *f;
    static _Thread_local size_t u_cap, f_cap;
    if (u_cap < wu_bytes) {
        free(u), u = aligned_alloc(64, (wu_bytes + 63) / 64 * 64), u_cap = wu_bytes;
        if (!u) abort();
    }
    if (f_cap < ws_floats) {
        free(f), f = aligned_alloc(64, (ws_floats * sizeof(float) + 63) / 64 * 64), f_cap = ws_floats;
        if (!f) abort();
    }
    *wu = u, *ws = f;
}

/* ---- portable C ---- */

/* Block b of a weight row as unsigned bytes (Q4: the nibbles in value order; Q8_0: q + 128), its d and m. */
static void unpack_block(int type, const uint8_t *blk, uint8_t u[QTYPE_BLOCK], float *dw, float *mw)
{
    uint16_t h;
    memcpy(&h, blk, 2);
    *dw = half_to_float(h);
    *mw = 0;
    if (type == QTYPE_Q4_1) memcpy(&h, blk + 2, 2), *mw = half_to_float(h);
    if (type == QTYPE_Q8_0) {
        for (int k = 0; k < QTYPE_BLOCK; k++) u[k] = blk[2 + k] ^ 0x80;
        return;
    }
    const uint8_t *nib = blk + (type == QTYPE_Q4_1 ? 4 : 2);
    for (int k = 0; k < 16; k++) u[k] = nib[k] & 15, u[k + 16] = nib[k] >> 4;
}

static void rows_c(const qmatrix *w, float *out, int64_t ldo, const q8_acts *a, int64_t o0, int64_t o1)
{
    static _Thread_local uint8_t *u; /* one weight row unpacked, then used by every activation row */
    static _Thread_local float *dw;  /* its blocks' d, then m */
    static _Thread_local int64_t cap;
    if (cap < a->nb) {
        free(u), free(dw);
        u = malloc((size_t)a->nb * QTYPE_BLOCK), dw = malloc(sizeof(float) * 2 * a->nb);
        if (!u || !dw) abort();
        cap = a->nb;
    }
    const float *mw = dw + a->nb;
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)o * w->row_bytes;
        for (int64_t b = 0; b < a->nb; b++)
            unpack_block(w->type, row + b * block_bytes(w->type), u + b * QTYPE_BLOCK, &dw[b], &dw[a->nb + b]);
        for (int r = 0; r < a->n; r++) {
            float acc = 0;
            for (int64_t b = 0; b < a->nb; b++) {
                const size_t s = (size_t)r * a->nb + b;
                int32_t isum = 0;
                for (int k = 0; k < QTYPE_BLOCK; k++) isum += u[b * QTYPE_BLOCK + k] * a->q[s * QTYPE_BLOCK + k];
                acc = fmaf((float)(isum - a->corr[s]), a->d[s] * dw[b], acc);
                if (w->type == QTYPE_Q4_1) acc = fmaf(a->dsum[s], mw[b], acc);
            }
            out[r * ldo + o] = acc;
        }
    }
}

/* ---- AVX-512 VNNI: 16 weight rows in the lanes ---- */
#if Q8_X86
#define T_VNNI KV_T_VNNI

/* Bytes off .. off + 15 of the 16 rows row[l]: out[j] holds dword j of row l in lane l (four rows
 * per vector with one load each, their dwords regrouped, then a 4x4 transpose of 128-bit lanes). */
static Q8_INLINE T_VNNI void dwords16x4(const uint8_t *const *row, size_t off, __m512i out[4])
{
    const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i a[4];
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(row[4 * k] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[4 * k + 1] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[4 * k + 2] + off)), 2);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(row[4 * k + 3] + off)), 3);
        a[k] = _mm512_permutexvar_epi32(perm, v); /* 128-bit lane j: dword j of rows 4k .. 4k + 3 */
    }
    const __m512i t0 = _mm512_shuffle_i32x4(a[0], a[1], 0x44), t1 = _mm512_shuffle_i32x4(a[0], a[1], 0xee);
    const __m512i t2 = _mm512_shuffle_i32x4(a[2], a[3], 0x44), t3 = _mm512_shuffle_i32x4(a[2], a[3], 0xee);
    out[0] = _mm512_shuffle_i32x4(t0, t2, 0x88), out[1] = _mm512_shuffle_i32x4(t0, t2, 0xdd);
    out[2] = _mm512_shuffle_i32x4(t1, t3, 0x88), out[3] = _mm512_shuffle_i32x4(t1, t3, 0xdd);
}

/* The 16 weight rows o .. o + 15 (rows past the matrix repeat its last) interleaved into wu: for block
 * b, 8 vectors, vector c holding bytes 4c .. 4c + 3 of each row's unsigned quants in its lane; their d
 * and m in dw/mw [b][16]. */
static T_VNNI void interleave_rows(const qmatrix *w, int64_t o, uint8_t *wu, float *dw, float *mw)
{
    const int64_t nb = w->cols / QTYPE_BLOCK;
    const size_t bb = block_bytes(w->type), hdr = w->type == QTYPE_Q4_1 ? 4 : 2;
    const uint8_t *row[Q8_W];
    int32_t idx[Q8_W];
    rows_from(w, o, Q8_W, row, idx);
    const __m512i vi = _mm512_loadu_si512(idx), low4 = _mm512_set1_epi8(0x0f), flip = _mm512_set1_epi8((char)0x80);
    const uint8_t *base = (const uint8_t *)w->data + (size_t)o * w->row_bytes;
    /* The next 16 rows (contiguous, the thread's next work unit) are prefetched a slice per block: the
     * 16 row streams here are more than the hardware prefetcher follows, and weights read from memory
     * ran at 2-4 GB/s without it. */
    const size_t next_lines = o + Q8_W < w->rows ? (Q8_W * w->row_bytes + 63) / 64 : 0;
    const uint8_t *next = base + Q8_W * w->row_bytes;
    for (int64_t b = 0; b < nb; b++) {
        for (size_t i = next_lines * b / nb; i < next_lines * (b + 1) / nb; i++)
            _mm_prefetch((const char *)(next + 64 * i), _MM_HINT_T0);
        uint8_t *ub = wu + b * 8 * 64;
        const __m512i head = _mm512_i32gather_epi32(vi, base + b * bb, 1); /* d | m << 16 (Q4_1), d | q0 q1 (Q8_0) */
        _mm512_storeu_ps(dw + b * Q8_W, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head)));
        __m512i v[4];
        if (w->type == QTYPE_Q8_0) {
            for (int half = 0; half < 2; half++) {
                dwords16x4(row, b * bb + hdr + 16 * half, v);
                for (int c = 0; c < 4; c++) _mm512_storeu_si512(ub + (4 * half + c) * 64, _mm512_xor_si512(v[c], flip));
            }
            continue;
        }
        _mm512_storeu_ps(mw + b * Q8_W, w->type == QTYPE_Q4_1
                                            ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(head, 16)))
                                            : _mm512_setzero_ps());
        dwords16x4(row, b * bb + hdr, v); /* nibble bytes 4p .. 4p + 3: values 4p.. (low) and 16 + 4p.. (high) */
        for (int p = 0; p < 4; p++) {
            _mm512_storeu_si512(ub + p * 64, _mm512_and_si512(v[p], low4));
            _mm512_storeu_si512(ub + (p + 4) * 64, _mm512_and_si512(_mm512_srli_epi16(v[p], 4), low4));
        }
    }
}

/* Activation rows r0 .. r0 + R - 1 against the interleaved weight rows: out[r][o .. o + nw). */
static Q8_INLINE T_VNNI void rows_r(int R, int type, float *out, int64_t ldo, const q8_acts *a, int r0,
                                    const uint8_t *wu, const float *dw, const float *mw, __mmask16 keep)
{
    __m512 acc[Q8_R];
    #pragma GCC unroll 8
    for (int i = 0; i < R; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < a->nb; b++) {
        __m512i isum[Q8_R];
        #pragma GCC unroll 8
    for (int i = 0; i < R; i++) isum[i] = _mm512_setzero_si512();
        #pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const __m512i wv = _mm512_loadu_si512(wu + (b * 8 + c) * 64);
            #pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
                int32_t xd;
                memcpy(&xd, a->q + ((size_t)(r0 + i) * a->nb + b) * QTYPE_BLOCK + 4 * c, 4);
                isum[i] = _mm512_dpbusd_epi32(isum[i], wv, _mm512_set1_epi32(xd));
            }
        }
        const __m512 dwv = _mm512_loadu_ps(dw + b * Q8_W);
        #pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
            const size_t s = (size_t)(r0 + i) * a->nb + b;
            const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(isum[i], _mm512_set1_epi32(a->corr[s])));
            acc[i] = _mm512_fmadd_ps(f, _mm512_mul_ps(dwv, _mm512_set1_ps(a->d[s])), acc[i]);
        }
        if (type == QTYPE_Q4_1) {
            const __m512 mwv = _mm512_loadu_ps(mw + b * Q8_W);
            #pragma GCC unroll 8
    for (int i = 0; i < R; i++)
                acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a->dsum[(size_t)(r0 + i) * a->nb + b]), mwv, acc[i]);
        }
    }
    #pragma GCC unroll 8
    for (int i = 0; i < R; i++) _mm512_mask_storeu_ps(out + (r0 + i) * ldo, keep, acc[i]);
}

static T_VNNI void rows_vnni(const qmatrix *w, float *out, int64_t ldo, const q8_acts *a, int64_t o0, int64_t o1)
{
    const int64_t nb = w->cols / QTYPE_BLOCK;
    uint8_t *wu;
    float *ws;
    interleave_scratch((size_t)nb * 8 * 64, (size_t)2 * Q8_W * nb, &wu, &ws);
    for (int64_t o = o0; o < o1; o += Q8_W) {
        const int nw = o1 - o < Q8_W ? (int)(o1 - o) : Q8_W;
        const __mmask16 keep = (__mmask16)((1u << nw) - 1);
        interleave_rows(w, o, wu, ws, ws + Q8_W * nb);
        int r0 = 0;
        for (; r0 + Q8_R <= a->n; r0 += Q8_R) rows_r(Q8_R, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep);
        switch (a->n - r0) {
        case 0: break;
        case 1: rows_r(1, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep); break;
        case 2: rows_r(2, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep); break;
        case 3: rows_r(3, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep); break;
        case 4: rows_r(4, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep); break;
        case 5: rows_r(5, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep); break;
        case 6: rows_r(6, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep); break;
        default: rows_r(7, w->type, out + o, ldo, a, r0, wu, ws, ws + Q8_W * nb, keep); break;
        }
    }
}
#endif

/* ---- AVX2: 8 weight rows in the lanes, byte multiply-adds ----
 * vpmaddubsw multiplies unsigned weight bytes by signed activation bytes and adds pairs into int16
 * (saturating), vpmaddwd with ones adds those pairs into int32: the 4-byte dot product of one lane
 * that VNNI does in one instruction. Nothing saturates: a Q4 pair is at most 2 * 15 * 127 = 3,810, so
 * even the 8 pairs of a block summed in int16 stay below 32,767; Q8_0 (signed quants) multiplies
 * |q| by x with q's sign (the pair at most 2 * 128 * 127 = 32,512) and sums Σ q x directly, which is
 * the C version's Σ (q + 128) x - 128 Σx. So the integers, and the fp32 steps after them, are the
 * C version's. */
#if Q8_X86
#define T_AVX2Q __attribute__((target("avx2,fma,f16c")))
#define Q8_W2 8 /* weight rows per vector */
#define Q8_G2 2 /* groups of 8 rows per pass over an activation row */
#define Q8_T2 3 /* activation rows per pass over the groups */

/* Bytes off .. off + 15 of the 8 rows row[l]: out[j] holds dword j of row l in lane l. */
static Q8_INLINE T_AVX2Q void dwords8x4(const uint8_t *const *row, size_t off, __m256i out[4])
{
    __m256i a[4]; /* rows k (low half) and k + 4 (high half) */
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        a[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(row[k] + off))),
                                       _mm_loadu_si128((const __m128i *)(row[k + 4] + off)), 1);
    const __m256i t0 = _mm256_unpacklo_epi32(a[0], a[1]), t1 = _mm256_unpackhi_epi32(a[0], a[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(a[2], a[3]), t3 = _mm256_unpackhi_epi32(a[2], a[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2), out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3), out[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* The halves in bytes 2h, 2h + 1 of each lane of head (the first 4 bytes of a block of each of 8
 * rows), to fp32. */
static Q8_INLINE T_AVX2Q __m256 halves8(__m256i head, int h)
{
    const __m256i pick = h ? _mm256_setr_epi8(2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 6, 7,
                                              10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1)
                           : _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5,
                                              8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i p = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(head, pick), 0x08); /* qwords 0 and 2 */
    return _mm256_cvtph_ps(_mm256_castsi256_si128(p));
}

/* Block quants at offset off of the 8 rows row[l], unpacked with row l in lane l: u[c] holds bytes
 * 4c .. 4c + 3 of each row's unsigned quants (Q4: the nibbles, values 4p.. low and 16 + 4p.. high; Q8_0:
 * |q|), for Q8_0 u[8 + c] the signed q. What the interleave stores and the one-row kernel multiplies. */
static Q8_INLINE T_AVX2Q void unpack_block8_t(int TYPE, const uint8_t *const *row, size_t off, __m256i u[16])
{
    __m256i v[4];
    if (TYPE == QTYPE_Q8_0) {
        #pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            dwords8x4(row, off + 16 * half, v);
            #pragma GCC unroll 4
            for (int c = 0; c < 4; c++) u[4 * half + c] = _mm256_abs_epi8(v[c]), u[8 + 4 * half + c] = v[c];
        }
        return;
    }
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    dwords8x4(row, off, v); /* nibble bytes 4p .. 4p + 3 */
    #pragma GCC unroll 4
    for (int p = 0; p < 4; p++)
        u[p] = _mm256_and_si256(v[p], low4), u[p + 4] = _mm256_and_si256(_mm256_srli_epi16(v[p], 4), low4);
}

/* The 8 weight rows o .. o + 7 (rows past the matrix repeat its last) interleaved into wu: for block b,
 * 8 vectors of 32 bytes, vector c holding bytes 4c .. 4c + 3 of each row's unsigned quants (Q8_0:
 * |q|, and q itself in the 8 vectors after them) in its lane; their d and m in dw/mw [b][8]. TYPE is
 * w->type as a constant (no test in the loop); with one activation row this loop, not the products,
 * is most of a decode step. */
static Q8_INLINE T_AVX2Q void interleave_rows8_t(int TYPE, const qmatrix *w, int64_t o, uint8_t *wu, float *dw,
                                                 float *mw)
{
    const int64_t nb = w->cols / QTYPE_BLOCK;
    const size_t bb = block_bytes(TYPE), hdr = TYPE == QTYPE_Q4_1 ? 4 : 2;
    const uint8_t *row[Q8_W2];
    int32_t idx[Q8_W2];
    rows_from(w, o, Q8_W2, row, idx);
    const __m256i vi = _mm256_loadu_si256((const __m256i *)idx);
    next_rows pf = next_rows_of(w, o, Q8_W2, nb);
    for (int64_t b = 0; b < nb; b++) {
        next_rows_step(&pf);
        const int nu = TYPE == QTYPE_Q8_0 ? 16 : 8;
        uint8_t *ub = wu + b * nu * 32;
        const __m256i head = _mm256_i32gather_epi32((const int *)(row[0] + b * bb), vi, 1); /* d | m << 16 (Q4_1) */
        _mm256_storeu_ps(dw + b * Q8_W2, halves8(head, 0));
        if (TYPE != QTYPE_Q8_0)
            _mm256_storeu_ps(mw + b * Q8_W2, TYPE == QTYPE_Q4_1 ? halves8(head, 1) : _mm256_setzero_ps());
        __m256i u[16];
        unpack_block8_t(TYPE, row, b * bb + hdr, u);
        #pragma GCC unroll 16
        for (int c = 0; c < nu; c++) _mm256_storeu_si256((__m256i *)(ub + c * 32), u[c]);
    }
}

/* NR activation rows r .. r + NR - 1 against NG groups of 8 interleaved weight rows (group g: wu[g],
 * dw[g], mw[g]): out[i ldo + 8 g .. + 8) where keep[g]. One accumulator per row and group; each weight
 * vector is loaded once for the NR rows and each activation dword broadcast once for the NG groups, so
 * a 2 x 2 tile does 4 byte multiply-adds for 4 loads where one row did 2 for 3 (the loads, not the
 * multiplies, bound this loop on Zen 3: llvm-mca -mcpu=znver3), and a 3 x 2 tile 6 for 5 (1.11x faster
 * than 2 x 2: tools/bench_q8_stream 1536 576 21 160, 2 threads, BENCHMARKS §5.7.10). Each output's
 * sequence is the one row version's, so the same bits. */
static Q8_INLINE T_AVX2Q void row_tile(int NR, int NG, int type, float *out, int64_t ldo, const q8_acts *a, int r,
                                       const uint8_t *const *wu, const float *const *dw, const float *const *mw,
                                       const __m256i *keep)
{
    const int q8 = type == QTYPE_Q8_0;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[Q8_T2][Q8_G2];
    #pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
        #pragma GCC unroll 4
        for (int g = 0; g < NG; g++) acc[i][g] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a->nb; b++) {
        const size_t bs = (size_t)b * (q8 ? 16 : 8) * 32;
        __m256i isum[Q8_T2][Q8_G2];
        #pragma GCC unroll 4
        for (int i = 0; i < NR; i++)
            #pragma GCC unroll 4
            for (int g = 0; g < NG; g++) isum[i][g] = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m256i xv[Q8_T2];
            #pragma GCC unroll 4
            for (int i = 0; i < NR; i++) {
                int32_t xd;
                memcpy(&xd, a->q + ((size_t)(r + i) * a->nb + b) * QTYPE_BLOCK + 4 * c, 4);
                xv[i] = _mm256_set1_epi32(xd);
            }
            #pragma GCC unroll 4
            for (int g = 0; g < NG; g++) {
                const uint8_t *ub = wu[g] + bs;
                const __m256i wv = _mm256_load_si256((const __m256i *)(ub + c * 32));
                if (q8) { /* int32 per product: a Q8_0 pair leaves no room to add 8 of them in int16 */
                    const __m256i wq = _mm256_load_si256((const __m256i *)(ub + (8 + c) * 32));
                    #pragma GCC unroll 4
                    for (int i = 0; i < NR; i++)
                        isum[i][g] = _mm256_add_epi32(
                            isum[i][g], _mm256_madd_epi16(_mm256_maddubs_epi16(wv, _mm256_sign_epi8(xv[i], wq)), ones));
                } else {
                    #pragma GCC unroll 4
                    for (int i = 0; i < NR; i++) isum[i][g] = _mm256_add_epi16(isum[i][g], _mm256_maddubs_epi16(wv, xv[i]));
                }
            }
            /* keep the sums in registers: left free, GCC reassociates these exact integer adds into trees
             * whose 32 partial products no longer fit the 16 registers */
            #pragma GCC unroll 4
            for (int i = 0; i < NR; i++)
                #pragma GCC unroll 4
                for (int g = 0; g < NG; g++) __asm__("" : "+x"(isum[i][g]));
        }
        #pragma GCC unroll 4
        for (int i = 0; i < NR; i++) {
            const size_t s = (size_t)(r + i) * a->nb + b;
            const __m256 dx = _mm256_set1_ps(a->d[s]);
            #pragma GCC unroll 4
            for (int g = 0; g < NG; g++) {
                const __m256i pairs = q8 ? isum[i][g] : _mm256_madd_epi16(isum[i][g], ones);
                /* Q4_1's correction is 0 */
                const __m256i in = type == QTYPE_Q4_0 ? _mm256_sub_epi32(pairs, _mm256_set1_epi32(a->corr[s])) : pairs;
                acc[i][g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(in), _mm256_mul_ps(_mm256_load_ps(dw[g] + b * Q8_W2), dx),
                                            acc[i][g]);
                if (type == QTYPE_Q4_1)
                    acc[i][g] = _mm256_fmadd_ps(_mm256_set1_ps(a->dsum[s]), _mm256_load_ps(mw[g] + b * Q8_W2), acc[i][g]);
            }
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < NR; i++)
        #pragma GCC unroll 4
        for (int g = 0; g < NG; g++) _mm256_maskstore_ps(out + i * ldo + 8 * g, keep[g], acc[i][g]);
}

/* TYPE: w->type as a constant, so that each weight type gets its own loop with nothing to test in it */
static Q8_INLINE T_AVX2Q void rows_avx2q_t(int TYPE, const qmatrix *w, float *out, int64_t ldo, const q8_acts *a,
                                           int64_t o0, int64_t o1)
{
    const int64_t nb = w->cols / QTYPE_BLOCK;
    uint8_t *buf;
    float *ws;
    interleave_scratch((size_t)Q8_G2 * nb * 16 * 32, (size_t)Q8_G2 * 2 * Q8_W2 * nb, &buf, &ws);
    const uint8_t *wu[Q8_G2];
    const float *dw[Q8_G2], *mw[Q8_G2];
    __m256i keep[Q8_G2];
    for (int64_t o = o0; o < o1; o += Q8_G2 * Q8_W2) {
        int ng = 0;
        for (; ng < Q8_G2 && o + Q8_W2 * ng < o1; ng++) {
            const int64_t og = o + Q8_W2 * ng;
            uint8_t *u = buf + (size_t)ng * nb * 16 * 32;
            float *d = ws + (size_t)ng * 2 * Q8_W2 * nb;
            interleave_rows8_t(TYPE, w, og, u, d, d + Q8_W2 * nb);
            wu[ng] = u, dw[ng] = d, mw[ng] = d + Q8_W2 * nb;
            const int nw = o1 - og < Q8_W2 ? (int)(o1 - og) : Q8_W2;
            keep[ng] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nw), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        }
        int r = 0;
        for (; r + Q8_T2 <= a->n; r += Q8_T2) {
            if (ng == 2) row_tile(Q8_T2, 2, TYPE, out + r * ldo + o, ldo, a, r, wu, dw, mw, keep);
            else row_tile(Q8_T2, 1, TYPE, out + r * ldo + o, ldo, a, r, wu, dw, mw, keep);
        }
        for (; r < a->n; r++) {
            if (ng == 2) row_tile(1, 2, TYPE, out + r * ldo + o, ldo, a, r, wu, dw, mw, keep);
            else row_tile(1, 1, TYPE, out + r * ldo + o, ldo, a, r, wu, dw, mw, keep);
        }
    }
}

/* One activation row (single-sequence decode): each group of 8 weight rows is unpacked into registers
 * exactly as interleave_rows8_t unpacks it and multiplied there, block by block, instead of going
 * through the scratch and a second pass; the integers and the fp32 steps are row_tile's with NR = 1,
 * so the same bits. */
static Q8_INLINE T_AVX2Q void one_row_t(int TYPE, const qmatrix *w, float *out, const q8_acts *a, int64_t o0,
                                        int64_t o1)
{
    const int64_t nb = w->cols / QTYPE_BLOCK;
    const size_t bb = block_bytes(TYPE), hdr = TYPE == QTYPE_Q4_1 ? 4 : 2;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t o = o0; o < o1; o += Q8_W2) {
        const uint8_t *row[Q8_W2];
        int32_t idx[Q8_W2];
        rows_from(w, o, Q8_W2, row, idx);
        const __m256i vi = _mm256_loadu_si256((const __m256i *)idx);
        next_rows pf = next_rows_of(w, o, Q8_W2, nb);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            next_rows_step(&pf);
            const __m256i head = _mm256_i32gather_epi32((const int *)(row[0] + b * bb), vi, 1);
            const int8_t *xq = a->q + b * QTYPE_BLOCK;
            __m256i isum = _mm256_setzero_si256(), u[16];
            unpack_block8_t(TYPE, row, b * bb + hdr, u);
            #pragma GCC unroll 8
            for (int c = 0; c < 8; c++) {
                int32_t xd;
                memcpy(&xd, xq + 4 * c, 4);
                const __m256i xv = _mm256_set1_epi32(xd);
                if (TYPE == QTYPE_Q8_0) /* int32 per product, as in row_tile */
                    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(u[c], _mm256_sign_epi8(xv, u[8 + c])), ones));
                else
                    isum = _mm256_add_epi16(isum, _mm256_maddubs_epi16(u[c], xv));
            }
            const __m256i pairs = TYPE == QTYPE_Q8_0 ? isum : _mm256_madd_epi16(isum, ones);
            const __m256i in = TYPE == QTYPE_Q4_0 ? _mm256_sub_epi32(pairs, _mm256_set1_epi32(a->corr[b])) : pairs;
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(in), _mm256_mul_ps(halves8(head, 0), _mm256_set1_ps(a->d[b])), acc);
            if (TYPE == QTYPE_Q4_1) acc = _mm256_fmadd_ps(_mm256_set1_ps(a->dsum[b]), halves8(head, 1), acc);
        }
        const int nw = o1 - o < Q8_W2 ? (int)(o1 - o) : Q8_W2;
        _mm256_maskstore_ps(out + o, _mm256_cmpgt_epi32(_mm256_set1_epi32(nw), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
                            acc);
    }
}

static T_AVX2Q void rows_avx2q(const qmatrix *w, float *out, int64_t ldo, const q8_acts *a, int64_t o0, int64_t o1)
{
    if (a->n == 1) {
        switch (w->type) {
        case QTYPE_Q8_0: one_row_t(QTYPE_Q8_0, w, out, a, o0, o1); return;
        case QTYPE_Q4_0: one_row_t(QTYPE_Q4_0, w, out, a, o0, o1); return;
        default: one_row_t(QTYPE_Q4_1, w, out, a, o0, o1); return;
        }
    }
    switch (w->type) {
    case QTYPE_Q8_0: rows_avx2q_t(QTYPE_Q8_0, w, out, ldo, a, o0, o1); break;
    case QTYPE_Q4_0: rows_avx2q_t(QTYPE_Q4_0, w, out, ldo, a, o0, o1); break;
    default: rows_avx2q_t(QTYPE_Q4_1, w, out, ldo, a, o0, o1); break;
    }
}
#endif

void qmatmul_q8act_multi_cpu(int kern, float *const *out, const float *x, const qmatrix *const *w, int count, int n)
{
    if (!qmm_multi_fusable(w, count)) {
        for (int i = 0; i < count; i++) qmatmul_q8act_multi_cpu(kern, &out[i], x, &w[i], 1, n);
        return;
    }
    int64_t first[QMM_MULTI_MAX + 1];
    const int par = qmm_chunk_list(w, count, Q8_OCHUNK, first) >= Q8_PAR_MIN && !omp_in_parallel();
    #pragma omp parallel if (par)
    {
        q8_acts *a = q8_acts_for(n, w[0]->cols);
        for (int r = 0; r < n; r++) quantize_row(a, kern, w[0]->type, x + r * w[0]->cols, r);
        #pragma omp for schedule(static)
        for (int64_t ch = 0; ch < first[count]; ch++) {
            int64_t o0, o1;
            const int i = qmm_chunk_at(w, first, Q8_OCHUNK, ch, &o0, &o1);
            const qmatrix *wi = w[i];
            const int64_t O = wi->rows;
#if Q8_X86
            if (kern == QMM_Q8_VNNI) {
                rows_vnni(wi, out[i], O, a, o0, o1);
                continue;
            }
            if (kern == QMM_Q8_AVX2) {
                rows_avx2q(wi, out[i], O, a, o0, o1);
                continue;
            }
#endif
            rows_c(wi, out[i], O, a, o0, o1);
        }
    }
}

void qmatmul_q8act_cpu(int kern, float *out, const float *x, const qmatrix *w, int n)
{
    qmatmul_q8act_multi_cpu(kern, &out, x, &w, 1, n);
}
