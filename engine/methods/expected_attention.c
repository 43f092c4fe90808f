/* ExpectedAttention (kvpress ExpectedAttentionPress): score each key by the attention that future
 * queries are expected to pay it. Per layer: the mean μ_h and covariance Σ_h of the pre-RoPE
 * queries of positions sinks..L-1 (kvpress drops the first n_sink hidden states as outliers);
 * RoPE handled by the rotation R averaged over the next n_future positions L..L+n_future-1
 * (μ' = Rμ, Σ' = RΣRᵀ); z_j = μ'·k_j/√d + k_jᵀΣ'k_j/(2d) for j >= sinks (the Gaussian expectation
 * of exp(q·k/√d) up to the /√d on the quadratic term, as kvpress writes it), softmax over j, mean
 * over the KV group's query heads, times (· + epsilon)·||v_j||; the first `sinks` positions are
 * always kept (kvpress pads them with the maximum). Per KV head, no window. The query statistics
 * and value norms are per-layer statistics (LAYER_NEED_QSTATS, _VNORM) computed once on the host;
 * the per-variant part costs O(L·H·d²) with the covariance. */
#include <stdlib.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/press_scoring.h"

static const method_knob expected_attention_knobs[] = {
    {"n_future", {512, 512}, NULL, "future positions L..L+n_future-1 whose RoPE rotations are averaged"},
    {"sinks", {4, 4}, NULL, "first positions always kept and left out of the query statistics (n_sink)"},
    {"use_covariance", {1, 1}, NULL, "1: add the query covariance term k^T S k / (2d)"},
    {"use_vnorm", {1, 1}, NULL, "1: rescale the scores by the value norms, (score + epsilon)·||v||"},
    {"epsilon", {0, 0}, NULL, "added to the scores before the value-norm rescaling"},
};

static int expected_attention_check(const variant *v, const model_config *cfg)
{
    int nf, sinks, cov, vn;
    double eps;
    if (method_knob_int(v, "n_future", 1, 1 << 24, &nf) || method_knob_int(v, "sinks", 0, 1 << 20, &sinks) ||
        method_knob_int(v, "use_covariance", 0, 1, &cov) || method_knob_int(v, "use_vnorm", 0, 1, &vn) ||
        method_knob_real(v, "epsilon", 0, 1e6, &eps))
        return KV_ERR;
    if (v->budget <= sinks) {
        kv_seterr("ExpectedAttention: budget %d must exceed sinks %d", v->budget, sinks);
        return KV_ERR;
    }
    if (cfg->head_dim % 2) {
        kv_seterr("ExpectedAttention: head_dim %d must be even (RoPE pairs)", cfg->head_dim);
        return KV_ERR;
    }
    return KV_OK;
}

/* Query statistics after the sinks (and the keys), value norms when it rescales by them; the sinks
 * are always kept. */
static void expected_attention_needs(const variant *v, method_needs *out)
{
    out->host = LAYER_NEED_QSTATS | (variant_knob(v, "use_vnorm") == 1 ? LAYER_NEED_VNORM : 0);
    out->qstats_skip = out->keeps_first = (int)variant_knob(v, "sinks");
}

static int expected_attention_select_layer(const variant *v, const struct layer_stats *st, int layer,
                                           kv_view *view)
{
    const model_config *cfg = st->cfg;
    const int L = st->L, H = view->n_heads, Hkv = cfg->n_kv_heads, hd = cfg->head_dim, n_rep = H / Hkv;
    const int sinks = (int)variant_knob(v, "sinks"), nf = (int)variant_knob(v, "n_future");
    const int use_cov = variant_knob(v, "use_covariance") == 1, use_vn = variant_knob(v, "use_vnorm") == 1;
    const double eps = variant_knob(v, "epsilon");
    if (L < v->budget) {
        kv_view_keep_all(view, layer, L);
        return KV_OK;
    }
    const layer_stats_qstats *qs = layer_stats_qstats_find(st, sinks);
    if (!qs || !st->k || (use_vn && !st->vnorm)) {
        kv_seterr("ExpectedAttention: layer %d: query statistics (sinks %d), keys or value norms were not computed",
                  layer, sinks);
        return KV_ERR;
    }
#pragma omp parallel
    {
        float *score = kv_malloc(sizeof(float) * (size_t)L), *scratch = kv_malloc(sizeof(float) * (size_t)L);
#pragma omp for schedule(dynamic, 1)
        for (int g = 0; g < Hkv; g++) {
            press_expected_attention_cpu(score, qs->mean, use_cov ? qs->cov : NULL, st->k,
                                         use_vn ? st->vnorm + (long)g * L : NULL, L, H, Hkv, hd, g, st->inv_freq,
                                         nf, sinks, use_cov, eps);
            press_keep_kvhead(view, layer, g, n_rep, score, L, v->budget, scratch);
        }
        free(score);
        free(scratch);
    }
    return KV_OK;
}

const method_desc method_expected_attention = {
    .name = "expected_attention",
    .display = "ExpectedAttention",
    .n_knobs = sizeof expected_attention_knobs / sizeof expected_attention_knobs[0],
    .knobs = expected_attention_knobs,
    .compresses = 1,
    .check = expected_attention_check,
    .expected_kept = method_expected_budget,
    .select_layer = expected_attention_select_layer,
    .needs = expected_attention_needs,
};
