/* decode_attention (CPU): for each sequence and query head, softmax attention of the new query over
 * the kept prompt positions (read through the view, no copy) followed by the generated tail.
 *
 * Every version gives the bits of the scalar loop (one key at a time: d = fmaf(q[t], k[t], d) in t
 * order, max, expf, a double sum, p = e * (1/sum), o[t] = fmaf(p, v[t], o[t]) in key order). Fused
 * multiply-adds round once where a multiply and an add round twice, and they are half the vector
 * instructions of the step's largest kernel (BENCHMARKS §5.7.4). The vector versions (AVX-512 and
 * AVX2, one body: kernels/cpu/decode_attention_wide.h) put 16 or 8 keys in the lanes of a vector (a
 * transpose of their rows), so that each lane runs the scalar dot product in its own order, and take
 * the query heads of one KV head whose views coincide (same kept positions: FullKV, StreamingLLM,
 * CircuitKV's shared set) together, reading each K and V row once for all of them. Heads with views
 * of their own go one at a time. */
#include "kernels/decode_attention.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/expf_avx2.h"
#include "kernels/cpu/expf_simd.h"
#include "kernels/qmatmul.h"
#include "util/util.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/isa_targets.h"
#define DA_X86 1
#else
#define DA_X86 0
#endif

#define DA_MAX_GROUP 4  /* query heads taken together (more sharing a view go in several groups) */
#define DA_KB 64        /* keys per block of the vector scores: 4 vectors of 16 or 8 of 8 */
#define DA_MAX_HD 256   /* head dims the vector versions take (multiples of their lanes) */
#define DA_AHEAD 8      /* keys ahead that a values pass fetches the rows of */
#define DA_DENSE_DIV 4  /* views keeping >= 1/DA_DENSE_DIV of the prompt take its dense scores */
#define ALWAYS_INLINE inline __attribute__((always_inline))
/* the scalar loops again where the CPU has FMA (fmaf one instruction instead of a libm call), and
 * the AVX2 vector version */
#define T_AVX2 __attribute__((target("avx2,fma")))

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
static T_AVX2 void attend_head_fma(float *o, const float *qv, const da_rows *r, float scale, float *sc)
{
    attend_head(o, qv, r, scale, sc);
}
#endif

/* The query heads whose prompt scores are computed for every prompt position at once (vector versions): per
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
/* The largest of pos[0..n), at least m (8 at a time: this runs over every long view once a batch and
 * layer; AVX2 is there whenever a vector version is). */
