/* store: HDF5 item files (atomic write by rename), their reading and listing (see store.h). */
#include "harness/sweep/store.h"
#include "harness/sweep/analysis.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/hash.h"
#include "util/util.h"

/* Library errors become our one-line messages; the HDF5 stack dump would only add noise. */
static void h5_quiet(void)
{
    static int done;
    if (!done) H5Eset_auto2(H5E_DEFAULT, NULL, NULL), done = 1;
}

static hid_t str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int h5_attr_str(hid_t obj, const char *name, const char *value)
{
    hid_t t = str_type(), sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *v = value ? value : "";
    herr_t rc = a < 0 ? -1 : H5Awrite(a, t, &v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp), H5Tclose(t);
    return rc < 0 ? KV_ERR : KV_OK;
}

static int attr_num(hid_t obj, const char *name, hid_t type, const void *v, hsize_t n)
{
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? KV_ERR : KV_OK;
}

int h5_attr_int(hid_t obj, const char *name, long long value) { return attr_num(obj, name, H5T_NATIVE_LLONG, &value, 0); }
int h5_attr_double(hid_t obj, const char *name, double value) { return attr_num(obj, name, H5T_NATIVE_DOUBLE, &value, 0); }
int h5_attr_ints(hid_t obj, const char *name, const int *v, int n)
{
    int zero = 0;
    /* A zero-length dataspace is awkward for readers; store [] as a one-element [-1]-free empty marker. */
    if (n == 0) return attr_num(obj, name, H5T_NATIVE_INT, &zero, 0) == KV_OK ? KV_OK : KV_ERR;
    return attr_num(obj, name, H5T_NATIVE_INT, v, (hsize_t)n);
}

char *h5_attr_get_str(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = str_type();
    char *v = NULL, *out = NULL;
    if (a >= 0 && H5Aread(a, t, &v) >= 0 && v) {
        out = kv_strdup(v);
        H5free_memory(v);
    }
    if (a >= 0) H5Aclose(a);
    H5Tclose(t);
    return out;
}

int h5_attr_get_int(hid_t obj, const char *name, long long *v)
{
    if (H5Aexists(obj, name) <= 0) return KV_ERR;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = H5Aread(a, H5T_NATIVE_LLONG, v);
    H5Aclose(a);
    return rc < 0 ? KV_ERR : KV_OK;
}

int h5_attr_get_double(hid_t obj, const char *name, double *v)
{
    if (H5Aexists(obj, name) <= 0) return KV_ERR;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = H5Aread(a, H5T_NATIVE_DOUBLE, v);
    H5Aclose(a);
    return rc < 0 ? KV_ERR : KV_OK;
}

int h5_attr_get_ints(hid_t obj, const char *name, int *v, int cap, int *n)
{
    *n = 0;
    if (H5Aexists(obj, name) <= 0) return KV_ERR;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), sp = a < 0 ? -1 : H5Aget_space(a);
    int rc = KV_ERR;
    if (sp >= 0) {
        int nd = H5Sget_simple_extent_ndims(sp);
        hsize_t len = 0;
        if (nd == 1) H5Sget_simple_extent_dims(sp, &len, NULL);
        /* h5_attr_ints stores [] as a scalar 0: an empty list */
        if (nd == 0) rc = KV_OK;
        else if (nd == 1 && len <= (hsize_t)cap && H5Aread(a, H5T_NATIVE_INT, v) >= 0) rc = KV_OK, *n = (int)len;
        H5Sclose(sp);
    }
    if (a >= 0) H5Aclose(a);
    return rc;
}

