/* analysis: what an item file holds beyond the scores when the sweep asks (issue 18) — attention
 * recall with `engine: {attention_recall: true}` and kept sets with `engine: {store_kept: true}`.
 * Item file layout (rows sample-major like /results, row = sample*nv + variant):
 *   /analysis/recall          (ns, nv) float64  mean recall over decode steps, layers and heads (NaN:
 *                             no decode step)
 *   /analysis/recall_layer    (ns*nv, n_layers) float64  mean over decode steps and heads
 *   /analysis/recall_steps    float64 per decode step (mean over layers and heads), all rows
 *                             concatenated, with /analysis/recall_step_offsets (ns*nv + 1, int64);
 *                             only with store_kept
 *   /kept                     kept sets of every row (kept_store.h) with store_kept */
#ifndef KV_ANALYSIS_H
#define KV_ANALYSIS_H

#include <hdf5.h>

#include "engine/engine.h"
#include "harness/sweep/kept_store.h"

typedef struct item_analysis {
    int ns, nv, n_layers;
    double *recall;          /* (ns*nv) or NULL when recall was not measured */
    double *recall_layer;    /* (ns*nv, n_layers) */
    long long *step_off;     /* (ns*nv + 1) or NULL */
    double *steps;
    kv_view *views;          /* (ns*nv) while the item runs (store_kept), else NULL */
    int *prompt_tokens;      /* (ns*nv) of the views */
    kept_sets kept;          /* what the file holds (kept.n == 0: none) */
} item_analysis;

/* For an item of ns samples and nv variants: recall and/or kept sets. NULL when neither. */
item_analysis *analysis_new(int ns, int nv, int n_layers, int recall, int kept);
/* Row (sample*nv + variant) from a generation result; takes its view (g->view is emptied). */
void analysis_set(item_analysis *a, int row, gen_result *g, int prompt_tokens);
/* The /analysis group and /kept into an open item file. Status. */
int analysis_write(hid_t f, item_analysis *a);
/* What an item file holds (NULL when it has neither group). Status: KV_ERR when present but damaged. */
int analysis_read(hid_t f, int ns, int nv, item_analysis **out);
void analysis_free(item_analysis *a);

#endif
