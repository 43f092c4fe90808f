/* compress: turns one prefill into every variant's view. Per layer, the statistics the variants
 * need (window softmax rows, H2O column sums; CircuitKV builds its graphs from the window rows)
 * are computed once into the buffers compress_layer_stats exposes, then compress_select_layer
 * fills each variant's view rows for that layer and checks them, so no statistic outlives its
 * layer. The engine computes the statistics through its backend (engine/stats_backend.h, on the
 * device for CUDA); compress_layer does both steps from host arrays with the CPU kernels. */
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
/* The same with the layer's values v (L, n_kv_heads*head_dim), which the kvpress-style methods
 * that rescale by value norms need (compress_layer passes NULL). */
int compress_layer_v(compress_ctx *c, int layer, const float *q, const float *k, const float *v, const float *lse);
/* The kvpress-style host statistics (engine/layer_stats.h LAYER_NEED_*) of one layer from host
 * q, k, v (post-RoPE; k must stay valid until compress_select_layer, which may read it). Cost on
 * the host: O(L·Hkv·hd) for norms and cosines, O(L·H·hd²) for the query covariance. Status. */
int compress_host_stats(compress_ctx *c, const float *q, const float *k, const float *v);
/* The statistics buffers of c (host memory, n_heads wide; see engine/layer_stats.h for the
 * layouts): which statistics the variants need (wmax per score precision, the distinct H2O settings) and where
 * to put them. Whoever computes them fills every buffer for a layer before compress_select_layer. */
struct layer_stats *compress_layer_stats(compress_ctx *c);
/* Runs every variant's plug-in on the statistics already in compress_layer_stats(c) and verifies
 * the result as compress_layer does. Status. */
int compress_select_layer(compress_ctx *c, int layer);
void compress_free(compress_ctx *c);

/* Device selection (issue 16, engine/select_device.h): marks every variant that compresses at this
 * L and whose method has a select_device step; compress_select_layer then only verifies the rows
 * the engine filled for them. Returns 1 when some other variant still reads window rows or column
 * sums on the host (they must then be delivered there), else 0. */
int compress_use_device(compress_ctx *c);
int compress_device_variant(const compress_ctx *c, int i);
int compress_n_variants(const compress_ctx *c);
const variant *compress_variant(const compress_ctx *c, int i);
kv_view *compress_view(compress_ctx *c, int i);
/* Views on the device (issue 16): dv (n_variants, the caller's, zeroed) receives each device
 * variant's kept positions in backend memory (select_dev allocates dv[i].pos at the first layer;
 * the caller frees it with the backend); the host views then get only the kept counts, unless
 * export_rows (the kept sets are exported: they also come to the host rows). Without this call
 * device selection brings every kept set to the host view. */
void compress_set_device_views(compress_ctx *c, kv_dview *dv, int export_rows);
/* Variant i's device view, or NULL (no device views, or i selects on the host). */
kv_dview *compress_device_view(compress_ctx *c, int i);
/* 1 when the kept positions of device variants reach the host rows (no device views, or exported). */
int compress_rows_to_host(const compress_ctx *c);

#endif