static int write_ds(hid_t loc, const char *name, hid_t type, const void *v, hsize_t d0, hsize_t d1)
{
    hsize_t dims[2] = {d0, d1};
    hid_t sp = H5Screate_simple(d1 ? 2 : 1, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : ((d0 * (d1 ? d1 : 1)) != 0 ? H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : 0);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    if (rc < 0) kv_seterr("cannot write dataset '%s'", name);
    return rc < 0 ? KV_ERR : KV_OK;
}

int h5_write_strs(hid_t loc, const char *name, const char *const *v, hsize_t d0, hsize_t d1)
{
    size_t n = (size_t)(d0 * (d1 ? d1 : 1));
    const char **w = kv_malloc(sizeof *w * (n ? n : 1));
    for (size_t i = 0; i < n; i++) w[i] = v[i] ? v[i] : "";
    hid_t t = str_type();
    int rc = write_ds(loc, name, t, w, d0, d1);
    H5Tclose(t);
    free(w);
    return rc;
}

int h5_write_ints(hid_t loc, const char *name, const int *v, hsize_t d0, hsize_t d1)
{
    return write_ds(loc, name, H5T_NATIVE_INT, v, d0, d1);
}

int h5_write_doubles(hid_t loc, const char *name, const double *v, hsize_t d0, hsize_t d1)
{
    return write_ds(loc, name, H5T_NATIVE_DOUBLE, v, d0, d1);
}

static int read_ds(hid_t loc, const char *name, hid_t type, void *v, size_t count)
{
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) {
        kv_seterr("dataset '%s' missing", name);
        return KV_ERR;
    }
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    herr_t rc = 0;
    if (n != (hssize_t)count)
        rc = -1, kv_seterr("dataset '%s' has %lld elements, expected %zu", name, (long long)n, count);
    else if (count)
        rc = H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (rc < 0 && n == (hssize_t)count) kv_seterr("cannot read dataset '%s'", name);
    H5Sclose(sp), H5Dclose(d);
    return rc < 0 ? KV_ERR : KV_OK;
}

int h5_read_strs(hid_t loc, const char *name, char **v, size_t count)
{
    char **tmp = kv_calloc(count ? count : 1, sizeof *tmp);
    hid_t t = str_type();
    int rc = read_ds(loc, name, t, tmp, count);
    H5Tclose(t);
    for (size_t i = 0; i < count; i++) {
        v[i] = rc == KV_OK ? kv_strdup(tmp[i] ? tmp[i] : "") : NULL;
        if (tmp[i]) H5free_memory(tmp[i]);
    }
    free(tmp);
    return rc;
}

int h5_read_ints(hid_t loc, const char *name, int *v, size_t count) { return read_ds(loc, name, H5T_NATIVE_INT, v, count); }
int h5_read_doubles(hid_t loc, const char *name, double *v, size_t count)
{
    return read_ds(loc, name, H5T_NATIVE_DOUBLE, v, count);
}

/* ---- the schema lists (store.h) as tables, and the table-driven columns ---------------------- */

const col_desc item_prov_cols[] = {ITEM_PROV_FIELDS(ITEM_COL_PROV)};
const col_desc item_variant_cols[] = {ITEM_VARIANT_FIELDS(ITEM_COL_VARIANT)};
const col_desc item_sample_cols[] = {ITEM_SAMPLE_FIELDS(ITEM_COL_SAMPLE)};
const col_desc item_result_cols[] = {ITEM_RESULT_FIELDS(ITEM_COL_RESULT)};
#define N_COLS(a) (int)(sizeof a / sizeof a[0])
const int item_prov_ncols = N_COLS(item_prov_cols), item_variant_ncols = N_COLS(item_variant_cols);
const int item_sample_ncols = N_COLS(item_sample_cols), item_result_ncols = N_COLS(item_result_cols);

static const col_desc *col_find(const col_desc *cols, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(cols[i].name, name)) return &cols[i];
    kv_die("store: no column '%s' in its schema list", name);
}

#define COL_AT(base, stride, rows, i, c) \
    ((const char *)((rows) ? (rows)[i] : (const char *)(base) + (size_t)(i) * (stride)) + (c)->offset)

int h5_write_col(hid_t loc, const col_desc *c, const void *base, size_t stride, const void *const *rows,
                 hsize_t d0, hsize_t d1)
{
    size_t n = (size_t)(d0 * (d1 ? d1 : 1)), i;
    int rc;
    if (c->kind == COL_INT) {
        int *v = kv_malloc(sizeof *v * (n + 1));
        for (i = 0; i < n; i++) memcpy(&v[i], COL_AT(base, stride, rows, i, c), sizeof *v);
        rc = h5_write_ints(loc, c->name, v, d0, d1);
        free(v);
    } else if (c->kind == COL_DBL) {
        double *v = kv_malloc(sizeof *v * (n + 1));
        for (i = 0; i < n; i++) memcpy(&v[i], COL_AT(base, stride, rows, i, c), sizeof *v);
        rc = h5_write_doubles(loc, c->name, v, d0, d1);
        free(v);
    } else {
        /* COL_STR, or COL_IDS joined as "2,9" */
        char **v = kv_calloc(n + 1, sizeof *v);
        for (i = 0; i < n; i++) {
            const char *at = COL_AT(base, stride, rows, i, c);
            if (c->kind == COL_STR) {
                memcpy(&v[i], at, sizeof v[i]);
                continue;
            }
            int ids[ITEM_MAX_IDS + 1];
            memcpy(ids, at, sizeof ids);
            v[i] = kv_calloc(ITEM_MAX_IDS * 12 + 1, 1);
            for (int k = 0, len = 0; k < ids[ITEM_MAX_IDS] && k < ITEM_MAX_IDS; k++)
                len += snprintf(v[i] + len, 13, k ? ",%d" : "%d", ids[k]);
        }
        rc = h5_write_strs(loc, c->name, (const char *const *)v, d0, d1);
        if (c->kind == COL_IDS)
            for (i = 0; i < n; i++) free(v[i]);
        free(v);
    }
    return rc;
}

