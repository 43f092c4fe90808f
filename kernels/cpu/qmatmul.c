/* qmatmul (CPU): fused dequantize-dot kernels over weights in their storage format.
 *
 * out[r][o] = sum_k x[r][k] * W[o][k]. Each thread takes a range of output rows o; for each row it
 * walks the weights block by block (32 weights), dequantizes the block into registers once per
 * group of up to 4 activation rows (6 with AVX2) and accumulates with FMAs. A weight row (at most a
 * few KiB; with AVX2 the 16 rows of a call, the groups walking them in turn) stays in cache between
 * the groups, so memory reads each stored byte once per call. From MM_MANY (8) activation rows the
 * x86 versions dequantize 4 weight rows once into an fp32 buffer and run register tiles over them
 * instead (AVX2: rows of up to A2_TILE_MAX_K weights). The AVX-512
 * and AVX2 versions are compiled with target attributes and picked at run time; the C version is
 * the portable fallback. All three dequantize exactly as qtype_dequant_row: Q8_0/Q4_0 as
 * (float)q * d, Q4_1 as (float)q * d + m (no fused multiply-add, so the weights are the same
 * floats as ggml's) — except AVX2's product of one activation row (decode) with Q8_0/Q4_0/Q4_1
 * weights, which takes each block's d and m out of its sum (avx2_row1_q): with nothing to share the
 * dequantized block with, making its floats cost as much as the dot product. */
#include "kernels/qmatmul.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

#include "kernels/cpu/isa_targets.h"
#define QMM_X86 1
#else
#define QMM_X86 0
#endif

#define QMM_GROUP 4      /* activation rows per pass over a weight row (AVX-512, C) */
#define QMM_GROUP2 6     /* the same for AVX2: 12 accumulators, and a block dequantized once per 6 rows */
#define QMM_OCHUNK 16    /* output rows per OpenMP work unit */
#define QMM_PAR_MIN (1 << 15) /* weights below which one thread does the whole product */
#define ALWAYS_INLINE inline __attribute__((always_inline))

static const char *const isa_names[QMM_ISA_COUNT] = {"c", "avx2", "avx512"};

const char *qmm_isa_name(int isa) { return isa >= 0 && isa < QMM_ISA_COUNT ? isa_names[isa] : "?"; }

#if QMM_X86
/* F16C from CPUID leaf 1 (clang 14's __builtin_cpu_supports does not know "f16c"). */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

int qmm_isa_available(int isa)
{
    switch (isa) {
    case QMM_ISA_C: return 1;
#if QMM_X86
    case QMM_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case QMM_ISA_AVX512:
        if (KV_AVX512_EMULATED) return qmm_isa_available(QMM_ISA_AVX2);
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && qmm_isa_available(QMM_ISA_AVX2);
#endif
    default: return 0;
    }
}

int qmm_isa_default(void)
{
    static int chosen = -1;
    if (chosen >= 0) return chosen;
    int best = QMM_ISA_C;
    for (int i = QMM_ISA_COUNT - 1; i > 0; i--)
        if (qmm_isa_available(i)) {
            best = i;
            break;
        }
    const char *env = getenv("KVBENCH_CPU_ISA");
    if (env)
        for (int i = 0; i < QMM_ISA_COUNT; i++)
            if (!strcmp(env, isa_names[i]) && qmm_isa_available(i)) best = i;
    chosen = best;
    return best;
}

/* Bytes of the block (or 32-element chunk) b of a row. */
static ALWAYS_INLINE size_t block_offset(int type, int64_t b)
{
    switch (type) {
    case QTYPE_F32: return (size_t)b * 128;
    case QTYPE_F16: case QTYPE_BF16: return (size_t)b * 64;
    case QTYPE_Q8_0: return (size_t)b * 34;
    case QTYPE_Q4_0: return (size_t)b * 18;
    default: return (size_t)b * 20;
    }
}

/* The weights past the last whole 32-chunk of a float-type row (quantized rows have none). */
static float tail_dot(int type, const uint8_t *row, const float *x, int64_t k0, int64_t K)
{
    float w[QTYPE_BLOCK], s = 0;
    size_t es = type == QTYPE_F32 ? 4 : 2;
    qtype_dequant_row(type, row + (size_t)k0 * es, w, K - k0);
    for (int64_t k = k0; k < K; k++) s += w[k - k0] * x[k];
    return s;
}

/* Rows in the group starting at row r0 of n: groups of G, the last G + 1 as (G - 1) + 2, so that
 * only a product of one row has a group of one (its sums go differently: R = 1 below). */
static inline int group_rows_of(int G, int n, int r0)
{
    const int left = n - r0;
    return left == G + 1 ? G - 1 : left < G ? left : G;
}

