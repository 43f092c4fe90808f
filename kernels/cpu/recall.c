/* recall (CPU): the attention recall of each sequence and query head (kernels/recall.h), the oracle
 * of the CUDA twin: fp32 logits, exponentials summed in double, the evicted positions found by a walk
 * of the sorted kept list alongside the prompt. */
#include "kernels/recall.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "util/util.h"

static float recall_one(float *sc, const float *qv, const recall_seq *sq, int h, int ks, int off, int hd)
{
    const float scale = 1.0f / sqrtf((float)hd);
    const int L = sq->L, nt = recall_seq_tail(sq), n = L + nt;
    float m = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        const float *kr = j < L ? sq->k_prefix + (long)j * ks + off : sq->k_tail + (long)(j - L) * ks + off;
        float d = 0;
        for (int t = 0; t < hd; t++) d += qv[t] * kr[t];
        sc[j] = d * scale;
        m = sc[j] > m ? sc[j] : m;
    }
    const int *pos = sq->pos + (long)h * sq->cap, np = sq->len[h];
    double sum = 0, dropped = 0;
    for (int j = 0, k = 0; j < n; j++) {
        double p = exp((double)sc[j] - m);
        sum += p;
        if (j >= L) continue;
        if (k < np && pos[k] == j) k++;
        else dropped += p;
    }
    return (float)(1.0 - dropped / sum);
}

void attention_recall_cpu(float *out, const float *q, const recall_seq *seqs, int B, int H, int Hkv, int hd)
{
    const int n_rep = H / Hkv, ks = Hkv * hd;
    int max_n = 1;
    for (int b = 0; b < B; b++) {
        int n = seqs[b].L + recall_seq_tail(&seqs[b]);
        max_n = n > max_n ? n : max_n;
    }
#pragma omp parallel
    {
        float *sc = kv_malloc(sizeof(float) * max_n);
#pragma omp for schedule(dynamic) collapse(2)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                out[(long)b * H + h] = recall_one(sc, q + ((long)b * H + h) * hd, &seqs[b], h, ks, (h / n_rep) * hd, hd);
        free(sc);
    }
}
