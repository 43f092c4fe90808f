/* kvview: what a compression method produces — per layer and query head, the sorted list of kept
 * prompt positions (indices into the prefix store). Query head h reads KV head h / n_rep. */
#ifndef KV_KVVIEW_H
#define KV_KVVIEW_H

typedef struct {
    int n_layers, n_heads, cap; /* cap = prompt length L: the most any (layer, head) can keep */
    int *len;                   /* (n_layers, n_heads) number of kept positions */
    int *pos;                   /* (n_layers, n_heads, cap) kept positions, strictly increasing */
} kv_view;

/* A view's kept positions in backend memory (issue 16): (n_layers, n_heads, cap) ints, the rows
 * packed to cap = the most any (layer, head) keeps. Device selection writes it where the statistics
 * are and decode attention reads it there; the host view then holds only the kept counts (len). */
typedef struct {
    int *pos; /* backend memory; NULL until the first layer is selected */
    int cap;
} kv_dview;

void kv_view_init(kv_view *v, int n_layers, int n_heads, int cap);
void kv_view_free(kv_view *v);
/* Keep all positions 0..L-1 for one layer (FullKV, or L < budget). */
void kv_view_keep_all(kv_view *v, int layer, int L);
static inline int *kv_view_row(const kv_view *v, int layer, int head)
{
    return v->pos + ((long)layer * v->n_heads + head) * v->cap;
}
/* Mean kept positions per (layer, head). */
double kv_view_mean_kept(const kv_view *v);

#endif