static inline int group_rows(int n, int r0)
{
    return group_rows_of(QMM_GROUP, n, r0);
}

/* ---- portable C ---- */

static void rows_c(int type, float *out, int64_t ldo, const float *x, const qmatrix *w, int n, int64_t o0,
                   int64_t o1)
{
    const int64_t K = w->cols, nb = K / QTYPE_BLOCK;
    enum { RB = 32 }; /* activation rows per pass over a weight row */
    float acc[RB], wb[QTYPE_BLOCK];
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)o * w->row_bytes;
        for (int r0 = 0; r0 < n; r0 += RB) {
            const int nr = n - r0 < RB ? n - r0 : RB;
            const float *xg = x + r0 * K;
            for (int r = 0; r < nr; r++) acc[r] = 0;
            for (int64_t b = 0; b < nb; b++) {
                qtype_dequant_row(type, row + block_offset(type, b), wb, QTYPE_BLOCK);
                for (int r = 0; r < nr; r++) {
                    const float *xr = xg + r * K + b * QTYPE_BLOCK;
                    float s = 0;
                    for (int j = 0; j < QTYPE_BLOCK; j++) s += wb[j] * xr[j];
                    acc[r] += s;
                }
            }
            for (int r = 0; r < nr; r++) {
                float s = acc[r];
                if (nb * QTYPE_BLOCK < K) s += tail_dot(type, row, xg + r * K, nb * QTYPE_BLOCK, K);
                out[(r0 + r) * ldo + o] = s;
            }
        }
    }
}

#if QMM_X86
/* fn(TYPE, ...) with the qtype as a constant, so that an always-inline fn is compiled for each type. */
#define BY_TYPE(fn, type, ...)                                                                     \
    do {                                                                                           \
        switch (type) {                                                                            \
        case QTYPE_F32: fn(QTYPE_F32, __VA_ARGS__); break;                                         \
        case QTYPE_F16: fn(QTYPE_F16, __VA_ARGS__); break;                                         \
        case QTYPE_BF16: fn(QTYPE_BF16, __VA_ARGS__); break;                                       \
        case QTYPE_Q8_0: fn(QTYPE_Q8_0, __VA_ARGS__); break;                                       \
        case QTYPE_Q4_0: fn(QTYPE_Q4_0, __VA_ARGS__); break;                                       \
        default: fn(QTYPE_Q4_1, __VA_ARGS__); break;                                               \
        }                                                                                          \
    } while (0)

/* ---- The many-row versions (a batch of variants), AVX2 and AVX-512 ----
 * MM_TO weight rows at a time dequantized once into an fp32 buffer (L1), then register tiles of MM_TO
 * weight rows x MM_TR activation rows: each x vector loaded once for MM_TO rows and each weight once
 * per tile, where the groups dequantize every block again for each group of rows. */
#define MM_TO 4
#define MM_TR 3
#define MM_MANY 8 /* activation rows from which the tiles are used */

/* The fp32 buffer of MM_TO weight rows of K floats (per thread, grown as needed, kept for the thread's life). */
static float *tile_buffer(int64_t K)
{
    static _Thread_local float *buf;
    static _Thread_local int64_t cap;
    if (cap < K) free(buf), buf = kv_malloc(sizeof(float) * MM_TO * (size_t)K), cap = K;
    return buf;
}

/* The next tile's weight rows (after rows o .. o + MM_TO - 1 of o1) on their way from memory while
 * this one computes: between these bursts the hardware prefetcher stops, and the dequantization
 * waited on every line. */
static inline void prefetch_next_tile(const qmatrix *w, int64_t o, int64_t o1)
{
    if (o + MM_TO >= o1) return;
    const char *next = (const char *)w->data + (size_t)(o + MM_TO) * w->row_bytes;
    const size_t nbytes = (size_t)(o1 - o - MM_TO < MM_TO ? o1 - o - MM_TO : MM_TO) * w->row_bytes;
    for (size_t off = 0; off < nbytes; off += 64) _mm_prefetch(next + off, _MM_HINT_T0);
}

/* TILES(sfx, T, SPLIT): tile_rows_sfx and tiles_sfx, for target T, the dispatch of no (1 .. MM_TO)
 * dequantized weight rows wb against n activation rows to tile_sums(NO, NR, SPLIT, ...) with both
 * counts constant. */
