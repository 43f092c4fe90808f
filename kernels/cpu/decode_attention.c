/* decode_attention (CPU): for each sequence and query head, softmax attention of the new query over
 * the kept prompt positions (read through the view, no copy) followed by the generated tail.
 *
 * Every version gives the bits of the scalar loop (one key at a time: d = fmaf(q[t], k[t], d) in t
 * order, max, expf, a double sum, p = e * (1/sum), o[t] = fmaf(p, v[t], o[t]) in key order). Fused
 * multiply-adds round once where a multiply and an add round twice, and they are half the vector
 * instructions of the step's largest kernel (BENCHMARKS §5.7.4). The AVX-512 version puts
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
#define DA_DENSE_DIV 4  /* views keeping >= 1/DA_DENSE_DIV of the prompt take its dense scores */
#define ALWAYS_INLINE inline __attribute__((always_inline))
/* the scalar loops again where the CPU has FMA: fmaf becomes one instruction instead of a libm call */
#define T_FMA __attribute__((target("avx2,fma")))

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

/* Keys j..j+3 at once: four independent sums, each in the scalar loop's order, so the fused
 * multiply-adds overlap instead of waiting on one chain. Bit for bit one at a time. */
static ALWAYS_INLINE void scores4(float *sc, const float *qv, const da_rows *r, int j, float scale)
{
    const float *k0 = da_key(r, j), *k1 = da_key(r, j + 1), *k2 = da_key(r, j + 2), *k3 = da_key(r, j + 3);
    float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    for (int t = 0; t < r->hd; t++) {
        const float x = qv[t];
        d0 = fmaf(x, k0[t], d0);
        d1 = fmaf(x, k1[t], d1);
        d2 = fmaf(x, k2[t], d2);
        d3 = fmaf(x, k3[t], d3);
    }
    sc[j] = d0 * scale, sc[j + 1] = d1 * scale, sc[j + 2] = d2 * scale, sc[j + 3] = d3 * scale;
}

/* o += Σ p_j v_j over values j..j+3, added to each o[t] in the order j, j+1, j+2, j+3 (as one at a
 * time) with o[t] loaded and stored once. */
static ALWAYS_INLINE void values4(float *o, const float *p, const da_rows *r, int j)
{
    const float *v0 = da_value(r, j), *v1 = da_value(r, j + 1), *v2 = da_value(r, j + 2), *v3 = da_value(r, j + 3);
    const float p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3];
#pragma omp simd
    for (int t = 0; t < r->hd; t++) {
        float x = o[t];
        x = fmaf(p0, v0[t], x);
        x = fmaf(p1, v1[t], x);
        x = fmaf(p2, v2[t], x);
        x = fmaf(p3, v3[t], x);
        o[t] = x;
    }
}

/* Turn scores sc[0..n) into probabilities in place: max, expf, a double sum in key order, p = e * (1/sum). */
static ALWAYS_INLINE void softmax_probs(float *sc, int n)
{
    float m = -FLT_MAX;
    for (int j = 0; j < n; j++) m = sc[j] > m ? sc[j] : m;
    double sum = 0;
    for (int j = 0; j < n; j++) sum += (sc[j] = expf(sc[j] - m));
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++) sc[j] *= inv; /* p_j, as the scalar loop's sc[j] * inv */
}

static ALWAYS_INLINE void attend_head(float *o, const float *qv, const da_rows *r, float scale, float *sc)
{
    const int n = r->n, hd = r->hd;
    int j = 0;
    for (; j + 4 <= n; j += 4) scores4(sc, qv, r, j, scale);
    for (; j < n; j++) {
        const float *kr = da_key(r, j);
        float d = 0;
        for (int t = 0; t < hd; t++) d = fmaf(qv[t], kr[t], d);
        sc[j] = d * scale;
    }
    softmax_probs(sc, n);
    for (int t = 0; t < hd; t++) o[t] = 0;
    for (j = 0; j + 4 <= n; j += 4) values4(o, sc + j, r, j);
    for (; j < n; j++) {
        const float *vr = da_value(r, j);
#pragma omp simd
        for (int t = 0; t < hd; t++) o[t] = fmaf(sc[j], vr[t], o[t]);
    }
}