int h5_read_col(hid_t loc, const col_desc *c, void *base, size_t stride, size_t count)
{
    size_t i;
    int rc = KV_ERR;
    void *v = kv_calloc(count + 1, c->kind == COL_DBL ? sizeof(double) : c->kind == COL_INT ? sizeof(int) : sizeof(char *));
    if (c->kind == COL_INT) rc = h5_read_ints(loc, c->name, v, count);
    else if (c->kind == COL_DBL) rc = h5_read_doubles(loc, c->name, v, count);
    else if (c->kind == COL_STR) rc = h5_read_strs(loc, c->name, v, count);
    else kv_seterr("column '%s' is an attribute list, not a dataset", c->name);
    size_t size = c->kind == COL_DBL ? sizeof(double) : c->kind == COL_INT ? sizeof(int) : sizeof(char *);
    if (rc == KV_OK)
        for (i = 0; i < count; i++) memcpy((char *)base + i * stride + c->offset, (char *)v + i * size, size);
    free(v);
    return rc;
}

int h5_write_attrs(hid_t obj, const col_desc *cols, int n, const void *p)
{
    int rc = KV_OK;
    for (int i = 0; i < n; i++) {
        const col_desc *c = &cols[i];
        const char *at = (const char *)p + c->offset;
        if (c->kind == COL_STR) {
            const char *v;
            memcpy(&v, at, sizeof v);
            rc |= h5_attr_str(obj, c->name, v);
        } else if (c->kind == COL_INT) {
            int v;
            memcpy(&v, at, sizeof v);
            rc |= h5_attr_int(obj, c->name, v);
        } else if (c->kind == COL_DBL) {
            double v;
            memcpy(&v, at, sizeof v);
            rc |= h5_attr_double(obj, c->name, v);
        } else {
            int ids[ITEM_MAX_IDS + 1];
            memcpy(ids, at, sizeof ids);
            rc |= h5_attr_ints(obj, c->name, ids, ids[ITEM_MAX_IDS]);
        }
    }
    return rc ? KV_ERR : KV_OK;
}

void h5_read_attrs(hid_t obj, const col_desc *cols, int n, void *p)
{
    for (int i = 0; i < n; i++) {
        const col_desc *c = &cols[i];
        char *at = (char *)p + c->offset;
        if (c->kind == COL_STR) {
            char *v = h5_attr_get_str(obj, c->name);
            if (!v) v = kv_strdup("");
            memcpy(at, &v, sizeof v);
        } else if (c->kind == COL_INT) {
            long long v = 0;
            h5_attr_get_int(obj, c->name, &v);
            int iv = (int)v;
            memcpy(at, &iv, sizeof iv);
        } else if (c->kind == COL_DBL) {
            double v = 0;
            h5_attr_get_double(obj, c->name, &v);
            memcpy(at, &v, sizeof v);
        } else {
            int ids[ITEM_MAX_IDS + 1] = {0};
            h5_attr_get_ints(obj, c->name, ids, ITEM_MAX_IDS, &ids[ITEM_MAX_IDS]);
            memcpy(at, ids, sizeof ids);
        }
    }
}

void col_free_strs(const col_desc *cols, int n, void *p)
{
    for (int i = 0; i < n; i++) {
        if (cols[i].kind != COL_STR) continue;
        char *v, *null = NULL, *at = (char *)p + cols[i].offset;
        memcpy(&v, at, sizeof v);
        free(v);
        memcpy(at, &null, sizeof null);
    }
}

