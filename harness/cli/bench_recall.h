/* bench_recall: `kvbench bench --attention-recall` — the cost of measuring attention recall (issue
 * 18): the same batched generation of FullKV and 4 methods x 2 budgets with and without recall,
 * interleaved run by run, medians of the decode time. */
#ifndef KV_BENCH_RECALL_H
#define KV_BENCH_RECALL_H

#include "engine/engine.h"

/* Status (prints the figures on rank 0). */
int bench_recall(engine *e, const int *ids, int L, int gen, int runs);

#endif