/* One query head at a time: portable, and compiled again for CPUs with FMA. */
static void attend_head_c(float *o, const float *qv, const da_rows *r, float scale, float *sc)
{
    attend_head(o, qv, r, scale, sc);
}

#if DA_X86
static T_FMA void attend_head_fma(float *o, const float *qv, const da_rows *r, float scale, float *sc)
{
    attend_head(o, qv, r, scale, sc);
}
#endif

#if DA_X86
#define T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* softmax_probs for NH heads at once (their rows sc[h] of n[h] scores), the max and the exponentials
 * 8 at a time (the same bits: a max is a max, exp8 is expf): the same steps per head, but the double sums, each a chain of adds in key order, run side by side. */
static ALWAYS_INLINE T_AVX512 void softmax_multi(int NH, float *const *sc, const int *n)
{
    double sum[DA_MAX_GROUP];
    int n_min = n[0];
    #pragma GCC unroll 4
    for (int h = 0; h < NH; h++) {
        float *s = sc[h];
        __m512 mv = _mm512_set1_ps(-FLT_MAX);
        int j = 0;
        for (; j + 16 <= n[h]; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + j));
        float m = _mm512_reduce_max_ps(mv);
        for (; j < n[h]; j++) m = s[j] > m ? s[j] : m;
        const __m256 mm = _mm256_set1_ps(m);
        for (j = 0; j + 8 <= n[h]; j += 8) exp8_store(s + j, _mm256_sub_ps(_mm256_loadu_ps(s + j), mm));
        for (; j < n[h]; j++) s[j] = expf(s[j] - m);
        sum[h] = 0;
        n_min = n[h] < n_min ? n[h] : n_min;
    }
    for (int j = 0; j < n_min; j++)
        #pragma GCC unroll 4
        for (int h = 0; h < NH; h++) sum[h] += sc[h][j];
    #pragma GCC unroll 4
    for (int h = 0; h < NH; h++) {
        float *s = sc[h];
        for (int j = n_min; j < n[h]; j++) sum[h] += s[j];
        const float inv = (float)(1.0 / sum[h]);
        const __m512 vi = _mm512_set1_ps(inv);
        int j = 0;
        for (; j + 16 <= n[h]; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), vi));
        for (; j < n[h]; j++) s[j] *= inv;
    }
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

/* 16 key rows of hd floats transposed into kt (hd x 16): element t of rows[i] at kt[t * 16 + i]. */
static ALWAYS_INLINE T_AVX512 void transpose_keys16(float *kt, const float *const *rows, int hd)
{
    for (int c = 0; c < hd; c += 16) {
        __m512 v[16];
        #pragma GCC unroll 16
        for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(rows[i] + c);
        tr16(v);
        #pragma GCC unroll 16
        for (int t = 0; t < 16; t++) _mm512_store_ps(kt + (size_t)(c + t) * 16, v[t]);
    }
}

/* Keys j0 .. j0 + DA_KB - 1 transposed into kt, DA_KB/16 blocks of hd x 16 floats: element t of key
 * j0 + 16 s + i at kt[(s * hd + t) * 16 + i]. Keys past n repeat key n - 1, and blocks wholly past n
 * are left as they were (their scores are not used). */
static T_AVX512 void gather_keys(float *kt, const da_rows *r, int j0)
{
    for (int s = 0; s < DA_KB / 16 && j0 + 16 * s < r->n; s++) {
        const float *rows[16];
        for (int i = 0; i < 16; i++) {
            const int j = j0 + 16 * s + i;
            rows[i] = da_key(r, j < r->n ? j : r->n - 1);
        }
        transpose_keys16(kt + (size_t)s * r->hd * 16, rows, r->hd);
    }
}

/* Prompt positions j0 .. j0 + DA_KB - 1 of one KV head (rows of ks floats from kbase, positions past
 * np repeating np - 1), transposed into kt as gather_keys does. */