int store_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            kv_seterr("cannot create folder %s: %s", buf, strerror(errno));
            return KV_ERR;
        }
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        kv_seterr("cannot create folder %s: %s", buf, strerror(errno));
        return KV_ERR;
    }
    return KV_OK;
}

void item_record_alloc(item_record *r, int ns, int nv)
{
    memset(r, 0, sizeof *r);
    r->ns = ns, r->nv = nv;
    r->var = kv_calloc(nv, sizeof *r->var);
    r->samples = kv_calloc(ns, sizeof *r->samples);
    r->res = kv_calloc((size_t)ns * nv, sizeof *r->res);
}

void item_record_free(item_record *r)
{
    analysis_free(r->an);
    col_free_strs(item_prov_cols, item_prov_ncols, &r->prov);
    for (int v = 0; v < r->nv; v++) col_free_strs(item_variant_cols, item_variant_ncols, &r->var[v]);
    for (int s = 0; s < r->ns; s++) col_free_strs(item_sample_cols, item_sample_ncols, &r->samples[s]);
    for (long i = 0; i < (long)r->ns * r->nv; i++) col_free_strs(item_result_cols, item_result_ncols, &r->res[i]);
    free(r->var), free(r->samples), free(r->res);
    memset(r, 0, sizeof *r);
}

#define ITEM_FORMAT "kvbench-item-1"

/* Every dataset of the item (attributes are written by store_write_item). */
static int write_body(hid_t f, const item_record *r)
{
    int ns = r->ns, nv = r->nv, rc = KV_OK;
    hid_t g = H5Gcreate2(f, "variants", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int c = 0; c < item_variant_ncols; c++)
        rc |= h5_write_col(g, &item_variant_cols[c], r->var, sizeof *r->var, NULL, nv, 0);
    /* Cell hash: model, task, variant — the identity of one table cell's inputs. */
    char **cell = kv_calloc(nv + 1, sizeof(char *));
    for (int v = 0; v < nv; v++) {
        uint64_t h = kv_fnv1a_str0(r->var[v].key, kv_fnv1a_str0(r->prov.task, kv_fnv1a_str0(r->prov.model, KV_FNV_SEED)));
        cell[v] = kv_malloc(17);
        snprintf(cell[v], 17, "%016llx", (unsigned long long)h);
    }
    rc |= h5_write_strs(g, "cell_hash", (const char *const *)cell, nv, 0);
    for (int v = 0; v < nv; v++) free(cell[v]);
    free(cell);
    H5Gclose(g);

    g = H5Gcreate2(f, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int c = 0; c < item_sample_ncols; c++)
        rc |= h5_write_col(g, &item_sample_cols[c], r->samples, sizeof *r->samples, NULL, ns, 0);
    H5Gclose(g);

    /* (ns, nv) columns; a 1-sample, 1-variant item still gets 2-D datasets. */
    g = H5Gcreate2(f, "results", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int c = 0; c < item_result_ncols; c++)
        rc |= h5_write_col(g, &item_result_cols[c], r->res, sizeof *r->res, NULL, ns, nv);
    H5Gclose(g);
    if (rc == KV_OK && r->an) rc = analysis_write(f, r->an);
    return rc ? KV_ERR : KV_OK;
}

static int last_write_errno;
int store_write_errno(void) { return last_write_errno; }

/* errno of a failed create of the item's folder or temporary. HDF5's clean-up after a failed
 * create can overwrite errno, so a file system with almost nothing free (< 64 KiB) also counts
 * as full: the caller then says "disk full" with the estimate instead of a bare "cannot create". */
static int create_errno(const char *folder)
{
    int e = errno;
    struct statvfs vf;
    if (e != ENOSPC && e != EDQUOT && statvfs(folder, &vf) == 0 && (double)vf.f_bavail * (double)vf.f_frsize < 65536)
        e = ENOSPC;
    return e;
}

