/* methods: what the method plug-ins share — their tables (for the registry in method.c), the
 * knob validation helper, and SnapKV's selection that PyramidKV reuses with its own per-layer k. */
#ifndef KV_METHODS_H
#define KV_METHODS_H

#include "engine/layer_stats.h"
#include "engine/method.h"

extern const method_desc method_fullkv, method_snapkv, method_pyramidkv, method_h2o, method_streamingllm,
    method_circuitkv, method_random, method_knorm, method_tova, method_keydiff, method_expected_attention,
    method_adakv;

/* Reads knob `name` of v as an integer in [lo, hi]: KV_OK, or KV_ERR naming the variant, the knob,
 * the value and the accepted range. */
int method_knob_int(const variant *v, const char *name, int lo, int hi, int *out);
/* The same for a real knob in [lo, hi]. */
int method_knob_real(const variant *v, const char *name, double lo, double hi, double *out);

/* Kept count of the common rule: all L below the budget, else the budget. */
int method_expected_budget(const variant *v, const model_config *cfg, int L, int layer);

/* SnapKV's selection with n_keep prompt positions of 0..L-W-1 per head plus the window
 * L-W..L-1 (PyramidKV passes its per-layer k). */
int snapkv_select_keep(const variant *v, const struct layer_stats *st, int layer, kv_view *view, int n_keep);

/* The same selection as a device step (engine/select_device.h). */
struct select_dev;
struct select_dev_out;
int snapkv_device_keep(const variant *v, const struct select_dev *d, int layer, int n_keep,
                       struct select_dev_out *out);

/* Top-n_keep of score (n_cand = L-W) per head plus the window, into view row (layer, head). */
void method_keep_topk_window(kv_view *view, int layer, int head, const float *score, int L, int W, int n_keep,
                             float *scratch);

/* ---- kvpress-style plug-ins (engine/methods/press_common.c) ---- */

/* The same selection as a device step (engine/select_device.h). */
struct select_dev;
struct select_dev_out;
int snapkv_device_keep(const variant *v, const struct select_dev *d, int layer, int n_keep,
                       struct select_dev_out *out);

/* Top-n_keep of score (L, all positions; +inf = always kept) for KV head g, copied to its n_rep
 * query heads' rows of view. scratch: L floats. */
void press_keep_kvhead(kv_view *view, int layer, int g, int n_rep, const float *score, int L, int n_keep,
                       float *scratch);
/* Per KV head, keep the budget's lowest values of stat (n_kv_heads, L) (Knorm, KeyDiff); all L
 * below the budget; a missing stat is KV_ERR naming `what`. */
int press_keep_lowest(const variant *v, const struct layer_stats *st, int layer, kv_view *view, const float *stat,
                      const char *what);
/* A uniform [0, 1) draw fixed by (seed, layer, head, L, pos): the random method's scores. */
double press_random_uniform(unsigned long long seed, int layer, int head, int L, int pos);
/* kvpress SnapKVPress scores of KV head g (AdaKV's default scorer): out (L) = the group mean of
 * avg-pooled (kernel) mean window attention for j < L-W, +inf on the window. Status. */
int press_snapkv_scores(float *out, const struct layer_stats *st, int g, int n_rep, int W, int kernel);

#endif