static T_AVX512 void prefix_keys(float *kt, const float *kbase, int ks, int hd, int j0, int np)
{
    for (int s = 0; s < DA_KB / 16; s++) {
        const float *rows[16];
        for (int i = 0; i < 16; i++) {
            const int j = j0 + 16 * s + i;
            rows[i] = kbase + (long)(j < np ? j : np - 1) * ks;
        }
        transpose_keys16(kt + (size_t)s * hd * 16, rows, hd);
    }
}

/* Scores of keys j0 .. j0 + DA_KB - 1 for NH query heads: each lane the scalar dot product of one
 * key, fused multiply-adds in t order, then times scale. */
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
            for (int s = 0; s < DA_KB / 16; s++) acc[h][s] = _mm512_fmadd_ps(x, k[s], acc[h][s]);
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
            for (int i = 0; i < NV; i++) acc[h][i] = _mm512_fmadd_ps(x, vv[i], acc[h][i]);
        }
    }
    #pragma GCC unroll 16
    for (int h = 0; h < NH; h++)
        #pragma GCC unroll 4
        for (int i = 0; i < NV; i++) _mm512_storeu_ps(o[h] + c + 16 * i, acc[h][i]);
}

/* Scores of the np kept prompt positions of NH heads picked from their rows of all prompt scores. */
static ALWAYS_INLINE T_AVX512 void pick_scores(int NH, float *const *sc, const float *const *dense, const int *pos,
                                               int np)
{
    int j = 0;
    for (; j + 16 <= np; j += 16) {
        const __m512i ix = _mm512_loadu_si512(pos + j);
        #pragma GCC unroll 16
        for (int h = 0; h < NH; h++) _mm512_storeu_ps(sc[h] + j, _mm512_i32gather_ps(ix, dense[h], 4));
    }
    for (; j < np; j++)
        for (int h = 0; h < NH; h++) sc[h][j] = dense[h][pos[j]];
}

/* Probabilities of NH heads with n scores each (sc[h]). */
static ALWAYS_INLINE T_AVX512 void softmax_group(int NH, float *const *sc, int n, int exp_fast)
{
    if (!exp_fast) {
        for (int h = 0; h < NH; h++) softmax_probs(sc[h], n);
        return;
    }
    int ns[DA_MAX_GROUP];
    for (int h = 0; h < NH; h++) ns[h] = n;
    softmax_multi(NH, sc, ns);
}

/* NH query heads sharing the view r: scores (from dense, the heads' rows of all prompt scores, when
 * non-NULL: then only the tail's keys are read here), probabilities, values. */
static ALWAYS_INLINE T_AVX512 void group_nh(int NH, float *const *o, const float *const *qs, const da_rows *r,
                                            float scale, float *const *sc, float *kt, int exp_fast,
                                            const float *const *dense, int values)
{
    if (dense) {
        pick_scores(NH, sc, dense, r->pos, r->np);
        const da_rows tail = {r->sq, r->pos, 0, r->n - r->np, r->off, r->ks, r->hd};
        float *st[DA_MAX_GROUP];
        for (int h = 0; h < NH; h++) st[h] = sc[h] + r->np;
        for (int j0 = 0; j0 < tail.n; j0 += DA_KB) {
            gather_keys(kt, &tail, j0);
            scores_block(NH, st, qs, kt, r->hd, j0, scale);
        }
    } else {
        for (int j0 = 0; j0 < r->n; j0 += DA_KB) {
            gather_keys(kt, r, j0);
            scores_block(NH, sc, qs, kt, r->hd, j0, scale);
        }
    }
    if (!values) return; /* a head with a view of its own: values_singles takes its softmax too */
    softmax_group(NH, sc, r->n, exp_fast);
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
                                         float scale, float *const *sc, float *kt, int exp_fast,
                                         const float *const *dense)
{
    switch (nh) {
    case 1: group_nh(1, o, qs, r, scale, sc, kt, exp_fast, dense, 0); break; /* values: values_singles */
    case 2: group_nh(2, o, qs, r, scale, sc, kt, exp_fast, dense, 1); break;
    case 3: group_nh(3, o, qs, r, scale, sc, kt, exp_fast, dense, 1); break;
    default: group_nh(4, o, qs, r, scale, sc, kt, exp_fast, dense, 1); break;
    }
}

