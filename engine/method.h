/* method: the plug-in table of a KV-cache compression method (one file per method under
 * engine/methods/), the variant (method + budget + knobs) and the two presets of DESIGN §4. */
#ifndef KV_METHOD_H
#define KV_METHOD_H

#include <stddef.h>

#include "engine/kvview.h"
#include "engine/model.h"

#define METHOD_MAX_KNOBS 16

typedef enum { PRESET_REFERENCE_HEAD = 0, PRESET_REFERENCE_2026_01 = 1 } kv_preset;
int preset_parse(const char *name, kv_preset *out);   /* "reference-head", "reference-2026-01" */
const char *preset_name(kv_preset p);

typedef struct {
    const char *name;               /* knob name as in sweeps and CLI flags: "window" → --window */
    double def_head;                /* default under reference-head */
    double def_2026;                /* default under reference-2026-01 */
    const char *const *choices;     /* NULL-terminated names for enum knobs (value = index), or NULL */
    const char *help;
} method_knob;

struct variant;
struct layer_stats;

typedef struct method_desc {
    const char *name;      /* lower-case id: "fullkv", "snapkv", "pyramidkv", "h2o", "streamingllm", "circuitkv" */
    const char *display;   /* table row name: "FullKV", "SnapKV", ... */
    int n_knobs;
    const method_knob *knobs;
    /* Validate a variant against a model (budget <= window, ...): KV_OK or KV_ERR + kv_lasterr(). */
    int (*check)(const struct variant *v, const model_config *cfg);
    /* Exact kept prompt positions per (layer, head) the method's rule promises (the invariant). */
    int (*expected_kept)(const struct variant *v, const model_config *cfg, int L, int layer);
    /* Fill view rows of `layer` from that layer's statistics. */
    int (*select_layer)(const struct variant *v, const struct layer_stats *st, int layer, kv_view *view);
    /* Optional (NULL: none): the LAYER_NEED_* host statistics (engine/layer_stats.h) v reads. */
    unsigned (*needs)(const struct variant *v);
    /* 1: expected_kept is the layer's total over all query heads and each head's count may differ
     * (AdaKV spreads one layer budget across heads); 0: it is every head's count. */
    int kept_per_layer;
} method_desc;

typedef struct variant {
    const method_desc *method;
    int budget;                     /* C; ignored by FullKV */
    kv_preset preset;
    double knob[METHOD_MAX_KNOBS];  /* in method->knobs order */
} variant;

extern const method_desc *const method_registry[]; /* NULL-terminated, in table row order */
const method_desc *method_find(const char *name);  /* case-insensitive on name or display */

void variant_init(variant *v, const method_desc *m, int budget, kv_preset preset);
/* Set a knob from text ("8", "max", "prefix"); error names the knob and the accepted values. */
int variant_set_knob(variant *v, const char *knob, const char *value);
double variant_knob(const variant *v, const char *knob); /* NAN if the method has no such knob */
/* "SnapKV(budget=128,window=8,kernel=7,pooling=max,reduction=sum,...)": every knob, for provenance. */
void variant_describe(const variant *v, char *buf, size_t n);

#endif
