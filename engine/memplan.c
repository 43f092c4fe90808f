/* memplan: the bytes of one sample (see memplan.h). The statistics follow compress_new's needs
 * analysis: the softmax rows of the largest window per score precision, H2O column sums per variant
 * (an upper bound when variants share a setting). */
#include "engine/memplan.h"

#include <stdlib.h>

#include "engine/layer_stats.h"
#include "kernels/scoring.h"

size_t mem_plan_reserve(size_t total_bytes)
{
    const char *env = getenv("KVBENCH_MEM_RESERVE");
    if (env && *env) return (size_t)strtoull(env, NULL, 10);
    size_t r = total_bytes / 20;
    return r > ((size_t)1 << 30) ? r : (size_t)1 << 30;
}

/* One layer's statistics (n_heads wide, floats) and the largest window, for the variants that
 * compress at L. */
static size_t stats_floats(const model_config *cfg, int L, const variant *vars, int nv, int *wmax_all)
{
    int wmax[LAYER_STATS_N_PREC] = {0};
    size_t h2o = 0;
    for (int i = 0; i < nv; i++) {
        method_needs nd;
        variant_needs(&vars[i], &nd);
        if (L < budget_resolve(vars[i].budget, L)) continue;
        if (nd.colsum_window > 0) h2o += (size_t)(L - nd.colsum_window);
        if (nd.window_rows > wmax[nd.window_prec]) wmax[nd.window_prec] = nd.window_rows;
    }
    size_t win = 0;
    *wmax_all = 0;
    for (int p = 0; p < LAYER_STATS_N_PREC; p++) {
        win += (size_t)wmax[p] * L;
        *wmax_all = wmax[p] > *wmax_all ? wmax[p] : *wmax_all;
    }
    return (size_t)cfg->n_heads * (win + h2o);
}

void mem_plan_sample(const model_config *cfg, int tp, int L, const variant *vars, int nv, int max_new, mem_plan *out)
{
    const size_t T = tp > 0 ? (size_t)tp : 1, layers = (size_t)cfg->n_layers, n = (size_t)L;
    const size_t H = (size_t)cfg->n_heads / T, kvd = (size_t)cfg->n_kv_heads / T * cfg->head_dim;
    const size_t qd = H * cfg->head_dim, F = (size_t)cfg->hidden_dim / T, chunk = n < 256 ? n : 256;
    out->prefix = 2 * sizeof(float) * layers * n * kvd;
    out->prefill = sizeof(float) * (3 * n * cfg->dim + 2 * n * qd + H * n + 2 * chunk * F);
    int wmax = 0;
    const size_t st = stats_floats(cfg, L, vars, nv, &wmax);
    /* the statistics, the selection's float and position scratch (n_heads × L each), its graphs */
    out->stats = st ? sizeof(float) * st + 3 * sizeof(float) * cfg->n_heads * n + 2 * sizeof(double) * wmax * n : 0;
    out->per_variant = 2 * sizeof(float) * layers * (size_t)max_new * kvd + sizeof(int) * layers * H * (n + 1);
    const size_t transient = out->prefill + out->stats, decode = (size_t)nv * out->per_variant;
    out->peak = out->prefix + (transient > decode ? transient : decode);
}