/* o[g][c .. c + 16 NV) = Σ_j p[g][j] v_j for NG query heads with views of their own (r[g]), each in
 * its own key order as values_chunk takes it: one head alone is a chain of adds waiting on each other
 * (4 vectors for hd = 64), so heads go side by side over their common length, then each finishes alone. */
static ALWAYS_INLINE T_AVX512 void values_multi(int NG, int NV, float *const *o, const float *const *p,
                                                const da_rows *const *r, int c)
{
    __m512 acc[DA_MAX_GROUP][4];
    int n_min = r[0]->n;
    #pragma GCC unroll 16
    for (int g = 0; g < NG; g++) {
        n_min = r[g]->n < n_min ? r[g]->n : n_min;
        #pragma GCC unroll 4
        for (int i = 0; i < NV; i++) acc[g][i] = _mm512_setzero_ps();
    }
    for (int j = 0; j < n_min; j++) {
        #pragma GCC unroll 16
        for (int g = 0; g < NG; g++) {
            const float *v = da_value(r[g], j) + c;
            const __m512 x = _mm512_set1_ps(p[g][j]);
            #pragma GCC unroll 4
            for (int i = 0; i < NV; i++) acc[g][i] = _mm512_fmadd_ps(x, _mm512_loadu_ps(v + 16 * i), acc[g][i]);
        }
    }
    #pragma GCC unroll 16
    for (int g = 0; g < NG; g++) {
        for (int j = n_min; j < r[g]->n; j++) {
            const float *v = da_value(r[g], j) + c;
            const __m512 x = _mm512_set1_ps(p[g][j]);
            #pragma GCC unroll 4
            for (int i = 0; i < NV; i++) acc[g][i] = _mm512_fmadd_ps(x, _mm512_loadu_ps(v + 16 * i), acc[g][i]);
        }
        #pragma GCC unroll 4
        for (int i = 0; i < NV; i++) _mm512_storeu_ps(o[g] + c + 16 * i, acc[g][i]);
    }
}

static ALWAYS_INLINE T_AVX512 void singles_ng(int NG, float *const *o, float *const *p, const da_rows *const *r,
                                              int exp_fast)
{
    int n[DA_MAX_GROUP];
    for (int g = 0; g < NG; g++) {
        n[g] = r[g]->n;
        if (!exp_fast) softmax_probs(p[g], n[g]);
    }
    if (exp_fast) softmax_multi(NG, p, n);
    for (int c = 0; c < r[0]->hd; c += 64) {
        switch ((r[0]->hd - c) / 16) {
        case 1: values_multi(NG, 1, o, (const float *const *)p, r, c); break;
        case 2: values_multi(NG, 2, o, (const float *const *)p, r, c); break;
        case 3: values_multi(NG, 3, o, (const float *const *)p, r, c); break;
        default: values_multi(NG, 4, o, (const float *const *)p, r, c); break;
        }
    }
}

/* The softmax and values of ng (1 .. DA_MAX_GROUP) query heads whose scores p[g] over views r[g] are
 * done (turned into probabilities in place). */
static T_AVX512 void values_singles(int ng, float *const *o, float *const *p, const da_rows *r, int exp_fast)
{
    const da_rows *rs[DA_MAX_GROUP];
    for (int g = 0; g < ng; g++) rs[g] = &r[g];
    switch (ng) {
    case 1: singles_ng(1, o, p, rs, exp_fast); break;
    case 2: singles_ng(2, o, p, rs, exp_fast); break;
    case 3: singles_ng(3, o, p, rs, exp_fast); break;
    default: singles_ng(4, o, p, rs, exp_fast); break;
    }
}

