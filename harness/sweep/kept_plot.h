/* kept_plot: the picture of what each method keeps for one sample (issue 18, `kvbench show DIR
 * --kept SAMPLE`): one panel per variant, prompt positions on x (binned to at most 600 columns), layers
 * on y (layer 0 at the top), colour = the fraction of query heads that keep the position (mean over
 * the bin). Needs item files written with store_kept. */
#ifndef KV_KEPT_PLOT_H
#define KV_KEPT_PLOT_H

#include <stdio.h>

#include "harness/sweep/reduce.h"

/* The first (model, task) that holds sample `sample` with kept sets (model/task NULL: any), every
 * variant of it (budget < 0: any budget; FullKV always), as an SVG on f. Status; KV_ERR with the
 * reason when no such sample has kept sets. */
int kept_plot_sample(const reduced *r, const char *mname, const char *task, int sample, int budget, FILE *f);

#endif
