/* analysis: attention recall and kept sets of an item file (analysis.h). */
#include "harness/sweep/analysis.h"

#include <hdf5_hl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep/store.h"
#include "util/util.h"

item_analysis *analysis_new(int ns, int nv, int n_layers, int recall, int kept)
{
    if (!recall && !kept) return NULL;
    item_analysis *a = kv_calloc(1, sizeof *a);
    int rows = ns * nv;
    a->ns = ns, a->nv = nv, a->n_layers = n_layers;
    if (recall) {
        a->recall = kv_malloc(sizeof(double) * rows);
        a->recall_layer = kv_malloc(sizeof(double) * rows * n_layers);
        for (long i = 0; i < (long)rows * n_layers; i++) a->recall_layer[i] = NAN;
        for (int i = 0; i < rows; i++) a->recall[i] = NAN;
    }
    if (kept) {
        a->views = kv_calloc(rows, sizeof *a->views);
        a->prompt_tokens = kv_calloc(rows, sizeof(int));
        a->step_off = recall ? kv_calloc(rows + 1, sizeof(long long)) : NULL;
        a->steps = recall ? kv_malloc(sizeof(double)) : NULL;
    }
    return a;
}

/* Row `row`'s per-step recall appended (rows arrive in order within a batch, and batches in order). */
static void add_steps(item_analysis *a, int row, const gen_result *g)
{
    long long at = a->step_off[row];
    a->steps = kv_realloc(a->steps, sizeof(double) * (size_t)(at + g->n_recall_steps + 1));
    for (int s = 0; s < g->n_recall_steps; s++) a->steps[at + s] = g->recall_step[s];
    a->step_off[row + 1] = at + g->n_recall_steps;
}

void analysis_set(item_analysis *a, int row, gen_result *g, int prompt_tokens)
{
    if (a->recall) {
        a->recall[row] = g->recall;
        if (g->recall_layer) memcpy(a->recall_layer + (long)row * a->n_layers, g->recall_layer, sizeof(double) * a->n_layers);
        if (a->step_off) add_steps(a, row, g);
    }
    if (a->views) {
        a->views[row] = g->view;
        a->prompt_tokens[row] = prompt_tokens;
        memset(&g->view, 0, sizeof g->view);
    }
}

static int write_recall(hid_t f, const item_analysis *a)
{
    int rows = a->ns * a->nv;
    hid_t g = H5Gcreate2(f, "analysis", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = h5_write_doubles(g, "recall", a->recall, a->ns, a->nv) |
             h5_write_doubles(g, "recall_layer", a->recall_layer, rows, a->n_layers);
    if (a->step_off) {
        hsize_t no = rows + 1, nsteps = (hsize_t)a->step_off[rows];
        if (H5LTmake_dataset(g, "recall_step_offsets", 1, &no, H5T_NATIVE_LLONG, a->step_off) < 0 ||
            H5LTmake_dataset(g, "recall_steps", 1, &nsteps, H5T_NATIVE_DOUBLE, a->steps) < 0)
            rc = KV_ERR;
    }
    H5Gclose(g);
    return rc ? KV_ERR : KV_OK;
}

int analysis_write(hid_t f, item_analysis *a)
{
    int rc = a->recall ? write_recall(f, a) : KV_OK;
    if (rc == KV_OK && a->views) {
        int rows = a->ns * a->nv;
        const kv_view **v = kv_malloc(sizeof *v * rows);
        for (int i = 0; i < rows; i++) v[i] = &a->views[i];
        kept_sets_free(&a->kept);
        kept_sets_from_views(&a->kept, v, a->prompt_tokens, rows);
        free(v);
        rc = kept_sets_write(f, &a->kept);
    }
    return rc;
}

static int read_recall(hid_t f, item_analysis *a)
{
    hid_t g = H5Gopen2(f, "analysis", H5P_DEFAULT);
    hsize_t dims[2] = {0, 0};
    int rows = a->ns * a->nv, rc = KV_ERR;
    if (H5LTget_dataset_info(g, "recall_layer", dims, NULL, NULL) >= 0 && dims[0] == (hsize_t)rows && dims[1] > 0) {
        a->n_layers = (int)dims[1];
        a->recall = kv_malloc(sizeof(double) * rows);
        a->recall_layer = kv_malloc(sizeof(double) * rows * a->n_layers);
        rc = h5_read_doubles(g, "recall", a->recall, rows) |
             h5_read_doubles(g, "recall_layer", a->recall_layer, (size_t)rows * a->n_layers);
    } else {
        kv_seterr("/analysis/recall_layer missing or not (%d, n_layers)", rows);
    }
    H5Gclose(g);
    return rc ? KV_ERR : KV_OK;
}

int analysis_read(hid_t f, int ns, int nv, item_analysis **out)
{
    *out = NULL;
    int has_recall = H5Lexists(f, "analysis", H5P_DEFAULT) > 0, has_kept = H5Lexists(f, "kept", H5P_DEFAULT) > 0;
    if (!has_recall && !has_kept) return KV_OK;
    item_analysis *a = kv_calloc(1, sizeof *a);
    a->ns = ns, a->nv = nv;
    int rc = has_recall ? read_recall(f, a) : KV_OK;
    if (rc == KV_OK && has_kept) {
        rc = kept_sets_read(f, &a->kept);
        if (rc == KV_OK && a->kept.n != ns * nv) rc = KV_ERR, kv_seterr("/kept holds %d views, not %d", a->kept.n, ns * nv);
    }
    if (rc != KV_OK) {
        analysis_free(a);
        return KV_ERR;
    }
    *out = a;
    return KV_OK;
}

void analysis_free(item_analysis *a)
{
    if (!a) return;
    if (a->views)
        for (int i = 0; i < a->ns * a->nv; i++)
            if (a->views[i].len) kv_view_free(&a->views[i]);
    free(a->recall), free(a->recall_layer), free(a->step_off), free(a->steps), free(a->views), free(a->prompt_tokens);
    kept_sets_free(&a->kept);
    free(a);
}
