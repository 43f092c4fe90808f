/* decode_attention (CPU): for each sequence and query head, softmax attention of the new query over
 * the kept prompt positions (read through the view, no copy) followed by the generated tail.
 *
 * Every version gives the bits of the scalar loop (one key at a time: d += q[t]*k[t] in t order,
 * max, expf, a double sum, p = e * (1/sum), o[t] += p*v[t] in key order). The AVX-512 version puts
 * 16 keys in the lanes of a vector (a 16x16 transpose of their rows), so that each lane runs the
 * scalar dot product in its own order, and takes the query heads of one KV head whose views
 * coincide (same kept positions: FullKV, StreamingLLM, CircuitKV's shared set) together, reading
 * each K and V row once for all of them. Heads with views of their own go one at a time. */
#include "kernels/decode_attention.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/expf_simd.h"
#include "kernels/qmatmul.h"
#include "util/util.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DA_X86 1
#else
#define DA_X86 0
#endif

#define DA_MAX_GROUP 4  /* query heads taken together (more sharing a view go in several groups) */
#define DA_KB 64        /* keys per block of the AVX-512 scores: four vectors of 16 */
#define DA_MAX_HD 256   /* head dims the AVX-512 version takes (multiples of 16) */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The rows of one query head: np kept prompt positions pos[] of the KV head at offset off, then the tail. */
typedef struct {
    const decode_seq *sq;
    const int *pos;
    int np, n, off, ks, hd;
} da_rows;

static inline const float *da_key(const da_rows *r, int j)
{
    return j < r->np ? r->sq->k_prefix + (long)r->pos[j] * r->ks + r->off
                     : r->sq->k_tail + (long)(j - r->np) * r->ks + r->off;
}

static inline const float *da_value(const da_rows *r, int j)
{
    return j < r->np ? r->sq->v_prefix + (long)r->pos[j] * r->ks + r->off
                     : r->sq->v_tail + (long)(j - r->np) * r->ks + r->off;
}

/* Keys j..j+3 at once: four independent sums, each in the scalar loop's order with separate
 * multiply and add, so the adds overlap instead of waiting on one chain. Bit for bit one at a time. */
static void scores4(float *sc, const float *qv, const da_rows *r, int j, float scale)
{
    const float *k0 = da_key(r, j), *k1 = da_key(r, j + 1), *k2 = da_key(r, j + 2), *k3 = da_key(r, j + 3);
    float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    for (int t = 0; t < r->hd; t++) {
        const float x = qv[t];
        d0 += x * k0[t];
        d1 += x * k1[t];
        d2 += x * k2[t];
        d3 += x * k3[t];
    }
    sc[j] = d0 * scale, sc[j + 1] = d1 * scale, sc[j + 2] = d2 * scale, sc[j + 3] = d3 * scale;
}

/* o += Σ p_j v_j over values j..j+3, added to each o[t] in the order j, j+1, j+2, j+3 (as one at a
 * time) with o[t] loaded and stored once. */
static void values4(float *o, const float *p, const da_rows *r, int j)
{
    const float *v0 = da_value(r, j), *v1 = da_value(r, j + 1), *v2 = da_value(r, j + 2), *v3 = da_value(r, j + 3);
    const float p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3];
#pragma omp simd
    for (int t = 0; t < r->hd; t++) {
        float x = o[t];
        x += p0 * v0[t];
        x += p1 * v1[t];
        x += p2 * v2[t];
        x += p3 * v3[t];
        o[t] = x;
    }
}

/* Turn scores sc[0..n) into probabilities in place: max, expf, a double sum in key order, p = e * (1/sum). */
static void softmax_probs(float *sc, int n)
{
    float m = -FLT_MAX;
    for (int j = 0; j < n; j++) m = sc[j] > m ? sc[j] : m;
    double sum = 0;
    for (int j = 0; j < n; j++) sum += (sc[j] = expf(sc[j] - m));
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++) sc[j] *= inv; /* p_j, as the scalar loop's sc[j] * inv */
}

