/* decode_attention (CPU): for each sequence and query head, softmax attention of the new query over
 * the kept prompt positions (read through the view, no copy) followed by the generated tail.
 *
 * Work unit: one sequence's KV head. Its query heads whose views coincide (same kept positions:
 * FullKV, StreamingLLM, CircuitKV's shared set, any method that keeps one set per KV head) are
 * served together: each key and value row is read once for all of them. Keys go in blocks of
 * DA_BLOCK rows, transposed into a small buffer, and each head's dot products run with one lane
 * per key: every lane accumulates q[t]·k[t] for t = 0..hd-1 in order with separate multiply and add,
 * i.e. exactly the scalar loop's rounding. The result of a head never depends on the others, the
 * batch or the grouping (batched and one-by-one decoding agree bit for bit). */
#include "kernels/decode_attention.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define DA_BLOCK 32 /* keys per transposed block: 8 vector accumulators of 4, or 4 of 8, or 2 of 16 */

/* The rows one group attends to: np kept prompt positions pos[] of KV head offset off, then the tail. */
typedef struct {
    const decode_seq *sq;
    const int *pos;
    int np, n, off, ks, hd;
} da_rows;

static inline const float *key_row(const da_rows *r, int j)
{
    return j < r->np ? r->sq->k_prefix + (long)r->pos[j] * r->ks + r->off
                     : r->sq->k_tail + (long)(j - r->np) * r->ks + r->off;
}

static inline const float *value_row(const da_rows *r, int j)
{
    return j < r->np ? r->sq->v_prefix + (long)r->pos[j] * r->ks + r->off
                     : r->sq->v_tail + (long)(j - r->np) * r->ks + r->off;
}

/* One thread's scratch: scores (n_rep, max_n), a transposed key block, the group's pointers. */
typedef struct {
    float *sc, *kt, *inv;
    const float **qg;
    float **og;
    int *done, max_n;
} da_scratch;

/* sc[g][j] = (q_g · k_j) * scale for the ng heads of one group, keys 0..n-1. kt: hd*DA_BLOCK. */
static void group_scores(float *sc, int sc_stride, const float *const *qg, int ng, const da_rows *r, float scale,
                         float *kt)
{
    const int hd = r->hd;
    for (int j0 = 0; j0 < r->n; j0 += DA_BLOCK) {
        int nb = r->n - j0 < DA_BLOCK ? r->n - j0 : DA_BLOCK;
        for (int l = 0; l < nb; l++) {
            const float *kr = key_row(r, j0 + l);
            for (int t = 0; t < hd; t++) kt[t * DA_BLOCK + l] = kr[t];
        }
        for (int g = 0; g < ng; g++) {
            float acc[DA_BLOCK] = {0};
            for (int t = 0; t < hd; t++) {
                const float qt = qg[g][t], *col = kt + t * DA_BLOCK;
#pragma omp simd
                for (int l = 0; l < DA_BLOCK; l++) acc[l] += qt * col[l];
            }
            for (int l = 0; l < nb; l++) sc[(long)g * sc_stride + j0 + l] = acc[l] * scale;
        }
    }
}

/* Softmax of each head's scores in place (sum in double, as before), then o_g = Σ_j p_g[j] v_j with
 * each value row read once for the group. */
static void group_values(float *const *og, float *sc, int sc_stride, int ng, const da_rows *r, float *inv)
{
    const int hd = r->hd;
    for (int g = 0; g < ng; g++) {
        float *s = sc + (long)g * sc_stride, m = -FLT_MAX;
        for (int j = 0; j < r->n; j++) m = s[j] > m ? s[j] : m;
        double sum = 0;
        for (int j = 0; j < r->n; j++) sum += (s[j] = expf(s[j] - m));
        inv[g] = (float)(1.0 / sum);
        memset(og[g], 0, sizeof(float) * (size_t)hd);
    }
    for (int j = 0; j < r->n; j++) {
        const float *vr = value_row(r, j);
        for (int g = 0; g < ng; g++) {
            float p = sc[(long)g * sc_stride + j] * inv[g], *o = og[g];
#pragma omp simd
            for (int t = 0; t < hd; t++) o[t] += p * vr[t];
        }
    }
}

/* Query head h2 sees exactly the same kept prompt positions as h1. */
static int same_view(const decode_seq *sq, int h1, int h2)
{
    return sq->len[h1] == sq->len[h2] &&
           !memcmp(sq->pos + (long)h1 * sq->cap, sq->pos + (long)h2 * sq->cap, sizeof(int) * (size_t)sq->len[h1]);
}

/* The n_rep query heads of KV head kvh in sequence b, grouped by view. */
static void attend_kv_head(float *out, const float *q, const decode_seq *sq, int b, int kvh, int H, int n_rep,
                           int hd, da_scratch *w)
{
    const float scale = 1.0f / sqrtf((float)hd);
    memset(w->done, 0, sizeof(int) * (size_t)n_rep);
    for (int i = 0; i < n_rep; i++) {
        if (w->done[i]) continue;
        int h = kvh * n_rep + i, ng = 0;
        for (int i2 = i; i2 < n_rep; i2++) {
            int h2 = kvh * n_rep + i2;
            if (w->done[i2] || (i2 != i && !same_view(sq, h, h2))) continue;
            w->done[i2] = 1;
            w->qg[ng] = q + ((long)b * H + h2) * hd;
            w->og[ng++] = out + ((long)b * H + h2) * hd;
        }
        const da_rows r = {sq, sq->pos + (long)h * sq->cap, sq->len[h], sq->len[h] + decode_seq_tail(sq), kvh * hd,
                           (H / n_rep) * hd, hd};
        group_scores(w->sc, w->max_n, w->qg, ng, &r, scale, w->kt);
        group_values(w->og, w->sc, w->max_n, ng, &r, w->inv);
    }
}

void decode_attention_cpu(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd)
{
    const int n_rep = H / Hkv;
    int max_n = 1;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int n = seqs[b].len[h] + decode_seq_tail(&seqs[b]);
            max_n = n > max_n ? n : max_n;
        }
    }
#pragma omp parallel
    {
        da_scratch w = {.sc = kv_malloc(sizeof(float) * (size_t)max_n * (size_t)n_rep),
                        .kt = kv_malloc(sizeof(float) * (size_t)hd * DA_BLOCK),
                        .inv = kv_malloc(sizeof(float) * (size_t)n_rep),
                        .qg = kv_malloc(sizeof(float *) * (size_t)n_rep),
                        .og = kv_malloc(sizeof(float *) * (size_t)n_rep),
                        .done = kv_malloc(sizeof(int) * (size_t)n_rep),
                        .max_n = max_n};
#pragma omp for schedule(dynamic) collapse(2)
        for (int b = 0; b < B; b++)
            for (int g = 0; g < Hkv; g++) attend_kv_head(out, q, &seqs[b], b, g, H, n_rep, hd, &w);
        free(w.sc), free(w.kt), free(w.inv), free(w.qg), free(w.og), free(w.done);
    }
}

void decode_tail_store_cpu(const decode_seq *seqs, int B, const float *k_new, const float *v_new, int kv_dim)
{
    for (int b = 0; b < B; b++) {
        const long slot = (long)(decode_seq_tail(&seqs[b]) - 1) * kv_dim;
        memcpy(seqs[b].k_tail + slot, k_new + (long)b * kv_dim, sizeof(float) * kv_dim);
        memcpy(seqs[b].v_tail + slot, v_new + (long)b * kv_dim, sizeof(float) * kv_dim);
    }
}
