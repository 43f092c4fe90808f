/* kept_store: kept sets of many views as CSR in an HDF5 group (kept_store.h). */
#include "harness/sweep/kept_store.h"

#include <hdf5_hl.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep/store.h"
#include "util/util.h"

#define KEPT_FORMAT "kvbench-kept-1"

void kept_sets_from_views(kept_sets *k, const kv_view *const *views, const int *prompt_tokens, int n)
{
    memset(k, 0, sizeof *k);
    k->n = n;
    k->n_layers = n ? views[0]->n_layers : 0;
    k->n_heads = n ? views[0]->n_heads : 0;
    long rows = (long)n * k->n_layers * k->n_heads, per = (long)k->n_layers * k->n_heads;
    k->off = kv_malloc(sizeof(long long) * (rows + 1));
    k->prompt_tokens = kv_malloc(sizeof(int) * (n ? n : 1));
    k->off[0] = 0;
    for (long r = 0; r < rows; r++) k->off[r + 1] = k->off[r] + views[r / per]->len[r % per];
    k->pos = kv_malloc(sizeof(int) * (k->off[rows] ? k->off[rows] : 1));
    for (long r = 0; r < rows; r++) {
        const kv_view *v = views[r / per];
        memcpy(k->pos + k->off[r], v->pos + (r % per) * v->cap, sizeof(int) * (size_t)(k->off[r + 1] - k->off[r]));
    }
    if (n) memcpy(k->prompt_tokens, prompt_tokens, sizeof(int) * n);
}

void kept_sets_free(kept_sets *k)
{
    free(k->off), free(k->pos), free(k->prompt_tokens);
    memset(k, 0, sizeof *k);
}

int kept_sets_write(hid_t loc, const kept_sets *k)
{
    hid_t g = H5Gcreate2(loc, "kept", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        kv_seterr("cannot create group kept");
        return KV_ERR;
    }
    hsize_t rows = (hsize_t)k->n * k->n_layers * k->n_heads + 1, npos = (hsize_t)k->off[rows - 1], nv = k->n;
    int rc = h5_attr_str(g, "format", KEPT_FORMAT) | h5_attr_int(g, "n_views", k->n) |
             h5_attr_int(g, "n_layers", k->n_layers) | h5_attr_int(g, "n_heads", k->n_heads);
    if (H5LTmake_dataset(g, "offsets", 1, &rows, H5T_NATIVE_LLONG, k->off) < 0 ||
        H5LTmake_dataset(g, "positions", 1, &npos, H5T_NATIVE_INT, k->pos) < 0 ||
        H5LTmake_dataset(g, "prompt_tokens", 1, &nv, H5T_NATIVE_INT, k->prompt_tokens) < 0)
        rc = KV_ERR;
    H5Gclose(g);
    if (rc != KV_OK) kv_seterr("cannot write the kept sets");
    return rc ? KV_ERR : KV_OK;
}

/* Dataset `name` of g with exactly n elements (status). */
static int read_n(hid_t g, const char *name, hid_t type, void *buf, long long n)
{
    hsize_t dims[1] = {0};
    if (H5LTget_dataset_info(g, name, dims, NULL, NULL) < 0 || (long long)dims[0] != n ||
        H5LTread_dataset(g, name, type, buf) < 0) {
        kv_seterr("kept sets: dataset %s missing or not %lld long", name, n);
        return KV_ERR;
    }
    return KV_OK;
}

int kept_sets_read(hid_t loc, kept_sets *k)
{
    memset(k, 0, sizeof *k);
    if (H5Lexists(loc, "kept", H5P_DEFAULT) <= 0) {
        kv_seterr("no kept sets stored (generate --kept-out, or store_kept: true in the sweep)");
        return KV_ERR;
    }
    hid_t g = H5Gopen2(loc, "kept", H5P_DEFAULT);
    long long n = 0, nl = 0, nh = 0;
    int rc = h5_attr_get_int(g, "n_views", &n) | h5_attr_get_int(g, "n_layers", &nl) | h5_attr_get_int(g, "n_heads", &nh);
    long long rows = n * nl * nh;
    if (rc != KV_OK || n < 0 || nl < 1 || nh < 1 || rows > (1LL << 34)) {
        H5Gclose(g);
        kv_seterr("kept sets: bad or missing n_views/n_layers/n_heads attributes");
        return KV_ERR;
    }
    k->n = (int)n, k->n_layers = (int)nl, k->n_heads = (int)nh;
    k->off = kv_malloc(sizeof(long long) * (rows + 1));
    k->prompt_tokens = kv_malloc(sizeof(int) * (n ? n : 1));
    rc = read_n(g, "offsets", H5T_NATIVE_LLONG, k->off, rows + 1);
    if (rc == KV_OK) rc = read_n(g, "prompt_tokens", H5T_NATIVE_INT, k->prompt_tokens, n);
    for (long long r = 0; rc == KV_OK && r < rows; r++)
        if (k->off[r + 1] < k->off[r] || k->off[0] != 0) rc = KV_ERR, kv_seterr("kept sets: offsets decrease");
    if (rc == KV_OK) {
        k->pos = kv_malloc(sizeof(int) * (k->off[rows] ? k->off[rows] : 1));
        rc = read_n(g, "positions", H5T_NATIVE_INT, k->pos, k->off[rows]);
    }
    H5Gclose(g);
    if (rc != KV_OK) kept_sets_free(k);
    return rc;
}

double kept_sets_bytes(double n_views, int n_layers, int n_heads, double kept)
{
    double rows = n_views * n_layers * n_heads;
    return rows * (8.0 + 4.0 * kept) + 4.0 * n_views;
}