static void attend_head(float *o, const float *qv, const da_rows *r, float scale, float *sc)
{
    const int n = r->n, hd = r->hd;
    int j = 0;
    for (; j + 4 <= n; j += 4) scores4(sc, qv, r, j, scale);
    for (; j < n; j++) {
        const float *kr = da_key(r, j);
        float d = 0;
        for (int t = 0; t < hd; t++) d += qv[t] * kr[t];
        sc[j] = d * scale;
    }
    softmax_probs(sc, n);
    for (int t = 0; t < hd; t++) o[t] = 0;
    for (j = 0; j + 4 <= n; j += 4) values4(o, sc + j, r, j);
    for (; j < n; j++) {
        const float *vr = da_value(r, j);
#pragma omp simd
        for (int t = 0; t < hd; t++) o[t] += sc[j] * vr[t];
    }
}

#if DA_X86
#define T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* softmax_probs with the max and the exponentials 8 at a time (the same bits: a max is a max, exp8 is
 * expf), the double sum still in key order. */
static T_AVX512 void softmax_probs_avx512(float *sc, int n)
{
    __m512 mv = _mm512_set1_ps(-FLT_MAX);
    int j = 0;
    for (; j + 16 <= n; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(sc + j));
    float m = _mm512_reduce_max_ps(mv);
    for (; j < n; j++) m = sc[j] > m ? sc[j] : m;
    const __m256 mm = _mm256_set1_ps(m);
    double sum = 0;
    for (j = 0; j + 8 <= n; j += 8) {
        exp8_store(sc + j, _mm256_sub_ps(_mm256_loadu_ps(sc + j), mm));
        #pragma GCC unroll 8
        for (int i = 0; i < 8; i++) sum += sc[j + i];
    }
    for (; j < n; j++) sum += (sc[j] = expf(sc[j] - m));
    const float inv = (float)(1.0 / sum);
    const __m512 vi = _mm512_set1_ps(inv);
    for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(sc + j, _mm512_mul_ps(_mm512_loadu_ps(sc + j), vi));
    for (; j < n; j++) sc[j] *= inv;
}

/* r[0..15] transposed in place: afterwards lane i of r[t] is what lane t of r[i] was. */
static ALWAYS_INLINE T_AVX512 void tr16(__m512 r[16])
{
    __m512 t[16];
    #pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* a0 b0 a1 b1 per 128-bit lane */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /* a2 b2 a3 b3 */
    }
    #pragma GCC unroll 16
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);         /* a0 b0 c0 d0 */
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);     /* a1 b1 c1 d1 */
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44); /* a2 .. d2 */
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee); /* a3 .. d3 */
    }
    #pragma GCC unroll 16
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);       /* columns i and i + 8, rows 0-7 */
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);   /* columns i + 4 and i + 12 */
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88); /* the same, rows 8-15 */
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    #pragma GCC unroll 16
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* Keys j0 .. j0 + DA_KB - 1 transposed into kt, DA_KB/16 blocks of hd x 16 floats: element t of key
 * j0 + 16 s + i at kt[(s * hd + t) * 16 + i]. Keys past n repeat key n - 1 (their scores are not used). */
static T_AVX512 void gather_keys(float *kt, const da_rows *r, int j0)
{
    const int hd = r->hd;
    for (int s = 0; s < DA_KB / 16; s++) {
        const float *rows[16];
        for (int i = 0; i < 16; i++) {
            const int j = j0 + 16 * s + i;
            rows[i] = da_key(r, j < r->n ? j : r->n - 1);
        }
        for (int c = 0; c < hd; c += 16) {
            __m512 v[16];
            #pragma GCC unroll 16
            for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(rows[i] + c);
            tr16(v);
            #pragma GCC unroll 16
            for (int t = 0; t < 16; t++) _mm512_store_ps(kt + ((size_t)s * hd + c + t) * 16, v[t]);
        }
    }
}

/* Scores of keys j0 .. j0 + DA_KB - 1 for NH query heads: each lane the scalar dot product of one
 * key, in t order with separate multiply and add, then times scale. */
static ALWAYS_INLINE T_AVX512 void scores_block(int NH, float *const *sc, const float *const *qs, const float *kt,
                                                int hd, int j0, float scale)
{
    __m512 acc[DA_MAX_GROUP][DA_KB / 16];
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++)
        #pragma GCC unroll 4
        for (int s = 0; s < DA_KB / 16; s++) acc[h][s] = _mm512_setzero_ps();
    for (int t = 0; t < hd; t++) {
        __m512 k[DA_KB / 16];
        #pragma GCC unroll 4
        for (int s = 0; s < DA_KB / 16; s++) k[s] = _mm512_load_ps(kt + ((size_t)s * hd + t) * 16);
        #pragma GCC unroll 16
        for (int h = 0; h < NH; h++) {
            const __m512 x = _mm512_set1_ps(qs[h][t]);
            #pragma GCC unroll 4
            for (int s = 0; s < DA_KB / 16; s++) acc[h][s] = _mm512_add_ps(acc[h][s], _mm512_mul_ps(x, k[s]));
        }
    }
    const __m512 vs = _mm512_set1_ps(scale);
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++)
        #pragma GCC unroll 4
        for (int s = 0; s < DA_KB / 16; s++) _mm512_storeu_ps(sc[h] + j0 + 16 * s, _mm512_mul_ps(acc[h][s], vs));
}