#define TILES(sfx, T, SPLIT)                                                                                      \
    static ALWAYS_INLINE T void tile_rows_##sfx(int NO, int nr, float *out, int64_t ldo, const float *x,          \
                                                int64_t K, const float *wb, int type,                             \
                                                const uint8_t *const *rows)                                       \
    {                                                                                                             \
        switch (nr) {                                                                                             \
        case 1: tile_sums(NO, 1, SPLIT, out, ldo, x, K, wb, type, rows); break;                                   \
        case 2: tile_sums(NO, 2, SPLIT, out, ldo, x, K, wb, type, rows); break;                                   \
        default: tile_sums(NO, 3, SPLIT, out, ldo, x, K, wb, type, rows); break;                                  \
        }                                                                                                         \
    }                                                                                                             \
    static T void tiles_##sfx(int no, float *out, int64_t ldo, const float *x, int n, int64_t K,                  \
                              const float *wb, int type, const uint8_t *const *rows)                              \
    {                                                                                                             \
        for (int r0 = 0; r0 < n; r0 += MM_TR) {                                                                   \
            const int nr = n - r0 < MM_TR ? n - r0 : MM_TR;                                                       \
            float *og = out + r0 * ldo;                                                                           \
            const float *xg = x + r0 * K;                                                                         \
            switch (no) {                                                                                         \
            case 1: tile_rows_##sfx(1, nr, og, ldo, xg, K, wb, type, rows); break;                                \
            case 2: tile_rows_##sfx(2, nr, og, ldo, xg, K, wb, type, rows); break;                                \
            case 3: tile_rows_##sfx(3, nr, og, ldo, xg, K, wb, type, rows); break;                                \
            default: tile_rows_##sfx(4, nr, og, ldo, xg, K, wb, type, rows); break;                               \
            }                                                                                                     \
        }                                                                                                         \
    }

/* ---- AVX2 + FMA + F16C: a block is 4 vectors of 8 ---- */
#define T_AVX2 __attribute__((target("avx2,fma,f16c")))
#define T_AVX512 KV_T_AVX512

/* Quarters QA and QA + 1 of every block (its cache line QA / 2) for NO x NR outputs: each output's a
 * chain over the blocks in order, of both quarters in turn (SPLIT 0: acc[o][r][0], AVX2's sums) or of
 * each quarter (SPLIT 1: acc[o][r][q], the two 8-lane halves of AVX-512's 16-lane chain — 256-bit
 * FMAs, of which that CPU runs two a cycle at a higher clock against one 512-bit FMA). 12 accumulators
 * (AVX2), 3 x vectors and a weight vector: AVX2's 16 registers. */
static ALWAYS_INLINE T_AVX2 void tile_quarters(int NO, int NR, int QA, int SPLIT, __m256 acc[MM_TO][MM_TR][2],
                                               const float *x, int64_t K, const float *wb)
{
    const int64_t nb = K / QTYPE_BLOCK;
    #pragma GCC unroll 8
    for (int o = 0; o < NO; o++)
        #pragma GCC unroll 8
        for (int r = 0; r < NR; r++) acc[o][r][0] = acc[o][r][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        #pragma GCC unroll 2
        for (int q = 0; q < 2; q++) {
            const int64_t k = b * QTYPE_BLOCK + 8 * (QA + q);
            __m256 xv[MM_TR];
            #pragma GCC unroll 8
            for (int r = 0; r < NR; r++) xv[r] = _mm256_loadu_ps(x + r * K + k);
            #pragma GCC unroll 8
            for (int o = 0; o < NO; o++) {
                const __m256 wv = _mm256_loadu_ps(wb + o * K + k);
                #pragma GCC unroll 8
                for (int r = 0; r < NR; r++) acc[o][r][q * SPLIT] = _mm256_fmadd_ps(wv, xv[r], acc[o][r][q * SPLIT]);
            }
        }
    }
}

/* The half at p in all 8 lanes (a broadcast half, then 8 conversions). */
static ALWAYS_INLINE T_AVX2 __m256 avx2_half(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _mm256_cvtph_ps(_mm_set1_epi16((short)h));
}

/* The 32 quants of a Q8_0/Q4_0/Q4_1 block as floats, unscaled: Q8_0's -128..127, Q4's nibbles 0..15. */
static ALWAYS_INLINE T_AVX2 void avx2_quants(int type, const uint8_t *p, __m256 f[4])
{
    if (type == QTYPE_Q8_0) {
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++)
            f[i] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 2 + 8 * i))));
        return;
    }
    const int q0 = type == QTYPE_Q4_0 ? 2 : 4;
    /* bytes 0-7 and 8-15 widened to 32 bits as they are loaded: their low nibbles are values 0-7 and
     * 8-15, their high nibbles (a shift, the rest being zeros) values 16-23 and 24-31 */
    const __m256i b0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + q0)));
    const __m256i b1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + q0 + 8)));
    const __m256i m4 = _mm256_set1_epi32(0x0f);
    f[0] = _mm256_cvtepi32_ps(_mm256_and_si256(b0, m4));
    f[1] = _mm256_cvtepi32_ps(_mm256_and_si256(b1, m4));
    f[2] = _mm256_cvtepi32_ps(_mm256_srli_epi32(b0, 4));
    f[3] = _mm256_cvtepi32_ps(_mm256_srli_epi32(b1, 4));
}

