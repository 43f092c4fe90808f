/* press_common: what the kvpress-style plug-ins share (random, knorm, tova, keydiff,
 * expected_attention, adakv). kvpress scores and selects per KV head — scores (n_kv_heads, L) over
 * all L positions, positions a press always keeps padded with the maximum — and the query heads
 * of a group read their KV head's set. Here the always-kept positions score +inf, the top-k takes
 * the lowest position on ties (DESIGN §4), and the set is copied to the group's query heads. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

void press_keep_kvhead(kv_view *view, int layer, int g, int n_rep, const float *score, int L, int n_keep,
                       float *scratch)
{
    int *row0 = kv_view_row(view, layer, g * n_rep);
    int m = topk_lowest_cpu(row0, score, L, n_keep, scratch);
    for (int r = 0; r < n_rep; r++) {
        if (r) memcpy(kv_view_row(view, layer, g * n_rep + r), row0, sizeof(int) * (size_t)m);
        view->len[layer * view->n_heads + g * n_rep + r] = m;
    }
}

int press_keep_lowest(const variant *v, const struct layer_stats *st, int layer, kv_view *view, const float *stat,
                      const char *what)
{
    const int L = st->L, Hkv = st->cfg->n_kv_heads, n_rep = view->n_heads / Hkv;
    if (L < v->budget) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    if (!stat) {
        kv_seterr("%s: layer %d: %s were not computed", v->method->display, layer, what);
        return KV_ERR;
    }
    float *score = kv_malloc(sizeof(float) * (size_t)L), *scratch = kv_malloc(sizeof(float) * (size_t)L);
    for (int g = 0; g < Hkv; g++) {
        for (int j = 0; j < L; j++) score[j] = -stat[(long)g * L + j];
        press_keep_kvhead(view, layer, g, n_rep, score, L, v->budget, scratch);
    }
    free(score);
    free(scratch);
    return KV_OK;
}

double press_random_uniform(unsigned long long seed, int layer, int head, int L, int pos)
{
    /* splitmix64 over the packed coordinates: a stateless, platform-independent stream */
    uint64_t x = seed ^ ((uint64_t)(uint32_t)layer << 40) ^ ((uint64_t)(uint32_t)head << 20) ^ (uint64_t)(uint32_t)L;
    x = x * 0x9E3779B97F4A7C15ull + (uint64_t)(uint32_t)pos;
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

int press_snapkv_scores(float *out, const struct layer_stats *st, int g, int n_rep, int W, int kernel)
{
    const int L = st->L, n = L - W;
    float *a = kv_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)), *s = kv_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    double *acc = kv_calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    int status = KV_OK;
    for (int r = 0; r < n_rep && status == KV_OK; r++) {
        const float *p = layer_stats_window(st, g * n_rep + r, W, SCORE_FP32);
        if (!p) {
            status = KV_ERR;
            break;
        }
        /* kvpress SnapKVPress: mean over the window rows, avg_pool1d (zero padding k/2), then the
         * mean over the group's query heads */
        for (int j = 0; j < n; j++) {
            double x = 0;
            for (int t = 0; t < W; t++) x += p[(long)t * L + j];
            a[j] = (float)(x / W);
        }
        pool1d_avg_cpu(s, a, n, kernel);
        for (int j = 0; j < n; j++) acc[j] += s[j];
    }
    for (int j = 0; j < n; j++) out[j] = (float)(acc[j] / n_rep);
    for (int j = n > 0 ? n : 0; j < L; j++) out[j] = INFINITY; /* the observation window is kept */
    free(a), free(s), free(acc);
    if (status != KV_OK) kv_seterr("window softmax rows (W=%d) were not computed", W);
    return status;
}
