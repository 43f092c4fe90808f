/* kvview: allocation and small helpers for kept-position views. */
#include "engine/kvview.h"

#include "util/util.h"

#include <stdlib.h>

void kv_view_init(kv_view *v, int n_layers, int n_heads, int cap)
{
    v->n_layers = n_layers;
    v->n_heads = n_heads;
    v->cap = cap;
    v->len = kv_calloc((size_t)n_layers * n_heads, sizeof *v->len);
    v->pos = kv_malloc((size_t)n_layers * n_heads * (cap > 0 ? cap : 1) * sizeof *v->pos);
}

void kv_view_free(kv_view *v)
{
    free(v->len);
    free(v->pos);
    v->len = v->pos = NULL;
}

void kv_view_keep_all(kv_view *v, int layer, int L)
{
    for (int h = 0; h < v->n_heads; h++) {
        int *row = kv_view_row(v, layer, h);
        for (int i = 0; i < L; i++) row[i] = i;
        v->len[layer * v->n_heads + h] = L;
    }
}

double kv_view_mean_kept(const kv_view *v)
{
    long total = 0, n = (long)v->n_layers * v->n_heads;
    for (long i = 0; i < n; i++) total += v->len[i];
    return n ? (double)total / n : 0.0;
}