static ALWAYS_INLINE T_AVX2 void avx2_block(int type, const uint8_t *p, __m256 w[4])
{
    switch (type) {
    case QTYPE_F32:
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++) w[i] = _mm256_loadu_ps((const float *)p + 8 * i);
        break;
    case QTYPE_BF16:
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++)
            w[i] = _mm256_castsi256_ps(
                _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 16 * i))), 16));
        break;
    case QTYPE_F16:
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++) w[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * i)));
        break;
    case QTYPE_Q8_0: {
        const __m256 d = avx2_half(p);
        avx2_quants(type, p, w);
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++) w[i] = _mm256_mul_ps(w[i], d);
        break;
    }
    case QTYPE_Q4_0: {
        const __m256 d = avx2_half(p), eight = _mm256_set1_ps(8.0f);
        avx2_quants(type, p, w);
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++) w[i] = _mm256_mul_ps(_mm256_sub_ps(w[i], eight), d); /* q - 8 is exact */
        break;
    }
    case QTYPE_Q4_1: {
        const __m256 d = avx2_half(p), m = avx2_half(p + 2);
        avx2_quants(type, p, w);
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++) w[i] = _mm256_add_ps(_mm256_mul_ps(w[i], d), m);
        break;
    }
    default: /* unreachable: every qtype is handled above */
        for (int i = 0; i < 4; i++) w[i] = _mm256_setzero_ps();
        break;
    }
}

static ALWAYS_INLINE T_AVX2 float avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* R activation rows (x, stride K) against one weight row; NA accumulators per row (4 when R = 1
 * to hide the FMA latency, else 2: weights 0-15 of every block in the first, 16-31 in the second,
 * a cache line of the block each, which is how the tiles' two passes split it). */
static ALWAYS_INLINE T_AVX2 void avx2_group(int type, int R, float *out, int64_t ldo, const float *x, int64_t K,
                                            const uint8_t *row)
{
    const int NA = R == 1 ? 4 : 2;
    const int64_t nb = K / QTYPE_BLOCK;
    __m256 acc[QMM_GROUP2][4];
    #pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 8
        for (int a = 0; a < NA; a++) acc[r][a] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256 w[4];
        avx2_block(type, row + block_offset(type, b), w);
        #pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const float *xr = x + r * K + b * QTYPE_BLOCK;
            #pragma GCC unroll 8
            for (int i = 0; i < 4; i++) {
                const int a = i * NA / 4;
                acc[r][a] = _mm256_fmadd_ps(w[i], _mm256_loadu_ps(xr + 8 * i), acc[r][a]);
            }
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        __m256 s = acc[r][0];
        for (int a = 1; a < NA; a++) s = _mm256_add_ps(s, acc[r][a]);
        float t = avx2_hsum(s);
        if (nb * QTYPE_BLOCK < K) t += tail_dot(type, row, x + r * K, nb * QTYPE_BLOCK, K);
        out[r * ldo] = t;
    }
}

/* Lane sums of each block of x (xs[8 b .. 8 b + 8): its 4 vectors added), for avx2_row1_q; in the
 * calling thread's buffer, grown as needed and kept for its life. */
static T_AVX2 const float *avx2_block_sums(const float *x, int64_t K)
{
    static _Thread_local float *xs;
    static _Thread_local int64_t cap;
    const int64_t nb = K / QTYPE_BLOCK;
    if (cap < nb) free(xs), xs = kv_malloc(sizeof(float) * 8 * nb), cap = nb;
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + b * QTYPE_BLOCK;
        const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
                                       _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24)));
        _mm256_storeu_ps(xs + 8 * b, s);
    }
    return xs;
}