/* Scores of prompt positions j0 .. j0 + DA_KB - 1 (their keys transposed in kt) for the nq query
 * heads qs[], into their dense rows, DA_MAX_GROUP heads at a time. */
static T_AVX512 void dense_block(int nq, float *const *rows, const float *const *qs, const float *kt, int hd, int j0,
                                 float scale)
{
    for (int i = 0; i < nq; i += DA_MAX_GROUP) {
        switch (nq - i < DA_MAX_GROUP ? nq - i : DA_MAX_GROUP) {
        case 1: scores_block(1, rows + i, qs + i, kt, hd, j0, scale); break;
        case 2: scores_block(2, rows + i, qs + i, kt, hd, j0, scale); break;
        case 3: scores_block(3, rows + i, qs + i, kt, hd, j0, scale); break;
        default: scores_block(4, rows + i, qs + i, kt, hd, j0, scale); break;
        }
    }
}
#endif /* DA_X86 */

/* The query heads whose prompt scores are computed for every prompt position at once (AVX-512): per
 * KV head of each distinct prefix store, the heads that keep at least 1/DA_DENSE_DIV of the positions
 * up to the last one kept. Their keys are then read and transposed once a step for all of them (all
 * the variants of a prompt) instead of once per view, and the kept positions' scores picked out; a
 * score is the same dot product either way, so the bits do not change. */
typedef struct {
    const float *kbase; /* the KV head's column of the prefix store */
    int np;             /* positions scored: 0 .. np - 1 */
    int first, count;   /* its dense rows */
} da_dense_set;

typedef struct {
    int n_sets, n_rows, n_items, ld;
    da_dense_set *set;
    long *q_off;     /* per dense row: its query head's offset in q */
    int *row_of;     /* (B * H): dense row of query head (b, h), or -1 */
    int *item_set, *item_j0; /* per block of DA_KB positions to score: its set and first position */
    int *same_as;    /* (B * H): the first head of (b, h)'s KV head with the same view as (b, h) */
    /* bound to the call (plan_bind): */
    const float **q; /* per dense row: its query head */
    float **row;     /* per dense row: its scores (ld floats) */
} da_dense_plan;

#if DA_X86
/* The largest of pos[0..n), at least m (16 at a time: this runs over every long view each step). */
static T_AVX512 int max_position(const int *pos, int n, int m)
{
    __m512i mv = _mm512_set1_epi32(m);
    int j = 0;
    for (; j + 16 <= n; j += 16) mv = _mm512_max_epi32(mv, _mm512_loadu_si512(pos + j));
    m = _mm512_reduce_max_epi32(mv);
    for (; j < n; j++) m = pos[j] > m ? pos[j] : m;
    return m;
}
#else
static int max_position(const int *pos, int n, int m)
{
    for (int j = 0; j < n; j++) m = pos[j] > m ? pos[j] : m;
    return m;
}
#endif

/* Largest kept position + 1 among the heads of sequences with prefix k whose views are at least
 * min_len long. */
static int dense_extent(const decode_seq *seqs, int B, int H, const float *k, int min_len)
{
    int m = -1;
    for (int b = 0; b < B; b++) {
        if (seqs[b].k_prefix != k) continue;
        for (int h = 0; h < H; h++)
            if (seqs[b].len[h] >= min_len && seqs[b].len[h] > 0)
                m = max_position(seqs[b].pos + (long)h * seqs[b].cap, seqs[b].len[h], m);
    }
    return m + 1;
}

/* Marks the dense heads of the sequences with prefix k (those not marked yet) and returns the number
 * of positions to score; heads keep row -2 while their prefix is unplanned. */
static int dense_mark(const decode_seq *seqs, int B, int H, const float *k, int *row_of)
{
    int max_len = 0;
    for (int b = 0; b < B; b++) {
        if (seqs[b].k_prefix != k) continue;
        for (int h = 0; h < H; h++) max_len = seqs[b].len[h] > max_len ? seqs[b].len[h] : max_len;
    }
    const int np = dense_extent(seqs, B, H, k, (max_len + DA_DENSE_DIV - 1) / DA_DENSE_DIV);
    for (int b = 0; b < B; b++) {
        if (seqs[b].k_prefix != k) continue;
        for (int h = 0; h < H; h++) row_of[b * H + h] = np > 0 && (long)seqs[b].len[h] * DA_DENSE_DIV >= np ? 0 : -1;
    }
    return np;
}

