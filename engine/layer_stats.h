/* layer_stats: the statistics of one layer's prefill that compression methods select from
 * (DESIGN §3 "One prefill, many caches"). They are filled once per layer (by the engine through
 * its backend, engine/stats_backend.c, or by compress_layer from host arrays), computing each
 * statistic once for every variant that needs it: the softmax rows of the last Wmax queries
 * per score precision (fp32, the reference's fp16 rounding, fp16 logits only — kernels/scoring.h
 * SCORE_*), and H2O column sums per distinct (mode, window, fp16). Which statistics a variant
 * reads its method declares (method_desc.needs, engine/method.h: window rows and their precision,
 * H2O column sums, and the kvpress-style host statistics of k, v and q, LAYER_NEED_*, filled by
 * compress_host_stats); compress reads only that, never a knob name. */
#ifndef KV_LAYER_STATS_H
#define KV_LAYER_STATS_H

#include "engine/model.h"
#include <stddef.h>
#include <string.h>

#define LAYER_STATS_MAX_H2O 8
#define LAYER_STATS_MAX_QSTATS 4

/* Host statistics of the kvpress-style methods (issue 17), which score keys from k, v and q
 * themselves: what a variant needs is the host field of its method's needs (engine/method.h). */
enum {
    LAYER_NEED_KNORM = 1,   /* knorm (Hkv, L): ||k_j|| */
    LAYER_NEED_KEYCOS = 2,  /* keycos (Hkv, L): cosine of k_j with the mean normalised key */
    LAYER_NEED_VNORM = 4,   /* vnorm (Hkv, L): ||v_j|| */
    LAYER_NEED_QSTATS = 8,  /* qstats: pre-RoPE query mean/covariance after `skip` positions, and k */
};

typedef struct {
    int skip;     /* positions 0..skip-1 left out (kvpress n_sink) */
    double *mean; /* (n_heads, head_dim) */
    double *cov;  /* (n_heads, head_dim, head_dim) */
} layer_stats_qstats;
#define LAYER_STATS_N_PREC 3 /* SCORE_FP32, SCORE_FP16, SCORE_FP16_LOGITS */

typedef struct {
    int mode, window, fp16;
    float *colsum; /* (n_heads, L - window) */
} layer_stats_h2o;

/* Products of one variant's selection that do not depend on its budget (CircuitKV's graphs walked
 * into ranks), kept for the layer's later variants that differ from it only in budget: the five
 * budgets of a sweep then pay for one walk. compress empties it after every layer. */
#define LAYER_MEMO_MAX 16
struct variant;
typedef struct {
    int n;
    struct {
        const struct variant *owner;
        void *data; /* one malloc'd block, freed with the layer */
    } e[LAYER_MEMO_MAX];
} layer_memo;

struct layer_stats {
    const model_config *cfg;
    int L;
    int wmax[LAYER_STATS_N_PREC];   /* rows in win[prec] (0: none) */
    float *win[LAYER_STATS_N_PREC]; /* (n_heads, wmax, L) softmax rows of queries L-wmax..L-1 */
    int n_h2o;
    layer_stats_h2o h2o[LAYER_STATS_MAX_H2O];
    /* kvpress-style statistics (LAYER_NEED_*), per KV head; NULL when no variant needs them */
    unsigned needs;
    float *knorm, *keycos, *vnorm; /* (n_kv_heads, L) each */
    int n_qstats;
    layer_stats_qstats qstats[LAYER_STATS_MAX_QSTATS];
    const float *k;                /* (L, n_kv_heads*head_dim) host post-RoPE keys of the layer (QSTATS) */
    float *inv_freq;               /* (head_dim/2) the model's RoPE inverse frequencies (QSTATS) */
    layer_memo *memo;              /* the layer's shared selection products, or NULL: none kept */
};

/* What an earlier variant of this layer with the same method, preset and knobs (any budget) left
 * for v, or NULL. */
void *layer_memo_find(const struct layer_stats *st, const struct variant *v);
/* Keeps data (malloc'd) for the layer's later variants like v: 1 when kept (the memo frees it with
 * the layer), 0 when there is no memo or it is full (the caller still owns it). */
int layer_memo_put(const struct layer_stats *st, const struct variant *v, void *data);
/* Frees what the layer kept. */
void layer_memo_clear(layer_memo *m);

/* The query statistics with `skip` leading positions left out, or NULL if not computed. */
/* The host statistics of a LAYER_NEED_* mask in words ("key norms, value norms"), for the message
 * that refuses them under tensor parallelism: they are computed on the host from every head's
 * q, k and v of the layer, and a tensor-parallel rank holds only its own heads. */
static inline void layer_needs_describe(unsigned needs, char *buf, size_t n)
{
    static const char *const what[] = {"key norms", "key cosines to the mean key", "value norms",
                                       "query mean and covariance"};
    buf[0] = 0;
    for (int b = 0; b < 4; b++)
        if (needs & (1u << b)) {
            if (buf[0]) strncat(buf, ", ", n - strlen(buf) - 1);
            strncat(buf, what[b], n - strlen(buf) - 1);
        }
}

static inline const layer_stats_qstats *layer_stats_qstats_find(const struct layer_stats *st, int skip)
{
    for (int i = 0; i < st->n_qstats; i++)
        if (st->qstats[i].skip == skip) return &st->qstats[i];
    return 0;
}

/* The W rows (W, L) of head `head`'s window softmax (queries L-W..L-1) in precision prec (a
 * SCORE_* mode), or NULL when compress did not compute them (a bug in the needs analysis). */
static inline const float *layer_stats_window(const struct layer_stats *st, int head, int W, int prec)
{
    if (prec < 0 || prec >= LAYER_STATS_N_PREC) return 0;
    int wm = st->wmax[prec];
    const float *w = st->win[prec];
    if (!w || W > wm || W <= 0) return 0;
    return w + ((long)head * wm + (wm - W)) * st->L;
}

/* H2O column sums (L - window) of head `head`, or NULL if not computed. */
static inline const float *layer_stats_h2o_colsum(const struct layer_stats *st, int head, int mode, int window,
                                                  int fp16)
{
    for (int i = 0; i < st->n_h2o; i++) {
        const layer_stats_h2o *e = &st->h2o[i];
        if (e->mode == mode && e->window == window && e->fp16 == fp16)
            return e->colsum + (long)head * (st->L - window);
    }
    return 0;
}

#endif