/* acc + block b (at p) times its 32 activations in x (lane sums at xs + 8 b): avx2_row1_q's step. */
static ALWAYS_INLINE T_AVX2 __m256 avx2_row1_block(int type, __m256 acc, const uint8_t *p, const float *x,
                                                  const float *xs, int64_t b)
{
    const float *xb = x + b * QTYPE_BLOCK;
    __m256 f[4];
    avx2_quants(type, p, f);
    /* two short chains, so that consecutive blocks overlap */
    __m256 s = _mm256_mul_ps(f[0], _mm256_loadu_ps(xb)), t = _mm256_mul_ps(f[2], _mm256_loadu_ps(xb + 16));
    s = _mm256_fmadd_ps(f[1], _mm256_loadu_ps(xb + 8), s);
    t = _mm256_fmadd_ps(f[3], _mm256_loadu_ps(xb + 24), t);
    s = _mm256_add_ps(s, t);
    if (type == QTYPE_Q4_0) s = _mm256_fmadd_ps(_mm256_set1_ps(-8.0f), _mm256_loadu_ps(xs + 8 * b), s);
    acc = _mm256_fmadd_ps(s, avx2_half(p), acc);
    if (type == QTYPE_Q4_1) acc = _mm256_fmadd_ps(avx2_half(p + 2), _mm256_loadu_ps(xs + 8 * b), acc);
    return acc;
}

/* One activation row against one Q8_0/Q4_0/Q4_1 weight row with each block's scale taken out of its
 * sum: Σ x (d q + m) = d Σ q x + m Σ x (Q4_0: m = -8 d). A product of one row (decode) makes each
 * block's floats for a single use, so the multiply and add per weight that make them cost as much
 * as the dot product itself; here a block costs one multiply-add for d and one for m instead,
 * with its lane sums xs (avx2_block_sums). The floats are not the dequantized weights', so the sum
 * rounds differently, within the same tolerance. */
static ALWAYS_INLINE T_AVX2 float avx2_row1_q(int type, const float *x, int64_t K, const uint8_t *row,
                                             const float *xs)
{
    const int64_t nb = K / QTYPE_BLOCK;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b += 2) { /* blocks in pairs, one accumulator each, held in registers */
        #pragma GCC unroll 2
        for (int i = 0; i < 2; i++)
            if (b + i < nb) acc[i] = avx2_row1_block(type, acc[i], row + block_offset(type, b + i), x, xs, b + i);
    }
    return avx2_hsum(_mm256_add_ps(acc[0], acc[1]));
}

/* A row dequantized into out (the type a constant where this is inlined). */
static ALWAYS_INLINE T_AVX2 void dequant_avx2_t(int type, const uint8_t *row, float *out, int64_t K)
{
    const int64_t nb = K / QTYPE_BLOCK;
    for (int64_t b = 0; b < nb; b++) {
        __m256 w[4];
        avx2_block(type, row + block_offset(type, b), w);
        #pragma GCC unroll 8
        for (int i = 0; i < 4; i++) _mm256_storeu_ps(out + b * QTYPE_BLOCK + 8 * i, w[i]);
    }
    if (nb * QTYPE_BLOCK < K)
        qtype_dequant_row(type, row + (size_t)nb * QTYPE_BLOCK * (type == QTYPE_F32 ? 4 : 2), out + nb * QTYPE_BLOCK,
                          K - nb * QTYPE_BLOCK);
}

static T_AVX2 void dequant_avx2(int type, const uint8_t *row, float *out, int64_t K)
{
    dequant_avx2_t(type, row, out, K);
}

/* The sum of a 16-lane accumulator held as two halves (lanes 0-7, 8-15), in _mm512_reduce_add_ps's
 * order: upper half + lower half, then the 128-bit halves, then pairs. */
static ALWAYS_INLINE T_AVX2 float reduce16(__m256 lo, __m256 hi)
{
    const __m256 t3 = _mm256_add_ps(hi, lo);
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
    const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, _MM_SHUFFLE(0, 1, 0, 1)));
}

/* NO x NR outputs of the dequantized weight rows wb: each output's two chains (a block's first and second
 * cache lines), added, then reduced — SPLIT 0: avx2_group's sums for R > 1 (avx2_hsum); SPLIT 1:
 * avx512_group's (lanes 0-7 of the 16-lane halves are quarters 0 and 2, lanes 8-15 quarters 1 and 3;
 * reduce16) — so the bits do not depend on how the rows are grouped. */
static ALWAYS_INLINE T_AVX2 void tile_sums(int NO, int NR, int SPLIT, float *out, int64_t ldo, const float *x,
                                           int64_t K, const float *wb, int type, const uint8_t *const *rows)
{
    const int64_t nb = K / QTYPE_BLOCK;
    __m256 first[MM_TO][MM_TR][2], second[MM_TO][MM_TR][2];
    tile_quarters(NO, NR, 0, SPLIT, first, x, K, wb);
    tile_quarters(NO, NR, 2, SPLIT, second, x, K, wb);
    #pragma GCC unroll 8
    for (int o = 0; o < NO; o++)
        #pragma GCC unroll 8
        for (int r = 0; r < NR; r++) {
            float t = SPLIT ? reduce16(_mm256_add_ps(first[o][r][0], second[o][r][0]),
                                       _mm256_add_ps(first[o][r][1], second[o][r][1]))
                            : avx2_hsum(_mm256_add_ps(first[o][r][0], second[o][r][0]));
            if (nb * QTYPE_BLOCK < K) t += tail_dot(type, rows[o], x + r * K, nb * QTYPE_BLOCK, K);
            out[r * ldo + o] = t;
        }
}