/* o[h][c .. c + 16 NV) = Σ_j p[h][j] v_j over every key in order, each V row read once for the NH heads. */
static ALWAYS_INLINE T_AVX512 void values_chunk(int NH, int NV, float *const *o, const float *const *p,
                                                const da_rows *r, int c)
{
    __m512 acc[DA_MAX_GROUP][4];
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++)
        #pragma GCC unroll 4
        for (int i = 0; i < NV; i++) acc[h][i] = _mm512_setzero_ps();
    for (int j = 0; j < r->n; j++) {
        const float *v = da_value(r, j) + c;
        __m512 vv[4];
        #pragma GCC unroll 4
        for (int i = 0; i < NV; i++) vv[i] = _mm512_loadu_ps(v + 16 * i);
        #pragma GCC unroll 16
        for (int h = 0; h < NH; h++) {
            const __m512 x = _mm512_set1_ps(p[h][j]);
            #pragma GCC unroll 4
            for (int i = 0; i < NV; i++) acc[h][i] = _mm512_add_ps(acc[h][i], _mm512_mul_ps(x, vv[i]));
        }
    }
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++)
        #pragma GCC unroll 4
        for (int i = 0; i < NV; i++) _mm512_storeu_ps(o[h] + c + 16 * i, acc[h][i]);
}

static ALWAYS_INLINE T_AVX512 void group_nh(int NH, float *const *o, const float *const *qs, const da_rows *r,
                                            float scale, float *const *sc, float *kt, int exp_fast)
{
    for (int j0 = 0; j0 < r->n; j0 += DA_KB) {
        gather_keys(kt, r, j0);
        scores_block(NH, sc, qs, kt, r->hd, j0, scale);
    }
    for (int h = 0; h < NH; h++) {
        if (exp_fast)
            softmax_probs_avx512(sc[h], r->n);
        else
            softmax_probs(sc[h], r->n);
    }
    for (int c = 0; c < r->hd; c += 64) {
        switch ((r->hd - c) / 16) {
        case 1: values_chunk(NH, 1, o, (const float *const *)sc, r, c); break;
        case 2: values_chunk(NH, 2, o, (const float *const *)sc, r, c); break;
        case 3: values_chunk(NH, 3, o, (const float *const *)sc, r, c); break;
        default: values_chunk(NH, 4, o, (const float *const *)sc, r, c); break;
        }
    }
}

/* nh (1 .. DA_MAX_GROUP) query heads with the same view r: outputs o[h], queries qs[h], scores sc[h]. */
static T_AVX512 void attend_group_avx512(int nh, float *const *o, const float *const *qs, const da_rows *r,
                                         float scale, float *const *sc, float *kt, int exp_fast)
{
    switch (nh) {
    case 1: group_nh(1, o, qs, r, scale, sc, kt, exp_fast); break;
    case 2: group_nh(2, o, qs, r, scale, sc, kt, exp_fast); break;
    case 3: group_nh(3, o, qs, r, scale, sc, kt, exp_fast); break;
    default: group_nh(4, o, qs, r, scale, sc, kt, exp_fast); break;
    }
}
#endif /* DA_X86 */

/* Query heads a and b of a sequence keep the same prompt positions (the same row, or equal rows). */
static int same_view(const decode_seq *sq, int a, int b)
{
    if (sq->len[a] != sq->len[b]) return 0;
    const int *pa = sq->pos + (long)a * sq->cap, *pb = sq->pos + (long)b * sq->cap;
    return pa == pb || !memcmp(pa, pb, sizeof(int) * sq->len[a]);
}

/* The query heads h0 .. h0 + n_rep - 1 of one KV head (AVX-512): heads whose views coincide in
 * groups of up to DA_MAX_GROUP, each group reading its keys and values once. */
