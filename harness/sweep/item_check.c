/* item_check: integrity checks of item files and the quarantine of damaged ones (see item_check.h). */
#include "harness/sweep/item_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

/* Dataset loc/name exists and holds `count` elements; else why is set. */
static int ds_check(hid_t loc, const char *group, const char *name, hsize_t count, char *why, size_t n)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) {
        snprintf(why, n, "dataset /%s/%s missing", group, name);
        return KV_ERR;
    }
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) {
        snprintf(why, n, "dataset /%s/%s unreadable", group, name);
        return KV_ERR;
    }
    hid_t sp = H5Dget_space(d);
    hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (np != (hssize_t)count) {
        snprintf(why, n, "dataset /%s/%s has %lld elements, expected %llu", group, name, (long long)np,
                 (unsigned long long)count);
        return KV_ERR;
    }
    return KV_OK;
}

/* Every dataset of the item schema present with the shape of (ns samples, nv variants). */
static int structure_check(hid_t f, char *why, size_t n)
{
    static const char *groups[] = {"variants", "samples", "results"};
    hid_t g[3] = {-1, -1, -1};
    int rc = KV_OK;
    for (int i = 0; i < 3 && rc == KV_OK; i++) {
        if (H5Lexists(f, groups[i], H5P_DEFAULT) <= 0 || (g[i] = H5Gopen2(f, groups[i], H5P_DEFAULT)) < 0) {
            snprintf(why, n, "group /%s missing", groups[i]);
            rc = KV_ERR;
        }
    }
    hsize_t nv = 0, ns = 0;
    for (int i = 0; i < 2 && rc == KV_OK; i++) {
        const char *key = i == 0 ? "key" : "index";
        if (H5Lexists(g[i], key, H5P_DEFAULT) <= 0) {
            snprintf(why, n, "dataset /%s/%s missing", groups[i], key);
            rc = KV_ERR;
            break;
        }
        hid_t d = H5Dopen2(g[i], key, H5P_DEFAULT), sp = d < 0 ? -1 : H5Dget_space(d);
        hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
        if (sp >= 0) H5Sclose(sp);
        if (d >= 0) H5Dclose(d);
        if (np <= 0) {
            snprintf(why, n, "dataset /%s/%s unreadable or empty", groups[i], key);
            rc = KV_ERR;
        }
        *(i == 0 ? &nv : &ns) = (hsize_t)(np > 0 ? np : 0);
    }
    for (int c = 0; c < item_variant_ncols && rc == KV_OK; c++)
        rc = ds_check(g[0], "variants", item_variant_cols[c].name, nv, why, n);
    if (rc == KV_OK) rc = ds_check(g[0], "variants", "cell_hash", nv, why, n);
    for (int c = 0; c < item_sample_ncols && rc == KV_OK; c++)
        rc = ds_check(g[1], "samples", item_sample_cols[c].name, ns, why, n);
    for (int c = 0; c < item_result_ncols && rc == KV_OK; c++)
        rc = ds_check(g[2], "results", item_result_cols[c].name, ns * nv, why, n);
    for (int i = 0; i < 3; i++)
        if (g[i] >= 0) H5Gclose(g[i]);
    return rc;
}

int item_check(const char *path, int full, item_record *rec, char *why, size_t n)
{
    memset(rec, 0, sizeof *rec);
    why[0] = 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the reason goes into why, not HDF5's error stack */
    /* Cheap first: HDF5 refuses truncated, zeroed and foreign files at open. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        snprintf(why, n, "not a readable HDF5 file (truncated, overwritten or not HDF5)");
        return KV_ERR;
    }
    char *format = h5_attr_get_str(f, "format");
    int rc = format && !strcmp(format, "kvbench-item-1") ? KV_OK : KV_ERR;
    if (rc != KV_OK) snprintf(why, n, "format attribute '%s', expected 'kvbench-item-1'", format ? format : "(missing)");
    free(format);
    for (int i = 0; i < 2 && rc == KV_OK; i++) {
        const char *name = i ? "task" : "model";
        char *v = h5_attr_get_str(f, name);
        if (!v || !v[0]) snprintf(why, n, "attribute '%s' missing or empty", name), rc = KV_ERR;
        free(v);
    }
    if (rc == KV_OK) rc = structure_check(f, why, n);
    H5Fclose(f);
    if (rc != KV_OK) return KV_ERR;
    rc = full ? store_read_item(path, rec) : store_read_item_keys(path, rec);
    if (rc != KV_OK) {
        /* The store's message starts with the path; keep what follows it. */
        const char *m = kv_lasterr(), *p = strstr(m, path);
        if (p == m) p = m + strlen(path), p += strspn(p, ": ");
        else p = m;
        snprintf(why, n, "%s", p);
        return KV_ERR;
    }
    for (int s = 0; s < rec->ns && rc == KV_OK; s++)
        if (rec->samples[s].index < 0)
            snprintf(why, n, "sample index %d is negative", rec->samples[s].index), rc = KV_ERR;
    if (rc != KV_OK) item_record_free(rec);
    return rc;
}

int item_path_cell(const char *path, char *model, size_t nm, char *task, size_t nt)
{
    const char *p = strstr(path, "/items/");
    if (!p) return KV_ERR;
    p += 7;
    const char *s1 = strchr(p, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2) return KV_ERR;
    snprintf(model, nm, "%.*s", (int)(s1 - p), p);
    snprintf(task, nt, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
    return KV_OK;
}

int item_quarantine(const char *dir, const char *path, const char *why, const char *consequence)
{
    const char *rel = strstr(path, "/items/");
    rel = rel ? rel + 7 : path;
    char dest[4600], folder[4600];
    snprintf(dest, sizeof dest, "%s/quarantine/%s", dir, rel);
    snprintf(folder, sizeof folder, "%s", dest);
    char *slash = strrchr(folder, '/');
    if (slash) *slash = 0;
    if (store_mkdirs(folder) != KV_OK) return KV_ERR;
    /* Never overwrite an earlier quarantined copy: the same item may be damaged twice. */
    char base[4400];
    snprintf(base, sizeof base, "%.4300s", dest);
    for (int k = 1; kv_file_exists(dest) && k < 1000; k++) snprintf(dest, sizeof dest, "%s.%d", base, k);
    if (rename(path, dest) != 0) {
        if (errno == ENOENT) return KV_OK;
        kv_seterr("cannot move damaged item file %s to %s: %s", path, dest, strerror(errno));
        return KV_ERR;
    }
    fprintf(stderr, "kvbench: warning: damaged item file %s (%s): moved to %s; %s\n", path, why, dest, consequence);
    return KV_OK;
}