/* The AVX2 tiles for rows of at most this many weights. A tile's 4 dequantized weight rows stay in L1
 * while every activation row streams past them from L2: for SmolLM2's rows of 576 that costs less
 * than the group kernel's dequantizing every block again for each group of 6 rows (bench_q8_stream
 * 1536 576 21 160 f32, 2 threads: 1.25x faster), for its 1,536 (the weight rows 24 KiB of the
 * 32 KiB L1) more (576 1536 21 160: 0.94x). */
#define A2_TILE_MAX_K 1024

TILES(avx2, T_AVX2, 0)
TILES(avx512, T_AVX512, 1)

/* The many-row version: MM_TO weight rows at a time dequantized once into the tile buffer, then the
 * tiles — SPLIT 1 with avx512_group's sums (called only where AVX-512 is), 0 with avx2_group's. */
static ALWAYS_INLINE T_AVX2 void many_t(int type, int SPLIT, float *out, int64_t ldo, const float *x, const qmatrix *w,
                                        int n, int64_t o0, int64_t o1)
{
    const int64_t K = w->cols;
    float *wb = tile_buffer(K);
    for (int64_t o = o0; o < o1; o += MM_TO) {
        const int no = o1 - o < MM_TO ? (int)(o1 - o) : MM_TO;
        prefetch_next_tile(w, o, o1);
        const uint8_t *rows[MM_TO];
        for (int i = 0; i < no; i++) {
            rows[i] = (const uint8_t *)w->data + (size_t)(o + i) * w->row_bytes;
            dequant_avx2_t(type, rows[i], wb + i * K, K);
        }
        if (SPLIT)
            tiles_avx512(no, out + o, ldo, x, n, K, wb, type, rows);
        else
            tiles_avx2(no, out + o, ldo, x, n, K, wb, type, rows);
    }
}

/* Activation groups outside, weight rows inside: a group's rows (6 x K floats) stay in L1 for the
 * o1 - o0 weight rows of the call instead of every weight row walking all n rows from L2. */
static ALWAYS_INLINE T_AVX2 void avx2_rows_t(int type, float *out, int64_t ldo, const float *x, const float *xs,
                                             const qmatrix *w, int n, int64_t o0, int64_t o1)
{
    if (n >= MM_MANY && w->cols <= A2_TILE_MAX_K) {
        many_t(type, 0, out, ldo, x, w, n, o0, o1);
        return;
    }
    const int64_t K = w->cols;
    for (int r0 = 0, g; r0 < n; r0 += g) {
        const float *xg = x + r0 * K;
        g = group_rows_of(QMM_GROUP2, n, r0);
        if (g == 1 && (type == QTYPE_Q8_0 || type == QTYPE_Q4_0 || type == QTYPE_Q4_1)) { /* n = 1 */
            for (int64_t o = o0; o < o1; o++)
                out[r0 * ldo + o] = avx2_row1_q(type, xg, K, (const uint8_t *)w->data + (size_t)o * w->row_bytes, xs);
            continue;
        }
        for (int64_t o = o0; o < o1; o++) {
            const uint8_t *row = (const uint8_t *)w->data + (size_t)o * w->row_bytes;
            float *og = out + r0 * ldo + o;
            switch (g) {
            case 1: avx2_group(type, 1, og, ldo, xg, K, row); break;
            case 2: avx2_group(type, 2, og, ldo, xg, K, row); break;
            case 3: avx2_group(type, 3, og, ldo, xg, K, row); break;
            case 4: avx2_group(type, 4, og, ldo, xg, K, row); break;
            case 5: avx2_group(type, 5, og, ldo, xg, K, row); break;
            default: avx2_group(type, 6, og, ldo, xg, K, row); break;
            }
        }
    }
}

/* xs: row1_sums's block sums of x when n = 1 (Q4_0, Q4_1), else unused. */
static T_AVX2 void rows_avx2(int type, float *out, int64_t ldo, const float *x, const float *xs, const qmatrix *w,
                             int n, int64_t o0, int64_t o1)
{
    BY_TYPE(avx2_rows_t, type, out, ldo, x, xs, w, n, o0, o1);
}


/* ---- AVX-512: a block is 2 vectors of 16 ---- */

