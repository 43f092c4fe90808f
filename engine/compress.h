/* compress: turns one prefill into every variant's view. The engine calls compress_layer once
 * per layer during the prefill with that layer's post-RoPE queries and keys; the statistics the
 * variants need (window softmax rows, H2O column sums, CircuitKV graphs) are computed there and
 * each variant's view rows for that layer are filled, so no statistic outlives its layer. */
#ifndef KV_COMPRESS_H
#define KV_COMPRESS_H

#include "engine/method.h"

typedef struct compress_ctx compress_ctx;

/* views[i] must be initialised by the caller (kv_view_init with cap >= L) for variants[i]. */
compress_ctx *compress_new(const model_config *cfg, const variant *variants, int n_variants,
                           int L, kv_view *views);
/* q: (L, n_heads*head_dim), k: (L, n_kv_heads*head_dim), post-RoPE, fp32.
 * lse: (n_heads, L) natural-log sum-exp of each causal attention row of the prefill (scaled by
 * 1/sqrt(head_dim)), as returned by the prefill attention. Status: a violated invariant
 * (kept count differs from the method's rule, a window or sink position dropped) is KV_ERR. */
int compress_layer(compress_ctx *c, int layer, const float *q, const float *k, const float *lse);
void compress_free(compress_ctx *c);

#endif