/* Query heads a and b of a sequence keep the same prompt positions (the same row, or equal rows). */
static int same_view(const decode_seq *sq, int a, int b)
{
    if (sq->len[a] != sq->len[b]) return 0;
    const int *pa = sq->pos + (long)a * sq->cap, *pb = sq->pos + (long)b * sq->cap;
    return pa == pb || !memcmp(pa, pb, sizeof(int) * sq->len[a]);
}

/* same_as[b * H + h]: the first head of h's KV head in sequence b whose view equals h's. */
static void same_views(int *same_as, const decode_seq *seqs, int B, int H, int n_rep)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int first = h;
            for (int k = h - h % n_rep; k < h && first == h; k++)
                if (same_view(&seqs[b], k, h)) first = same_as[b * H + k];
            same_as[b * H + h] = first;
        }
}

static void dense_plan_build(da_dense_plan *pl, const decode_seq *seqs, int B, int H, int Hkv, int hd)
{
    const int n_rep = H / Hkv;
    memset(pl, 0, sizeof *pl);
    pl->row_of = kv_malloc(sizeof(int) * B * H);
    pl->set = kv_malloc(sizeof(da_dense_set) * B * Hkv);
    pl->q_off = kv_malloc(sizeof(long) * B * H);
    pl->same_as = kv_malloc(sizeof(int) * B * H);
    same_views(pl->same_as, seqs, B, H, n_rep);
    for (int i = 0; i < B * H; i++) pl->row_of[i] = -2;
    int *np_of = kv_malloc(sizeof(int) * B);
    for (int b = 0; b < B; b++) np_of[b] = pl->row_of[b * H] == -2 ? dense_mark(seqs, B, H, seqs[b].k_prefix, pl->row_of) : 0;
    for (int b = 0; b < B; b++) {        /* one set per (prefix, KV head), from the prefix's first sequence */
        if (np_of[b] == 0) continue;
        for (int g = 0; g < Hkv; g++) {
            da_dense_set *st = &pl->set[pl->n_sets];
            *st = (da_dense_set){seqs[b].k_prefix + (long)g * hd, np_of[b], pl->n_rows, 0};
            for (int c = b; c < B; c++) {
                if (seqs[c].k_prefix != seqs[b].k_prefix) continue;
                for (int h = g * n_rep; h < (g + 1) * n_rep; h++) {
                    if (pl->row_of[c * H + h] < 0) continue;
                    pl->row_of[c * H + h] = pl->n_rows;
                    pl->q_off[pl->n_rows++] = ((long)c * H + h) * hd;
                }
            }
            st->count = pl->n_rows - st->first;
            if (st->count == 0) continue;
            pl->n_sets++;
            pl->n_items += (st->np + DA_KB - 1) / DA_KB;
            pl->ld = st->np > pl->ld ? st->np : pl->ld;
        }
    }
    free(np_of);
    pl->ld = (pl->ld + DA_KB - 1) / DA_KB * DA_KB;
    pl->q = kv_malloc(sizeof(float *) * (pl->n_rows + 1));
    pl->row = kv_malloc(sizeof(float *) * (pl->n_rows + 1));
    pl->item_set = kv_malloc(sizeof(int) * (pl->n_items + 1));
    pl->item_j0 = kv_malloc(sizeof(int) * (pl->n_items + 1));
    for (int i = 0, it = 0; i < pl->n_sets; i++)
        for (int j0 = 0; j0 < pl->set[i].np; j0 += DA_KB) pl->item_set[it] = i, pl->item_j0[it++] = j0;
}

