/* kept_store: kept-set export (issue 18) — every variant's kept prompt positions per layer and query
 * head, stored compactly as CSR: one int32 array of the sorted kept positions of all rows, and int64
 * offsets, row r = (view*n_layers + layer)*n_heads + head holding positions[offsets[r]:offsets[r+1]].
 * An HDF5 group `kept` with datasets offsets (int64), positions (int32), prompt_tokens (int32, one per
 * view) and attributes format "kvbench-kept-1", n_views, n_layers, n_heads. Used by
 * `kvbench generate --kept-out` (one view) and by sweep item files with store_kept (one view per
 * (sample, variant), sample-major like /results). */
#ifndef KV_KEPT_STORE_H
#define KV_KEPT_STORE_H

#include <hdf5.h>
#include <stddef.h>

#include "engine/kvview.h"

typedef struct {
    int n, n_layers, n_heads;
    long long *off;     /* (n*n_layers*n_heads + 1) */
    int *pos;           /* (off[n*n_layers*n_heads]) */
    int *prompt_tokens; /* (n) */
} kept_sets;

/* The CSR form of n views (views[i] of a prompt of prompt_tokens[i] tokens); all of one shape. */
void kept_sets_from_views(kept_sets *k, const kv_view *const *views, const int *prompt_tokens, int n);
void kept_sets_free(kept_sets *k);
static inline long kept_row(const kept_sets *k, int view, int layer, int head)
{
    return ((long)view * k->n_layers + layer) * k->n_heads + head;
}
/* Group "kept" of loc. Status. */
int kept_sets_write(hid_t loc, const kept_sets *k);
/* Reads group "kept" of loc; KV_ERR with the reason when absent or damaged. */
int kept_sets_read(hid_t loc, kept_sets *k);
/* Bytes the CSR form of n views takes with `kept` positions per (layer, head) on average. */
double kept_sets_bytes(double n_views, int n_layers, int n_heads, double kept);

#endif
