/* attention (CPU): causal GQA prefill attention in row blocks. Each block of query rows computes
 * its logits against keys 0..last row with sgemm, a masked softmax (recording the log-sum-exp) and
 * the weighted sum of values with a second sgemm — O(block·L) memory instead of L×L. */
#include "kernels/attention.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/expf_simd.h"
#include "util/util.h"

#define ATTN_BLOCK 64

void attention_prefill_cpu(float *out, float *lse, const float *q, const float *k, const float *v,
                           int L, int H, int Hkv, int hd)
{
    const int n_rep = H / Hkv, qs = H * hd, ks = Hkv * hd;
    const int n_blocks = (L + ATTN_BLOCK - 1) / ATTN_BLOCK;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        float *s = kv_malloc(sizeof(float) * ATTN_BLOCK * (size_t)L);
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int h = 0; h < H; h++) {
            for (int blk = n_blocks - 1; blk >= 0; blk--) { /* long blocks first */
                int r0 = blk * ATTN_BLOCK, nr = L - r0 < ATTN_BLOCK ? L - r0 : ATTN_BLOCK;
                int n_keys = r0 + nr, kvh = h / n_rep;
                /* s (nr, n_keys) = q_rows · K^T / sqrt(d) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, n_keys, hd, scale,
                            q + (long)r0 * qs + h * hd, qs, k + kvh * hd, ks, 0.0f, s, n_keys);
                for (int i = 0; i < nr; i++) {
                    float *row = s + (long)i * n_keys;
                    int last = r0 + i; /* causal: keys 0..last */
                    float m = -FLT_MAX;
                    for (int j = 0; j <= last; j++) m = row[j] > m ? row[j] : m;
                    double sum = 0;
                    expf_shifted_cpu(row, row, m, last + 1); /* expf(row[j] - m), 8 at a time */
                    for (int j = 0; j <= last; j++) sum += row[j];
                    float inv = (float)(1.0 / sum);
                    for (int j = 0; j <= last; j++) row[j] *= inv;
                    for (int j = last + 1; j < n_keys; j++) row[j] = 0.0f;
                    lse[(long)h * L + last] = m + (float)log(sum);
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, hd, n_keys, 1.0f, s, n_keys,
                            v + kvh * hd, ks, 0.0f, out + (long)r0 * qs + h * hd, qs);
            }
        }
        free(s);
    }
}