static void dense_plan_free(da_dense_plan *pl)
{
    free(pl->row_of), free(pl->set), free(pl->q_off), free(pl->same_as), free(pl->q), free(pl->row);
    free(pl->item_set), free(pl->item_j0);
}

/* The plan's query and score rows for this call: queries in q, scores in the calling thread's
 * buffer (grown as needed, kept for the thread's life). */
static void plan_bind(da_dense_plan *pl, const float *q)
{
    static _Thread_local float *s;
    static _Thread_local size_t cap;
    const size_t need = (size_t)pl->n_rows * pl->ld + 1;
    if (cap < need) free(s), s = kv_malloc(sizeof(float) * need), cap = need;
    for (int i = 0; i < pl->n_rows; i++) pl->q[i] = q + pl->q_off[i], pl->row[i] = s + (size_t)i * pl->ld;
}

/* Plans kept per view id (decode_seq.view_id: the same id, the same views), a slot each for the
 * layers of the batch being decoded: the plan and the equal-view test run once per batch and layer
 * instead of once per step (their scans were 2% of a batched step). */
#define DA_PLAN_SLOTS 256
typedef struct {
    unsigned long id;
    const decode_seq *seqs;
    int B, H, Hkv, hd;
    da_dense_plan pl;
} da_plan_slot;

/* The plan of this call's views: kept in a slot when they have an id, else built into *own (which
 * the caller frees). */
static da_dense_plan *plan_for(const decode_seq *seqs, int B, int H, int Hkv, int hd, da_dense_plan *own)
{
    const unsigned long id = seqs[0].view_id;
    for (int b = 1; b < B && id; b++)
        if (seqs[b].view_id != id) kv_die("decode attention: one call's sequences have different view ids");
    if (!id) {
        dense_plan_build(own, seqs, B, H, Hkv, hd);
        return own;
    }
    static _Thread_local da_plan_slot *slots;
    if (!slots) slots = kv_calloc(DA_PLAN_SLOTS, sizeof *slots);
    da_plan_slot *sl = &slots[id % DA_PLAN_SLOTS];
    if (sl->id != id || sl->seqs != seqs || sl->B != B || sl->H != H || sl->Hkv != Hkv || sl->hd != hd) {
        if (sl->id) dense_plan_free(&sl->pl);
        dense_plan_build(&sl->pl, seqs, B, H, Hkv, hd);
        *sl = (da_plan_slot){id, seqs, B, H, Hkv, hd, sl->pl};
    }
    return &sl->pl;
}

#if DA_X86
/* Work item it of the plan: the scores of its DA_KB prompt positions for all the set's dense heads. */
static T_AVX512 void dense_item(const da_dense_plan *pl, int it, float *kt, int ks, int hd, float scale)
{
    const da_dense_set *st = &pl->set[pl->item_set[it]];
    const int j0 = pl->item_j0[it];
    prefix_keys(kt, st->kbase, ks, hd, j0, st->np);
    dense_block(st->count, pl->row + st->first, pl->q + st->first, kt, hd, j0, scale);
}
#endif

/* The query heads h0 .. h0 + n_rep - 1 of one KV head (AVX-512): heads whose views coincide in
 * groups of up to DA_MAX_GROUP, each group reading its keys and values once. */