static ALWAYS_INLINE T_AVX512 void avx512_block(int type, const uint8_t *p, __m512 w[2])
{
    switch (type) {
    case QTYPE_F32:
        w[0] = _mm512_loadu_ps(p), w[1] = _mm512_loadu_ps(p + 64);
        break;
    case QTYPE_BF16:
        #pragma GCC unroll 8
        for (int i = 0; i < 2; i++)
            w[i] = _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + 32 * i))), 16));
        break;
    case QTYPE_F16:
        #pragma GCC unroll 8
        for (int i = 0; i < 2; i++) w[i] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32 * i)));
        break;
    case QTYPE_Q8_0: {
        uint16_t h;
        memcpy(&h, p, 2);
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
        #pragma GCC unroll 8
        for (int i = 0; i < 2; i++)
            w[i] = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2 + 16 * i)))), d);
        break;
    }
    case QTYPE_Q4_0:
    case QTYPE_Q4_1: {
        uint16_t h;
        memcpy(&h, p, 2);
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
        const int q0 = type == QTYPE_Q4_0 ? 2 : 4;
        const __m128i bytes = _mm_loadu_si128((const __m128i *)(p + q0)), m4 = _mm_set1_epi8(0x0f);
        __m512i q[2] = {_mm512_cvtepu8_epi32(_mm_and_si128(bytes, m4)),
                        _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), m4))};
        if (type == QTYPE_Q4_0) {
            #pragma GCC unroll 8
            for (int i = 0; i < 2; i++)
                w[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q[i], _mm512_set1_epi32(8))), d);
        } else {
            memcpy(&h, p + 2, 2);
            const __m512 m = _mm512_set1_ps(_cvtsh_ss(h));
            #pragma GCC unroll 8
            for (int i = 0; i < 2; i++) w[i] = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q[i]), d), m);
        }
        break;
    }
    default: /* unreachable: every qtype is handled above */
        w[0] = w[1] = _mm512_setzero_ps();
        break;
    }
}

/* As avx2_group; with one row, two blocks per iteration so that four FMA chains run. */
static ALWAYS_INLINE T_AVX512 void avx512_group(int type, int R, float *out, int64_t ldo, const float *x, int64_t K,
                                                const uint8_t *row)
{
    const int64_t nb = K / QTYPE_BLOCK;
    __m512 acc[QMM_GROUP][4];
    #pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 8
        for (int a = 0; a < 4; a++) acc[r][a] = _mm512_setzero_ps();
    int64_t b = 0;
    if (R == 1)
        for (; b + 1 < nb; b += 2) {
            __m512 w[4];
            avx512_block(type, row + block_offset(type, b), w);
            avx512_block(type, row + block_offset(type, b + 1), w + 2);
            const float *xr = x + b * QTYPE_BLOCK;
            #pragma GCC unroll 8
            for (int i = 0; i < 4; i++) acc[0][i] = _mm512_fmadd_ps(w[i], _mm512_loadu_ps(xr + 16 * i), acc[0][i]);
        }
    for (; b < nb; b++) {
        __m512 w[2];
        avx512_block(type, row + block_offset(type, b), w);
        #pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const float *xr = x + r * K + b * QTYPE_BLOCK;
            acc[r][0] = _mm512_fmadd_ps(w[0], _mm512_loadu_ps(xr), acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(w[1], _mm512_loadu_ps(xr + 16), acc[r][1]);
        }
    }
    #pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        __m512 s = _mm512_add_ps(acc[r][0], acc[r][1]);
        if (R == 1) s = _mm512_add_ps(s, _mm512_add_ps(acc[r][2], acc[r][3]));
        float t = _mm512_reduce_add_ps(s);
        if (nb * QTYPE_BLOCK < K) t += tail_dot(type, row, x + r * K, nb * QTYPE_BLOCK, K);
        out[r * ldo] = t;
    }
}

static ALWAYS_INLINE T_AVX512 void avx512_rows_t(int type, float *out, int64_t ldo, const float *x,
                                                 const qmatrix *w, int n, int64_t o0, int64_t o1)
{
    const int64_t K = w->cols;
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)o * w->row_bytes;
        for (int r0 = 0, g; r0 < n; r0 += g) {
            const float *xg = x + r0 * K;
            float *og = out + r0 * ldo + o;
            switch (g = group_rows(n, r0)) {
            case 1: avx512_group(type, 1, og, ldo, xg, K, row); break;
            case 2: avx512_group(type, 2, og, ldo, xg, K, row); break;
            case 3: avx512_group(type, 3, og, ldo, xg, K, row); break;
            default: avx512_group(type, 4, og, ldo, xg, K, row); break;
            }
        }
    }
}



