/* method: the plug-in table of a KV-cache compression method (one file per method under
 * engine/methods/), the variant (method + budget + knobs) and the two presets of DESIGN §4. */
#ifndef KV_METHOD_H
#define KV_METHOD_H

#include <stddef.h>

#include "engine/kvview.h"
#include "engine/model.h"

#define METHOD_MAX_KNOBS 16

/* The presets (DESIGN §4), one row each of preset_table (engine/method.c); every knob table has
 * one default column per preset, in this order. */
typedef enum { PRESET_REFERENCE_HEAD = 0, PRESET_REFERENCE_2026_01 = 1, PRESET_COUNT } kv_preset;
typedef struct {
    const char *name;  /* "reference-head", "reference-2026-01" */
    const char *about; /* what it reproduces */
} preset_desc;
extern const preset_desc preset_table[PRESET_COUNT];
int preset_parse(const char *name, kv_preset *out); /* by name; the error lists the names */
const char *preset_name(kv_preset p);
const char *preset_choices(void); /* "reference-head or reference-2026-01", for messages */

typedef struct {
    const char *name;               /* knob name as in sweeps and CLI flags: "window" → --window */
    double def[PRESET_COUNT];       /* default under each preset, in kv_preset order */
    const char *const *choices;     /* NULL-terminated names for enum knobs (value = index), or NULL */
    const char *help;
} method_knob;

struct variant;
struct layer_stats;
struct select_dev;
struct select_dev_out;

/* What a variant reads from its layer's prefill statistics (engine/layer_stats.h) and which
 * positions its rule always keeps, declared by its method (all zero: nothing, as FullKV,
 * StreamingLLM's statistics, Random). compress computes each distinct statistic once for all the
 * variants of a run and checks the kept positions against keeps_last/keeps_first. */
typedef struct {
    int window_rows;   /* W > 0: the softmax rows of the last W queries over all keys... */
    int window_prec;   /* ...in this precision (a SCORE_* mode of kernels/scoring.h) */
    int colsum_window; /* W > 0: H2O column sums over keys 0..L-W-1 (instead of rows)... */
    int colsum_mode;   /* ...of this H2O mode... */
    int colsum_fp16;   /* ...rounded to fp16 (1) or not (0) */
    unsigned host;     /* LAYER_NEED_*: kvpress-style statistics of k, v and q on the host */
    int qstats_skip;   /* with LAYER_NEED_QSTATS: leading positions left out (kvpress n_sink) */
    int keeps_last;    /* the rule keeps the last keeps_last positions (its window) when it compresses */
    int keeps_first;   /* and the first keeps_first positions (attention sinks) */
} method_needs;

typedef struct method_desc {
    const char *name;      /* lower-case id: "fullkv", "snapkv", "pyramidkv", "h2o", "streamingllm", "circuitkv" */
    const char *display;   /* table row name: "FullKV", "SnapKV", ... */
    int n_knobs;
    const method_knob *knobs;
    /* 1: keeps a budget's worth of positions (a variant needs a budget); 0: keeps every position
     * (FullKV, the uncompressed baseline: it reads no statistics, so a lone tensor-parallel shard
     * can run it, and its rows are the tables' reference). */
    int compresses;
    /* Validate a variant against a model (budget <= window, ...): KV_OK or KV_ERR + kv_lasterr(). */
    int (*check)(const struct variant *v, const model_config *cfg);
    /* Exact kept prompt positions per (layer, head) the method's rule promises (the invariant). */
    int (*expected_kept)(const struct variant *v, const model_config *cfg, int L, int layer);
    /* Fill view rows of `layer` from that layer's statistics. */
    int (*select_layer)(const struct variant *v, const struct layer_stats *st, int layer, kv_view *view);
    /* What v reads and always keeps (out is zeroed first); NULL: nothing. */
    void (*needs)(const struct variant *v, method_needs *out);
    /* 1: expected_kept is the layer's total over all query heads and each head's count may differ
     * (AdaKV spreads one layer budget across heads); 0: it is every head's count. */
    int kept_per_layer;
    /* Optional (NULL: the method selects on the host only): the same selection as select_layer,
     * described as steps of the backend's selection ops on the statistics in backend memory
     * (engine/select_device.h); called only when the layer compresses (L >= budget). */
    int (*select_device)(const struct variant *v, const struct select_dev *d, int layer, struct select_dev_out *out);
    /* Optional (NULL: 0): 1 when v's device step selects one set that every head shares, from all
     * heads' statistics (CircuitKV's shared set): under tensor parallelism those statistics are
     * all-gathered; a per-head step reads only the rank's own heads (issue 16). */
    int (*select_shared)(const struct variant *v);
} method_desc;

typedef struct variant {
    const method_desc *method;
    int budget;                     /* C; ignored by FullKV */
    kv_preset preset;
    double knob[METHOD_MAX_KNOBS];  /* in method->knobs order */
} variant;

/* Budgets (issue 17): an integer in [1, BUDGET_FRAC_BASE) is kept tokens per layer and head; a
 * kept fraction f of the prompt in (0, 1) (kvpress compression_ratio = 1 - f) is encoded as
 * BUDGET_FRAC_BASE + round(f·BUDGET_FRAC_SCALE), so every int budget field (stores, tables,
 * "budget > 0" = compressed) carries it unchanged, and it sorts after the token budgets. It is
 * resolved per prompt by compress_new: n = max(1, int(L·(1 - (1 - f)))) as kvpress's ScorerPress. */
#define BUDGET_FRAC_BASE (1 << 30)
#define BUDGET_FRAC_SCALE 1000000
static inline int budget_is_fraction(int b) { return b > BUDGET_FRAC_BASE; }
static inline double budget_fraction(int b) { return (double)(b - BUDGET_FRAC_BASE) / BUDGET_FRAC_SCALE; }
/* "128" (tokens) or "0.25" / "25%" (fraction in (0, 1), at most 6 decimals): KV_OK, or KV_ERR
 * saying what is accepted. */
int budget_parse(const char *text, int *out);
/* Tokens per layer and head for a prompt of L tokens (a token budget is returned as is). */
int budget_resolve(int budget, int L);
/* "128", "25%" (pct != 0) or "0.25" (pct == 0, for CSV and provenance). */
void budget_label(int budget, char *buf, size_t n, int pct);

extern const method_desc *const method_registry[]; /* NULL-terminated, in table row order */
const method_desc *method_find(const char *name);  /* case-insensitive on name or display */
/* Table position of a method by display name (case-insensitive): its registry index, or the
 * registry's size for a name it does not hold (such rows go last, in order of appearance). */
int method_rank(const char *display);
int method_count(void); /* plug-ins in the registry */
/* v's declared needs (all zero when its method declares none). */
void variant_needs(const variant *v, method_needs *out);

void variant_init(variant *v, const method_desc *m, int budget, kv_preset preset);
/* Set a knob from text ("8", "max", "prefix"); error names the knob and the accepted values. */
int variant_set_knob(variant *v, const char *knob, const char *value);
double variant_knob(const variant *v, const char *knob); /* NAN if the method has no such knob */
/* "SnapKV(budget=128,window=8,kernel=7,pooling=max,reduction=sum,...)": every knob, for provenance. */
void variant_describe(const variant *v, char *buf, size_t n);

#endif