static void attend_kv_head(float *out, const float *q, const decode_seq *sq, int h0, int n_rep, int hd, int ks,
                           float scale, float *sc, size_t sc_n, float *kt, int exp_fast, const da_dense_plan *pl,
                           const int *row_of, const int *same_as)
{
#if DA_X86
    unsigned long long taken = 0;
    /* heads with views of their own: probabilities in sc slots DA_MAX_GROUP + k, values side by side */
    float *so[DA_MAX_GROUP], *sp[DA_MAX_GROUP];
    da_rows sr[DA_MAX_GROUP];
    int ns = 0;
    for (int i = 0; i < n_rep; i++) {
        if (taken >> i & 1) continue;
        float *o[DA_MAX_GROUP], *s[DA_MAX_GROUP];
        const float *qs[DA_MAX_GROUP], *dn[DA_MAX_GROUP];
        int nh = 0;
        for (int k = i; k < n_rep && nh < DA_MAX_GROUP; k++) {
            if (taken >> k & 1 || same_as[h0 + k] != same_as[h0 + i]) continue;
            taken |= 1ull << k;
            o[nh] = out + (long)(h0 + k) * hd, qs[nh] = q + (long)(h0 + k) * hd, s[nh] = sc + nh * sc_n;
            dn[nh] = row_of[h0 + k] >= 0 ? pl->row[row_of[h0 + k]] : NULL;
            nh++;
        }
        const int h = h0 + i;
        const da_rows r = {sq, sq->pos + (long)h * sq->cap, sq->len[h], sq->len[h] + decode_seq_tail(sq),
                           (h0 / n_rep) * hd, ks, hd};
        if (nh == 1) s[0] = sc + (DA_MAX_GROUP + ns) * sc_n;
        attend_group_avx512(nh, o, qs, &r, scale, s, kt, exp_fast, dn[0] ? dn : NULL);
        if (nh > 1) continue;
        so[ns] = o[0], sp[ns] = s[0], sr[ns++] = r;
        if (ns == DA_MAX_GROUP) values_singles(ns, so, sp, sr, exp_fast), ns = 0;
    }
    if (ns) values_singles(ns, so, sp, sr, exp_fast);
#else
    (void)out, (void)q, (void)sq, (void)h0, (void)n_rep, (void)hd, (void)ks, (void)scale, (void)sc, (void)sc_n;
    (void)kt, (void)exp_fast, (void)pl, (void)row_of, (void)same_as;
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
    /* whole key blocks, and one more for the tail's block after kept positions picked from dense rows */
    const size_t sc_n = ((size_t)max_n + DA_KB - 1) / DA_KB * DA_KB + DA_KB;
    da_dense_plan own = {0}, *pl = wide ? plan_for(seqs, B, H, Hkv, hd, &own) : &own;
    if (wide) plan_bind(pl, q);
#pragma omp parallel
    {
        float *sc = kv_malloc(sizeof(float) * sc_n * (wide ? 2 * DA_MAX_GROUP : 1));
        float *kt = wide ? aligned_alloc(64, sizeof(float) * DA_KB * hd) : NULL;
        if (wide && !kt) kv_die("out of memory (decode attention)");
        if (wide) memset(kt, 0, sizeof(float) * DA_KB * hd); /* blocks past a short tail stay zeros, not garbage */
#if DA_X86
#pragma omp for schedule(dynamic)
        for (int it = 0; it < pl->n_items; it++) dense_item(pl, it, kt, ks, hd, scale);
#endif
        /* KV head outermost: the work items that follow each other read the same KV head's rows of
         * the prefix (the sequences share it), which stay in cache between them */
#pragma omp for schedule(dynamic) collapse(2)
        for (int g = 0; g < Hkv; g++) {
            for (int b = 0; b < B; b++) {
                const decode_seq *sq = &seqs[b];
                if (wide) {
                    const long seq = (long)b * H * hd;
                    attend_kv_head(out + seq, q + seq, sq, g * n_rep, n_rep, hd, ks, scale, sc, sc_n, kt, exp_fast,
                                   pl, pl->row_of + b * H, pl->same_as + b * H);
                    continue;
                }
                for (int h = g * n_rep; h < (g + 1) * n_rep; h++) {
                    const da_rows r = {sq, sq->pos + (long)h * sq->cap, sq->len[h], sq->len[h] + decode_seq_tail(sq),
                                       g * hd, ks, hd};
                    float *o = out + ((long)b * H + h) * hd;
                    const float *qh = q + ((long)b * H + h) * hd;
#if DA_X86
                    if (isa != QMM_ISA_C) {
                        attend_head_fma(o, qh, &r, scale, sc);
                        continue;
                    }
#endif
                    attend_head_c(o, qh, &r, scale, sc);
                }
            }
        }
        free(sc), free(kt);
    }
    if (pl == &own) dense_plan_free(&own);
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
