/* decode_attention (CPU): for each sequence and query head, softmax attention of the new query over
 * the kept prompt positions (read through the view, no copy) followed by the generated tail. */
#include "kernels/decode_attention.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

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
    float m = -FLT_MAX;
    for (j = 0; j < n; j++) m = sc[j] > m ? sc[j] : m;
    double sum = 0;
    for (j = 0; j < n; j++) sum += (sc[j] = expf(sc[j] - m));
    float inv = (float)(1.0 / sum);
    for (j = 0; j < n; j++) sc[j] *= inv; /* p_j, as the scalar loop's sc[j] * inv */
    for (int t = 0; t < hd; t++) o[t] = 0;
    for (j = 0; j + 4 <= n; j += 4) values4(o, sc + j, r, j);
    for (; j < n; j++) {
        const float *vr = da_value(r, j);
#pragma omp simd
        for (int t = 0; t < hd; t++) o[t] += sc[j] * vr[t];
    }
}

void decode_attention_cpu(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd)
{
    const int n_rep = H / Hkv, ks = Hkv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    int max_n = 1;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int n = seqs[b].len[h] + decode_seq_tail(&seqs[b]);
            max_n = n > max_n ? n : max_n;
        }
    }
#pragma omp parallel
    {
        float *sc = kv_malloc(sizeof(float) * max_n);
#pragma omp for schedule(dynamic) collapse(2)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                const decode_seq *sq = &seqs[b];
                const da_rows r = {sq, sq->pos + (long)h * sq->cap, sq->len[h], sq->len[h] + decode_seq_tail(sq),
                                   (h / n_rep) * hd, ks, hd};
                attend_head(out + ((long)b * H + h) * hd, q + ((long)b * H + h) * hd, &r, scale, sc);
            }
        }
        free(sc);
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