int store_write_item(const char *dir, const char *rel_path, const item_record *rec, int rank)
{
    last_write_errno = 0;
    double t_start = kv_now();
    h5_quiet();
    char final[4096], tmp[4200], folder[4096];
    snprintf(final, sizeof final, "%s/%s", dir, rel_path);
    snprintf(folder, sizeof folder, "%s", final);
    char *slash = strrchr(folder, '/');
    if (slash) *slash = 0;
    if (store_mkdirs(folder) != KV_OK) {
        char *parent = strrchr(folder, '/');
        while (parent && parent > folder && !kv_file_exists(folder)) *parent = 0, parent = strrchr(folder, '/');
        last_write_errno = create_errno(folder);
        return KV_ERR;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%d", final, rank, (int)getpid());
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        last_write_errno = create_errno(folder);
        unlink(tmp);
        kv_seterr("cannot create %s: %s", tmp, strerror(last_write_errno));
        return KV_ERR;
    }
    /* io_s: the caller's read time for this item plus the writing of its datasets, measured up to
     * here (the closing fsync and rename are in the rank's exec_timing.io, not in the file). */
    item_prov prov = rec->prov;
    int rc = h5_attr_str(f, "format", ITEM_FORMAT);
    if (rc == KV_OK) rc = write_body(f, rec);
    prov.io_s += kv_now() - t_start;
    if (rc == KV_OK) rc = h5_write_attrs(f, item_prov_cols, item_prov_ncols, &prov);
    if (H5Fclose(f) < 0) rc = KV_ERR;
    if (rc == KV_OK) {
        /* Data on disk before the name appears: a crash leaves a temporary, never a torn item. */
        int fd = open(tmp, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) rc = KV_ERR;
        if (fd >= 0) close(fd);
    }
    if (rc == KV_OK && rename(tmp, final) != 0) rc = KV_ERR;
    if (rc != KV_OK) {
        last_write_errno = errno; /* a full disk shows as ENOSPC from HDF5's write, fsync or close */
        unlink(tmp);
        kv_seterr("cannot write item file %s: %s", final, kv_lasterr()[0] ? kv_lasterr() : strerror(errno));
        return KV_ERR;
    }
    int dfd = open(folder, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) fsync(dfd), close(dfd);
    return KV_OK;
}

/* An item file opened read-only for r (cleared); < 0 with the message set when it cannot be. */
static hid_t item_open(const char *path, item_record *r)
{
    h5_quiet();
    memset(r, 0, sizeof *r);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) kv_seterr("%s: not a readable HDF5 file", path);
    return f;
}

int store_read_item(const char *path, item_record *r)
{
    hid_t f = item_open(path, r);
    if (f < 0) return KV_ERR;
    char *format = h5_attr_get_str(f, "format");
    if (!format || strcmp(format, ITEM_FORMAT)) {
        free(format);
        H5Fclose(f);
        kv_seterr("%s: not a kvbench item file (format attribute '" ITEM_FORMAT "' expected)", path);
        return KV_ERR;
    }
    free(format);
    hid_t gv = H5Gopen2(f, "variants", H5P_DEFAULT), gs = H5Gopen2(f, "samples", H5P_DEFAULT);
    hid_t gr = H5Gopen2(f, "results", H5P_DEFAULT);
    int rc = (gv < 0 || gs < 0 || gr < 0) ? KV_ERR : KV_OK;
    if (rc != KV_OK) kv_seterr("groups variants/samples/results missing");
    hsize_t nv = 0, ns = 0;
    if (rc == KV_OK) {
        hid_t d = H5Dopen2(gv, "key", H5P_DEFAULT), sp = H5Dget_space(d);
        H5Sget_simple_extent_dims(sp, &nv, NULL);
        H5Sclose(sp), H5Dclose(d);
        d = H5Dopen2(gs, "index", H5P_DEFAULT), sp = H5Dget_space(d);
        H5Sget_simple_extent_dims(sp, &ns, NULL);
        H5Sclose(sp), H5Dclose(d);
        item_record_alloc(r, (int)ns, (int)nv);
    }
    h5_read_attrs(f, item_prov_cols, item_prov_ncols, &r->prov);
    if (rc == KV_OK) {
        for (int c = 0; c < item_variant_ncols; c++)
            rc |= h5_read_col(gv, &item_variant_cols[c], r->var, sizeof *r->var, nv);
        for (int c = 0; c < item_sample_ncols; c++)
            rc |= h5_read_col(gs, &item_sample_cols[c], r->samples, sizeof *r->samples, ns);
        for (int c = 0; c < item_result_ncols; c++)
            rc |= h5_read_col(gr, &item_result_cols[c], r->res, sizeof *r->res, (size_t)ns * nv);
    }
    if (rc == KV_OK) rc = analysis_read(f, (int)ns, (int)nv, &r->an);
    if (gv >= 0) H5Gclose(gv);
    if (gs >= 0) H5Gclose(gs);
    if (gr >= 0) H5Gclose(gr);
    H5Fclose(f);
    if (rc != KV_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kv_lasterr());
        item_record_free(r);
        kv_seterr("%s: damaged item file: %s", path, msg);
        return KV_ERR;
    }
    return KV_OK;
}

