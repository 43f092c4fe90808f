/* AdaKV: a budget allocator over a scorer (kvpress AdaKVPress; AdaKV, arXiv 2407.11550). The
 * layer budget Hkv·C (C per KV head, as the other methods) is spread across KV heads by one
 * flattened top-k over all (head, position) scores, so heads with peaked scores give positions to
 * heads with flat ones; a safeguard first keeps the top max(1, floor(alpha_safeguard·C)) positions
 * of every head (none when alpha is 0; their scores raised to +inf, as AdaKVPress raises them to
 * the dtype's max). The
 * scorer is kvpress SnapKVPress by default (mean window attention, avg-pool, group mean; its
 * window always kept), or Knorm / KeyDiff (no window: set window 0). Per-head kept counts differ;
 * the invariant is the layer total H·C (kept_per_layer). Ties: the lower (head, position) in
 * head-major order wins. The query heads of a group read their KV head's set. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

enum { ADAKV_SNAPKV = 0, ADAKV_KNORM = 1, ADAKV_KEYDIFF = 2 };
static const char *const adakv_scorers[] = {"snapkv", "knorm", "keydiff", NULL};

static const method_knob adakv_knobs[] = {
    {"scorer", {ADAKV_SNAPKV, ADAKV_SNAPKV}, adakv_scorers, "scores spread across heads: snapkv, knorm or keydiff"},
    {"alpha_safeguard", {0.2, 0.2}, NULL, "each head keeps at least max(1, floor(alpha·C)) of its top positions (0: none)"},
    {"window", {64, 64}, NULL, "snapkv scorer: observation window W, always kept (0 for knorm/keydiff)"},
    {"kernel", {5, 5}, NULL, "snapkv scorer: avg-pool kernel over the window scores"},
};

static int adakv_check(const variant *v, const model_config *cfg)
{
    (void)cfg;
    int scorer, w, kernel;
    double alpha;
    if (method_knob_int(v, "scorer", 0, 2, &scorer) || method_knob_real(v, "alpha_safeguard", 0, 1, &alpha) ||
        method_knob_int(v, "window", 0, 1 << 20, &w) || method_knob_int(v, "kernel", 1, 1 << 20, &kernel))
        return KV_ERR;
    if (scorer == ADAKV_SNAPKV && (w < 1 || v->budget <= w)) {
        kv_seterr("AdaKV: the snapkv scorer needs 1 <= window < budget (window %d, budget %d)", w, v->budget);
        return KV_ERR;
    }
    if (scorer != ADAKV_SNAPKV && w != 0) {
        kv_seterr("AdaKV: the %s scorer keeps no window: set window 0 (got %d)", adakv_scorers[scorer], w);
        return KV_ERR;
    }
    return KV_OK;
}

/* The window rows (fp32) for its snapkv scorer, key norms or cosines for the others; the window is
 * always kept. */
static void adakv_needs(const variant *v, method_needs *out)
{
    int scorer = (int)variant_knob(v, "scorer");
    out->host = scorer == ADAKV_KNORM ? LAYER_NEED_KNORM : scorer == ADAKV_KEYDIFF ? LAYER_NEED_KEYCOS : 0;
    out->window_rows = out->keeps_last = (int)variant_knob(v, "window");
    out->window_prec = SCORE_FP32;
}

static int adakv_expected_kept(const variant *v, const model_config *cfg, int L, int layer)
{
    (void)layer;
    return cfg->n_heads * (L < v->budget ? L : v->budget);
}

static int adakv_select_layer(const variant *v, const struct layer_stats *st, int layer, kv_view *view)
{
    const int L = st->L, C = v->budget, Hkv = st->cfg->n_kv_heads, n_rep = view->n_heads / Hkv;
    const int scorer = (int)variant_knob(v, "scorer"), W = (int)variant_knob(v, "window");
    const int kernel = (int)variant_knob(v, "kernel");
    const double alpha = variant_knob(v, "alpha_safeguard");
    int n_safe = (int)(C * alpha); /* kvpress 0.5: at least one when alpha > 0 */
    if (alpha > 0 && n_safe < 1) n_safe = 1;
    if (L < C) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    const float *stat = scorer == ADAKV_KNORM ? st->knorm : scorer == ADAKV_KEYDIFF ? st->keycos : NULL;
    if (scorer != ADAKV_SNAPKV && !stat) {
        kv_seterr("AdaKV: layer %d: the %s statistics were not computed", layer, adakv_scorers[scorer]);
        return KV_ERR;
    }
    const long N = (long)Hkv * L;
    float *score = kv_malloc(sizeof(float) * (size_t)N), *scratch = kv_malloc(sizeof(float) * (size_t)N);
    int *idx = kv_malloc(sizeof(int) * (size_t)N), status = KV_OK;
    for (int g = 0; g < Hkv && status == KV_OK; g++) {
        float *s = score + (long)g * L;
        if (scorer == ADAKV_SNAPKV) status = press_snapkv_scores(s, st, g, n_rep, W, kernel);
        else
            for (int j = 0; j < L; j++) s[j] = -stat[(long)g * L + j]; /* knorm / keydiff: lowest kept */
        /* safeguard: the head's top n_safe (the window first: it scores +inf) are always kept */
        int m = topk_lowest_cpu(idx, s, L, n_safe, scratch);
        for (int t = 0; t < m; t++) s[idx[t]] = INFINITY;
    }
    if (status == KV_OK) {
        /* one flattened top-k of Hkv·C over (head, position), head-major; idx ascending */
        int m = topk_lowest_cpu(idx, score, (int)N, Hkv * C, scratch);
        for (int g = 0; g < Hkv; g++) {
            int *row0 = kv_view_row(view, layer, g * n_rep), n = 0;
            for (int t = 0; t < m; t++)
                if (idx[t] / L == g) row0[n++] = idx[t] % L;
            for (int r = 0; r < n_rep; r++) {
                if (r) memcpy(kv_view_row(view, layer, g * n_rep + r), row0, sizeof(int) * (size_t)n);
                view->len[layer * view->n_heads + g * n_rep + r] = n;
            }
        }
    } else {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", kv_lasterr());
        kv_seterr("AdaKV: layer %d: %s", layer, msg);
    }
    free(score);
    free(scratch);
    free(idx);
    return status;
}

const method_desc method_adakv = {
    .name = "adakv",
    .display = "AdaKV",
    .n_knobs = sizeof adakv_knobs / sizeof adakv_knobs[0],
    .knobs = adakv_knobs,
    .compresses = 1,
    .check = adakv_check,
    .expected_kept = adakv_expected_kept,
    .select_layer = adakv_select_layer,
    .needs = adakv_needs,
    .kept_per_layer = 1,
};
