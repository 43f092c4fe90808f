/* decode_attention (CPU): for each sequence and query head, softmax attention of the new query over
 * the kept prompt positions (read through the view, no copy) followed by the generated tail. */
#include "kernels/decode_attention.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

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
                const float *qv = q + ((long)b * H + h) * hd;
                const int *pos = sq->pos + (long)h * sq->cap;
                int np = sq->len[h], n = np + decode_seq_tail(sq), off = (h / n_rep) * hd;
                float m = -FLT_MAX;
                for (int j = 0; j < n; j++) {
                    const float *kr = j < np ? sq->k_prefix + (long)pos[j] * ks + off
                                             : sq->k_tail + (long)(j - np) * ks + off;
                    float d = 0;
                    for (int t = 0; t < hd; t++) d += qv[t] * kr[t];
                    sc[j] = d * scale;
                    m = sc[j] > m ? sc[j] : m;
                }
                double sum = 0;
                for (int j = 0; j < n; j++) sum += (sc[j] = expf(sc[j] - m));
                float inv = (float)(1.0 / sum);
                float *o = out + ((long)b * H + h) * hd;
                for (int t = 0; t < hd; t++) o[t] = 0;
                for (int j = 0; j < n; j++) {
                    const float *vr = j < np ? sq->v_prefix + (long)pos[j] * ks + off
                                             : sq->v_tail + (long)(j - np) * ks + off;
                    float p = sc[j] * inv;
                    for (int t = 0; t < hd; t++) o[t] += p * vr[t];
                }
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