int store_read_item_keys(const char *path, item_record *r)
{
    hid_t f = item_open(path, r);
    if (f < 0) return KV_ERR;
    int rc = KV_ERR;
    hid_t gv = H5Gopen2(f, "variants", H5P_DEFAULT), gs = gv < 0 ? -1 : H5Gopen2(f, "samples", H5P_DEFAULT);
    if (gv >= 0 && gs >= 0) {
        hsize_t nv = 0, ns = 0;
        hid_t d = H5Dopen2(gv, "key", H5P_DEFAULT), sp = d < 0 ? -1 : H5Dget_space(d);
        if (sp >= 0) H5Sget_simple_extent_dims(sp, &nv, NULL), H5Sclose(sp);
        if (d >= 0) H5Dclose(d);
        d = H5Dopen2(gs, "index", H5P_DEFAULT), sp = d < 0 ? -1 : H5Dget_space(d);
        if (sp >= 0) H5Sget_simple_extent_dims(sp, &ns, NULL), H5Sclose(sp);
        if (d >= 0) H5Dclose(d);
        item_record_alloc(r, (int)ns, (int)nv);
        rc = h5_read_col(gv, col_find(item_variant_cols, item_variant_ncols, "key"), r->var, sizeof *r->var, nv) |
             h5_read_col(gs, col_find(item_sample_cols, item_sample_ncols, "index"), r->samples, sizeof *r->samples, ns);
        r->prov.model = h5_attr_get_str(f, "model");
        r->prov.task = h5_attr_get_str(f, "task");
        if (!r->prov.model || !r->prov.task) rc = KV_ERR;
    }
    if (gs >= 0) H5Gclose(gs);
    if (gv >= 0) H5Gclose(gv);
    H5Fclose(f);
    if (rc != KV_OK) {
        item_record_free(r);
        kv_seterr("%s: damaged item file (variants/key, samples/index, model and task expected)", path);
        return KV_ERR;
    }
    return KV_OK;
}

typedef struct {
    char **v;
    int n, cap;
} strlist;

static void list_walk(const char *dir, int remove_stale, strlist *out)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            list_walk(p, remove_stale, out);
        } else if (strstr(e->d_name, ".tmp.")) {
            if (remove_stale) unlink(p);
        } else {
            size_t l = strlen(e->d_name);
            if (l > 3 && !strcmp(e->d_name + l - 3, ".h5")) {
                if (out->n == out->cap) out->v = kv_realloc(out->v, sizeof(char *) * (size_t)(out->cap = out->cap ? 2 * out->cap : 256));
                out->v[out->n++] = kv_strdup(p);
            }
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int store_list_items(const char *dir, int remove_stale, char ***paths, int *n)
{
    char items[4096];
    snprintf(items, sizeof items, "%s/items", dir);
    strlist l = {0};
    list_walk(items, remove_stale, &l);
    if (l.n) qsort(l.v, (size_t)l.n, sizeof(char *), cmp_str);
    *paths = l.v;
    *n = l.n;
    return KV_OK;
}

void store_paths_free(char **paths, int n)
{
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

const char *store_engine_rev(void)
{
    static char rev[128];
    if (rev[0]) return rev;
    snprintf(rev, sizeof rev, "unknown");
    /* The source tree is the folder above build/ holding the executable. */
    char exe[4096];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l <= 0) return rev;
    exe[l] = 0;
    for (int up = 0; up < 3; up++) {
        char *s = strrchr(exe, '/');
        if (!s) return rev;
        *s = 0;
        char git[4200];
        snprintf(git, sizeof git, "%s/.git", exe);
        if (kv_file_exists(git) || kv_is_dir(git)) break;
        if (up == 2) return rev;
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "git -C '%s' describe --always --dirty --abbrev=12 2>/dev/null", exe);
    FILE *p = popen(cmd, "r");
    if (!p) return rev;
    char line[128] = "";
    if (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0]) snprintf(rev, sizeof rev, "%s", line);
    }
    pclose(p);
    return rev;
}

void store_utc_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