static void attend_kv_head(float *out, const float *q, const decode_seq *sq, int h0, int n_rep, int hd, int ks,
                           float scale, float *sc, size_t sc_n, float *kt, int exp_fast)
{
#if DA_X86
    unsigned long long taken = 0;
    for (int i = 0; i < n_rep; i++) {
        if (taken >> i & 1) continue;
        float *o[DA_MAX_GROUP], *s[DA_MAX_GROUP];
        const float *qs[DA_MAX_GROUP];
        int nh = 0;
        for (int k = i; k < n_rep && nh < DA_MAX_GROUP; k++) {
            if (taken >> k & 1 || (k != i && !same_view(sq, h0 + i, h0 + k))) continue;
            taken |= 1ull << k;
            o[nh] = out + (long)(h0 + k) * hd, qs[nh] = q + (long)(h0 + k) * hd, s[nh] = sc + nh * sc_n;
            nh++;
        }
        const int h = h0 + i;
        const da_rows r = {sq, sq->pos + (long)h * sq->cap, sq->len[h], sq->len[h] + decode_seq_tail(sq),
                           (h0 / n_rep) * hd, ks, hd};
        attend_group_avx512(nh, o, qs, &r, scale, s, kt, exp_fast);
    }
#else
    (void)out, (void)q, (void)sq, (void)h0, (void)n_rep, (void)hd, (void)ks, (void)scale, (void)sc, (void)sc_n;
    (void)kt, (void)exp_fast;
#endif
}

void decode_attention_cpu_isa(int isa, float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv,
                              int hd)
{
    const int n_rep = H / Hkv, ks = Hkv * hd;
    const int wide = DA_X86 && isa == QMM_ISA_AVX512 && hd % 16 == 0 && hd <= DA_MAX_HD && n_rep <= 64;
    const float scale = 1.0f / sqrtf((float)hd);
    int max_n = 1;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int n = seqs[b].len[h] + decode_seq_tail(&seqs[b]);
            max_n = n > max_n ? n : max_n;
        }
    }
    int exp_fast = 0;
#if DA_X86
    if (wide) exp_fast = expf_simd_ok();
#endif
    const size_t sc_n = ((size_t)max_n + DA_KB - 1) / DA_KB * DA_KB; /* whole key blocks */
#pragma omp parallel
    {
        float *sc = kv_malloc(sizeof(float) * sc_n * (wide ? DA_MAX_GROUP : 1));
        float *kt = wide ? aligned_alloc(64, sizeof(float) * DA_KB * hd) : NULL;
        if (wide && !kt) kv_die("out of memory (decode attention)");
        /* KV head outermost: the work items that follow each other read the same KV head's rows of
         * the prefix (the sequences share it), which stay in cache between them */
#pragma omp for schedule(dynamic) collapse(2)
        for (int g = 0; g < Hkv; g++) {
            for (int b = 0; b < B; b++) {
                const decode_seq *sq = &seqs[b];
                if (wide) {
                    const long seq = (long)b * H * hd;
                    attend_kv_head(out + seq, q + seq, sq, g * n_rep, n_rep, hd, ks, scale, sc, sc_n, kt, exp_fast);
                    continue;
                }
                for (int h = g * n_rep; h < (g + 1) * n_rep; h++) {
                    const da_rows r = {sq, sq->pos + (long)h * sq->cap, sq->len[h], sq->len[h] + decode_seq_tail(sq),
                                       g * hd, ks, hd};
                    attend_head(out + ((long)b * H + h) * hd, q + ((long)b * H + h) * hd, &r, scale, sc);
                }
            }
        }
        free(sc), free(kt);
    }
}

void decode_attention_cpu(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd)
{
    decode_attention_cpu_isa(qmm_isa_default(), out, q, seqs, B, H, Hkv, hd);
}

void decode_tail_store_cpu(const decode_seq *seqs, int B, const float *k_new, const float *v_new, int kv_dim)
{
    for (int b = 0; b < B; b++) {
        const long slot = (long)(decode_seq_tail(&seqs[b]) - 1) * kv_dim;
        memcpy(seqs[b].k_tail + slot, k_new + (long)b * kv_dim, sizeof(float) * kv_dim);
        memcpy(seqs[b].v_tail + slot, v_new + (long)b * kv_dim, sizeof(float) * kv_dim);
    }
}