/* The tiles from MM_MANY activation rows (every row: avx512_rows_t leaves none alone then), the 4-row
 * groups below. */
static ALWAYS_INLINE T_AVX512 void avx512_any_t(int type, float *out, int64_t ldo, const float *x, const qmatrix *w,
                                                int n, int64_t o0, int64_t o1)
{
    if (n >= MM_MANY)
        many_t(type, 1, out, ldo, x, w, n, o0, o1);
    else
        avx512_rows_t(type, out, ldo, x, w, n, o0, o1);
}

static T_AVX512 void rows_avx512(int type, float *out, int64_t ldo, const float *x, const qmatrix *w, int n,
                                 int64_t o0, int64_t o1)
{
    BY_TYPE(avx512_any_t, type, out, ldo, x, w, n, o0, o1);
}
#endif /* QMM_X86 */

/* The block sums avx2_row1_q needs (one activation row, Q4_0/Q4_1 weights, AVX2), made once per
 * thread and call for all its chunks; NULL where they are not needed. */
static const float *row1_sums(int isa, const qmatrix *w, const float *x, int n)
{
#if QMM_X86
    if (isa == QMM_ISA_AVX2 && n == 1 && (w->type == QTYPE_Q4_0 || w->type == QTYPE_Q4_1))
        return avx2_block_sums(x, w->cols);
#endif
    (void)isa, (void)w, (void)x, (void)n;
    return NULL;
}

int qmm_multi_fusable(const qmatrix *const *w, int count)
{
    if (count < 1 || count > QMM_MULTI_MAX) return 0;
    for (int i = 1; i < count; i++)
        if (w[i]->type != w[0]->type || w[i]->cols != w[0]->cols) return 0;
    return 1;
}

int64_t qmm_chunk_list(const qmatrix *const *w, int count, int64_t chunk, int64_t *first)
{
    int64_t work = 0;
    first[0] = 0;
    for (int i = 0; i < count; i++) {
        first[i + 1] = first[i] + (w[i]->rows + chunk - 1) / chunk;
        work += w[i]->rows * w[i]->cols;
    }
    return work;
}

/* Work unit ch of a call: its rows of one of the matrices. */
static void chunk_rows(int isa, float *const *out, const float *x, const float *xs, const qmatrix *const *w,
                       const int64_t *first, int n, int64_t ch)
{
    int64_t o0, o1;
    const int i = qmm_chunk_at(w, first, QMM_OCHUNK, ch, &o0, &o1);
    const qmatrix *wi = w[i];
    const int64_t O = wi->rows;
    switch (isa) {
#if QMM_X86
    case QMM_ISA_AVX512: rows_avx512(wi->type, out[i], O, x, wi, n, o0, o1); break;
    case QMM_ISA_AVX2: rows_avx2(wi->type, out[i], O, x, xs, wi, n, o0, o1); break;
#endif
    default: (void)xs, rows_c(wi->type, out[i], O, x, wi, n, o0, o1); break;
    }
}

void qmatmul_fused_multi_cpu(int isa, float *const *out, const float *x, const qmatrix *const *w, int count, int n)
{
    if (!qmm_multi_fusable(w, count)) {
        for (int i = 0; i < count; i++) qmatmul_fused_multi_cpu(isa, &out[i], x, &w[i], 1, n);
        return;
    }
    int64_t first[QMM_MULTI_MAX + 1];
    const int par = qmm_chunk_list(w, count, QMM_OCHUNK, first) >= QMM_PAR_MIN && !omp_in_parallel();
    #pragma omp parallel if (par)
    {
        const float *xs = row1_sums(isa, w[0], x, n);
        #pragma omp for schedule(static)
        for (int64_t ch = 0; ch < first[count]; ch++) chunk_rows(isa, out, x, xs, w, first, n, ch);
    }
}

void qmatmul_fused_cpu(int isa, float *out, const float *x, const qmatrix *w, int n)
{
    qmatmul_fused_multi_cpu(isa, &out, x, &w, 1, n);
}

void qmatrix_dequant_cpu(int isa, const qmatrix *w, float *out)
{
    const int64_t K = w->cols;
    #pragma omp parallel for schedule(static) if (w->rows * K >= QMM_PAR_MIN && !omp_in_parallel())
    for (int64_t o = 0; o < w->rows; o++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)o * w->row_bytes;
#if QMM_X86
        if (isa != QMM_ISA_C && w->type != QTYPE_F32) {
            dequant_avx2(w->type, row, out + o * K, K);
            continue;
        }
#endif
        (void)isa;
        qtype_dequant_row(w->type, row, out + o * K, K);
    }
}
