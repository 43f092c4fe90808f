/* analysis_reduce: the reducer's outputs from item files that hold attention recall or kept sets
 * (analysis.h, issue 18), written by reduce_write next to the score outputs:
 *   DIR/recall.csv      model, method (row label), budget, n (samples), recall (mean over samples of
 *                       each sample's mean over decode steps, layers and heads), then layer_0..: the
 *                       same per layer
 *   DIR/tables.md       gets an "Attention recall" table (model, method, budget, recall)
 *   DIR/overlap.csv     model, budget, layer, method_a, method_b, jaccard, n: the Jaccard overlap
 *                       |A∩B| / |A∪B| of the kept sets of two methods at the same budget, averaged
 *                       over query heads then samples (two empty sets count as overlap 1)
 *   DIR/plots/<model>-overlap-<budget>.svg  heatmap of overlap.csv: method pairs × layers
 *   DIR/plots/<model>-recall.svg            recall vs budget, one line per method (also the 8th
 *                                           panel of plots/<model>.svg, beside the score panels)
 * Nothing is written (and old files are left) when no item holds recall or kept sets. */
#ifndef KV_ANALYSIS_REDUCE_H
#define KV_ANALYSIS_REDUCE_H

#include "harness/sweep/reduce.h"

int analysis_reduce_write(const char *dir, const reduced *r);

/* The row's analysis: its item's record, or NULL; *idx the row (sample*nv + variant) in it. */
const struct item_analysis *analysis_of_row(const reduced *r, const pred_row *p, int *idx);

/* The mean recall of (model, variant key) over its samples; NAN when none was measured. */
double analysis_recall_mean(const reduced *r, const char *mname, const char *key);

#endif