static T_AVX2 int max_position(const int *pos, int n, int m)
{
    __m256i mv = _mm256_set1_epi32(m);
    int j = 0;
    for (; j + 8 <= n; j += 8) mv = _mm256_max_epi32(mv, _mm256_loadu_si256((const __m256i *)(pos + j)));
    int lane[8];
    _mm256_storeu_si256((__m256i *)lane, mv);
    for (int i = 0; i < 8; i++) m = lane[i] > m ? lane[i] : m;
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

/* The vector version for one instruction set (kernels/cpu/decode_attention_wide.h, included below once
 * per set), chosen per call. */
typedef struct {
    int lanes; /* floats in a vector: the head dim must be a multiple */
    void (*dense_item)(const da_dense_plan *pl, int it, float *kt, int ks, int hd, float scale);
    void (*attend_kv_head)(float *out, const float *q, const decode_seq *sq, int h0, int n_rep, int hd, int ks,
                           float scale, float *sc, size_t sc_n, float *kt, int exp_fast, const da_dense_plan *pl,
                           const int *row_of, const int *same_as);
} da_wide;

#if DA_X86
#define T_AVX512 KV_T_AVX512

/* The 16x16 transpose's steps across 128-bit lanes, from its 4x4 blocks in r (t scratch). */
static ALWAYS_INLINE T_AVX512 void tr16_lanes(__m512 r[16], __m512 t[16])
{
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

/* AVX-512: 16 keys a vector; 32 registers hold a whole block (4 key vectors) for 4 heads, and 4 value
 * vectors for 4 heads, in one pass. */
#define DW(name) name##_avx512
#define DW_T T_AVX512
#define DW_F __m512
#define DW_I __m512i
#define DW_VL 16
#define DW_SB(nh) 4
#define DW_NV(nh) 4
#define dw_load _mm512_load_ps
#define dw_loadu _mm512_loadu_ps
#define dw_store _mm512_store_ps
#define dw_storeu _mm512_storeu_ps
#define dw_set1 _mm512_set1_ps
#define dw_zero _mm512_setzero_ps
#define dw_fmadd _mm512_fmadd_ps
#define dw_mul _mm512_mul_ps
#define dw_max _mm512_max_ps
#define dw_reduce_max _mm512_reduce_max_ps
#define dw_iloadu(p) _mm512_loadu_si512(p)
#define dw_gather(ix, base) _mm512_i32gather_ps(ix, base, 4)
#define dw_unpacklo _mm512_unpacklo_ps
#define dw_unpackhi _mm512_unpackhi_ps
#define dw_shuffle _mm512_shuffle_ps
#define dw_cross_lanes tr16_lanes
#define dw_exp8_store exp8_store
#include "kernels/cpu/decode_attention_wide.h"

/* The 8x8 transpose's step across the two 128-bit lanes: column i is the low halves of r[i] and
 * r[i + 4], column i + 4 their high halves. */
static ALWAYS_INLINE T_AVX2 void tr8_lanes(__m256 r[8], __m256 t[8])
{
    #pragma GCC unroll 8
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    #pragma GCC unroll 8
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

static ALWAYS_INLINE T_AVX2 float max8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/* AVX2: 8 keys a vector and 16 registers, so the passes narrow as heads are added, keeping 8
 * independent chains of fused multiply-adds (their latency over their throughput) where they fit:
 * 8 key or value vectors for one head, 4 for two, 2 for three or four. */
#define DW(name) name##_avx2
#define DW_T T_AVX2
#define DW_F __m256
#define DW_I __m256i
#define DW_VL 8
#define DW_SB(nh) ((nh) == 1 ? 8 : (nh) == 2 ? 4 : 2)
#define DW_NV(nh) ((nh) == 1 ? 8 : (nh) <= 3 ? 4 : 2)
#define dw_load _mm256_load_ps
#define dw_loadu _mm256_loadu_ps
#define dw_store _mm256_store_ps
#define dw_storeu _mm256_storeu_ps
#define dw_set1 _mm256_set1_ps
#define dw_zero _mm256_setzero_ps
#define dw_fmadd _mm256_fmadd_ps
#define dw_mul _mm256_mul_ps
#define dw_max _mm256_max_ps
#define dw_reduce_max max8
#define dw_iloadu(p) _mm256_loadu_si256((const __m256i *)(p))
#define dw_gather(ix, base) _mm256_i32gather_ps(base, ix, 4)
#define dw_unpacklo _mm256_unpacklo_ps
#define dw_unpackhi _mm256_unpackhi_ps
#define dw_shuffle _mm256_shuffle_ps
#define dw_cross_lanes tr8_lanes
#define dw_exp8_store exp8_store_avx2
#include "kernels/cpu/decode_attention_wide.h"

/* The vector version of isa, or NULL; *exp_fast: its exponentials 8 at a time give expf's bits here. */
static const da_wide *wide_for(int isa, int *exp_fast)
{
    *exp_fast = expf_wide_for(isa);
    switch (isa) {
    case QMM_ISA_AVX512: return &da_wide_avx512;
    case QMM_ISA_AVX2: return &da_wide_avx2;
    default: return NULL;
    }
}
#else
static const da_wide *wide_for(int isa, int *exp_fast)
{
    (void)isa, (void)exp_fast;
    return NULL;
}
#endif /* DA_X86 */

void decode_attention_cpu_isa(int isa, float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv,
                              int hd)
{
    const int n_rep = H / Hkv, ks = Hkv * hd;
    int exp_fast = 0;
    const da_wide *vw = wide_for(isa, &exp_fast);
    const int wide = vw && hd % vw->lanes == 0 && hd <= DA_MAX_HD && n_rep <= 64;
    const float scale = 1.0f / sqrtf((float)hd);
    int max_n = 1;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int n = seqs[b].len[h] + decode_seq_tail(&seqs[b]);
            max_n = n > max_n ? n : max_n;
        }
    }
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
#pragma omp for schedule(dynamic)
        for (int it = 0; it < (wide ? pl->n_items : 0); it++) vw->dense_item(pl, it, kt, ks, hd, scale);
        /* KV head outermost: the work items that follow each other read the same KV head's rows of
         * the prefix (the sequences share it), which stay in cache between them */
#pragma omp for schedule(dynamic) collapse(2)
        for (int g = 0; g < Hkv; g++) {
            for (int b = 0; b < B; b++) {
                const decode_seq *sq = &seqs[b];
                if (wide) {
                    const long seq = (long)b * H * hd;
                    vw->attend_kv_head(out + seq, q + seq, sq, g * n_rep, n_rep, hd, ks, scale, sc, sc_n, kt,
                                       exp_fast, pl, pl->row_of + b * H, pl->same_as + b * H);
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
