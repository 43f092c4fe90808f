/* store: HDF5 item files (atomic write by rename), their reading and listing (see store.h). */
#include "harness/sweep/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
    r->var_key = kv_calloc(nv, sizeof(char *));
    r->var_label = kv_calloc(nv, sizeof(char *));
    r->var_method = kv_calloc(nv, sizeof(char *));
    r->var_budget = kv_calloc(nv, sizeof(int));
    r->samples = kv_calloc(ns, sizeof *r->samples);
    r->res = kv_calloc((size_t)ns * nv, sizeof *r->res);
}

static void prov_free(item_prov *p)
{
    char **s[] = {&p->sweep, &p->sweep_hash, &p->model, &p->model_path, &p->model_hash, &p->family, &p->dtype,
                  &p->chat, &p->task, &p->data_file, &p->data_hash, &p->preset, &p->engine_rev, &p->host,
                  &p->device, &p->backend, &p->created};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) free(*s[i]), *s[i] = NULL;
}

void item_record_free(item_record *r)
{
    prov_free(&r->prov);
    for (int v = 0; v < r->nv; v++) free(r->var_key[v]), free(r->var_label[v]), free(r->var_method[v]);
    for (int s = 0; s < r->ns; s++) free(r->samples[s].id);
    for (long i = 0; i < (long)r->ns * r->nv; i++) free(r->res[i].prediction);
    free(r->var_key), free(r->var_label), free(r->var_method), free(r->var_budget), free(r->samples), free(r->res);
    memset(r, 0, sizeof *r);
}

static int write_prov(hid_t f, const item_prov *p)
{
    int rc = KV_OK;
    rc |= h5_attr_str(f, "format", "kvbench-item-1");
    rc |= h5_attr_str(f, "sweep", p->sweep);
    rc |= h5_attr_str(f, "sweep_hash", p->sweep_hash);
    rc |= h5_attr_str(f, "model", p->model);
    rc |= h5_attr_str(f, "model_path", p->model_path);
    rc |= h5_attr_str(f, "model_hash", p->model_hash);
    rc |= h5_attr_str(f, "family", p->family);
    rc |= h5_attr_str(f, "dtype", p->dtype);
    rc |= h5_attr_str(f, "chat", p->chat);
    rc |= h5_attr_int(f, "max_prompt_tokens", p->max_prompt_tokens);
    rc |= h5_attr_int(f, "tensor_parallel", p->tensor_parallel);
    rc |= h5_attr_ints(f, "stop_ids", p->stop_ids, p->n_stop_ids);
    rc |= h5_attr_str(f, "task", p->task);
    rc |= h5_attr_str(f, "data_file", p->data_file);
    rc |= h5_attr_str(f, "data_hash", p->data_hash);
    rc |= h5_attr_str(f, "preset", p->preset);
    rc |= h5_attr_int(f, "max_new_tokens", p->max_new_tokens);
    rc |= h5_attr_str(f, "engine_rev", p->engine_rev);
    rc |= h5_attr_str(f, "host", p->host);
    rc |= h5_attr_str(f, "device", p->device);
    rc |= h5_attr_str(f, "backend", p->backend);
    rc |= h5_attr_int(f, "rank", p->rank);
    rc |= h5_attr_int(f, "world", p->world);
    rc |= h5_attr_str(f, "created", p->created);
    rc |= h5_attr_double(f, "load_s", p->load_s);
    rc |= h5_attr_double(f, "io_s", p->io_s);
    return rc ? KV_ERR : KV_OK;
}

static int write_body(hid_t f, const item_record *r)
{
    int ns = r->ns, nv = r->nv, rc = KV_OK;
    size_t n = (size_t)ns * nv;
    hid_t g = H5Gcreate2(f, "variants", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char **cell = kv_calloc(nv, sizeof(char *));
    for (int v = 0; v < nv; v++) {
        /* Cell hash: model, task, variant — the identity of one table cell's inputs. */
        uint64_t h = kv_fnv1a_str0(r->var_key[v], kv_fnv1a_str0(r->prov.task, kv_fnv1a_str0(r->prov.model, KV_FNV_SEED)));
        cell[v] = kv_malloc(17);
        snprintf(cell[v], 17, "%016llx", (unsigned long long)h);
    }
    rc |= h5_write_strs(g, "key", (const char *const *)r->var_key, nv, 0);
    rc |= h5_write_strs(g, "label", (const char *const *)r->var_label, nv, 0);
    rc |= h5_write_strs(g, "method", (const char *const *)r->var_method, nv, 0);
    rc |= h5_write_ints(g, "budget", r->var_budget, nv, 0);
    rc |= h5_write_strs(g, "cell_hash", (const char *const *)cell, nv, 0);
    for (int v = 0; v < nv; v++) free(cell[v]);
    free(cell);
    H5Gclose(g);

    g = H5Gcreate2(f, "samples", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int *iv = kv_malloc(sizeof(int) * (n > (size_t)ns ? n : (size_t)ns) + 1);
    double *dv = kv_malloc(sizeof(double) * (n > (size_t)ns ? n : (size_t)ns) + 1);
    const char **sv = kv_malloc(sizeof(char *) * (n > (size_t)ns ? n : (size_t)ns) + 1);
#define COL_I(loc, name, len, expr) \
    do { for (size_t i = 0; i < (size_t)(len); i++) iv[i] = (expr); rc |= h5_write_ints(loc, name, iv, (hsize_t)(len), 0); } while (0)
#define COL_D(loc, name, len, expr) \
    do { for (size_t i = 0; i < (size_t)(len); i++) dv[i] = (expr); rc |= h5_write_doubles(loc, name, dv, (hsize_t)(len), 0); } while (0)
    COL_I(g, "index", ns, r->samples[i].index);
    for (int i = 0; i < ns; i++) sv[i] = r->samples[i].id;
    rc |= h5_write_strs(g, "id", sv, ns, 0);
    COL_I(g, "prompt_tokens_raw", ns, r->samples[i].prompt_tokens_raw);
    COL_I(g, "prompt_tokens", ns, r->samples[i].prompt_tokens);
    COL_D(g, "prefill_s", ns, r->samples[i].prefill_s);
    COL_D(g, "compress_s", ns, r->samples[i].compress_s);
    COL_D(g, "decode_s", ns, r->samples[i].decode_s);
    H5Gclose(g);

    g = H5Gcreate2(f, "results", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (size_t i = 0; i < n; i++) sv[i] = r->res[i].prediction;
    rc |= h5_write_strs(g, "prediction", sv, ns, nv);
    /* (ns, nv) columns; a 1-sample, 1-variant item still gets 2-D datasets. */
#define COL2_I(name, expr) \
    do { for (size_t i = 0; i < n; i++) iv[i] = (expr); rc |= h5_write_ints(g, name, iv, ns, nv); } while (0)
#define COL2_D(name, expr) \
    do { for (size_t i = 0; i < n; i++) dv[i] = (expr); rc |= h5_write_doubles(g, name, dv, ns, nv); } while (0)
    COL2_I("n_generated", r->res[i].n_generated);
    COL2_I("stopped", r->res[i].stopped);
    COL2_D("kept_mean", r->res[i].kept_mean);
    COL2_I("kept_min", r->res[i].kept_min);
    COL2_I("kept_max", r->res[i].kept_max);
    COL2_I("kept_expected", r->res[i].kept_expected);
    COL2_D("score", r->res[i].score);
    H5Gclose(g);
    free(iv), free(dv), free(sv);
    return rc ? KV_ERR : KV_OK;
}

int store_write_item(const char *dir, const char *rel_path, const item_record *rec, int rank)
{
    h5_quiet();
    char final[4096], tmp[4200], folder[4096];
    snprintf(final, sizeof final, "%s/%s", dir, rel_path);
    snprintf(folder, sizeof folder, "%s", final);
    char *slash = strrchr(folder, '/');
    if (slash) *slash = 0;
    if (store_mkdirs(folder) != KV_OK) return KV_ERR;
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%d", final, rank, (int)getpid());
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        kv_seterr("cannot create %s", tmp);
        return KV_ERR;
    }
    int rc = write_prov(f, &rec->prov);
    if (rc == KV_OK) rc = write_body(f, rec);
    if (H5Fclose(f) < 0) rc = KV_ERR;
    if (rc == KV_OK) {
        /* Data on disk before the name appears: a crash leaves a temporary, never a torn item. */
        int fd = open(tmp, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) rc = KV_ERR;
        if (fd >= 0) close(fd);
    }
    if (rc == KV_OK && rename(tmp, final) != 0) rc = KV_ERR;
    if (rc != KV_OK) {
        unlink(tmp);
        kv_seterr("cannot write item file %s: %s", final, kv_lasterr()[0] ? kv_lasterr() : strerror(errno));
        return KV_ERR;
    }
    int dfd = open(folder, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) fsync(dfd), close(dfd);
    return KV_OK;
}

static char *attr_s(hid_t f, const char *name)
{
    char *v = h5_attr_get_str(f, name);
    return v ? v : kv_strdup("");
}

static int attr_i(hid_t f, const char *name)
{
    long long v = 0;
    h5_attr_get_int(f, name, &v);
    return (int)v;
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
    if (!format || strcmp(format, "kvbench-item-1")) {
        free(format);
        H5Fclose(f);
        kv_seterr("%s: not a kvbench item file (format attribute 'kvbench-item-1' expected)", path);
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
    item_prov *p = &r->prov;
    p->sweep = attr_s(f, "sweep"), p->sweep_hash = attr_s(f, "sweep_hash"), p->model = attr_s(f, "model");
    p->model_path = attr_s(f, "model_path"), p->model_hash = attr_s(f, "model_hash"), p->family = attr_s(f, "family");
    p->dtype = attr_s(f, "dtype"), p->chat = attr_s(f, "chat"), p->task = attr_s(f, "task");
    p->data_file = attr_s(f, "data_file"), p->data_hash = attr_s(f, "data_hash"), p->preset = attr_s(f, "preset");
    p->engine_rev = attr_s(f, "engine_rev"), p->host = attr_s(f, "host"), p->device = attr_s(f, "device");
    p->backend = attr_s(f, "backend"), p->created = attr_s(f, "created");
    p->max_prompt_tokens = attr_i(f, "max_prompt_tokens"), p->tensor_parallel = attr_i(f, "tensor_parallel");
    p->max_new_tokens = attr_i(f, "max_new_tokens"), p->rank = attr_i(f, "rank"), p->world = attr_i(f, "world");
    h5_attr_get_double(f, "load_s", &p->load_s);
    h5_attr_get_double(f, "io_s", &p->io_s);
    size_t n = (size_t)ns * nv;
    if (rc == KV_OK) {
        int *iv = kv_malloc(sizeof(int) * (n + ns + 1));
        double *dv = kv_malloc(sizeof(double) * (n + ns + 1));
        char **sv = kv_calloc(n + ns + 1, sizeof(char *));
        rc |= h5_read_strs(gv, "key", r->var_key, nv);
        rc |= h5_read_strs(gv, "label", r->var_label, nv);
        rc |= h5_read_strs(gv, "method", r->var_method, nv);
        rc |= h5_read_ints(gv, "budget", r->var_budget, nv);
#define RD_I(g, name, cnt, dst)                                                   \
    do {                                                                          \
        if ((rc |= h5_read_ints(g, name, iv, cnt)) == KV_OK)                      \
            for (size_t i = 0; i < (size_t)(cnt); i++) dst = iv[i];               \
    } while (0)
#define RD_D(g, name, cnt, dst)                                                   \
    do {                                                                          \
        if ((rc |= h5_read_doubles(g, name, dv, cnt)) == KV_OK)                   \
            for (size_t i = 0; i < (size_t)(cnt); i++) dst = dv[i];               \
    } while (0)
        RD_I(gs, "index", ns, r->samples[i].index);
        if ((rc |= h5_read_strs(gs, "id", sv, ns)) == KV_OK)
            for (size_t i = 0; i < ns; i++) r->samples[i].id = sv[i];
        RD_I(gs, "prompt_tokens_raw", ns, r->samples[i].prompt_tokens_raw);
        RD_I(gs, "prompt_tokens", ns, r->samples[i].prompt_tokens);
        RD_D(gs, "prefill_s", ns, r->samples[i].prefill_s);
        RD_D(gs, "compress_s", ns, r->samples[i].compress_s);
        RD_D(gs, "decode_s", ns, r->samples[i].decode_s);
        if ((rc |= h5_read_strs(gr, "prediction", sv, n)) == KV_OK)
            for (size_t i = 0; i < n; i++) r->res[i].prediction = sv[i];
        RD_I(gr, "n_generated", n, r->res[i].n_generated);
        RD_I(gr, "stopped", n, r->res[i].stopped);
        RD_D(gr, "kept_mean", n, r->res[i].kept_mean);
        RD_I(gr, "kept_min", n, r->res[i].kept_min);
        RD_I(gr, "kept_max", n, r->res[i].kept_max);
        RD_I(gr, "kept_expected", n, r->res[i].kept_expected);
        RD_D(gr, "score", n, r->res[i].score);
        free(iv), free(dv), free(sv);
    }
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
        int *idx = kv_malloc(sizeof(int) * (ns + 1));
        rc = h5_read_strs(gv, "key", r->var_key, nv) | h5_read_ints(gs, "index", idx, ns);
        for (hsize_t i = 0; i < ns && rc == KV_OK; i++) r->samples[i].index = idx[i];
        free(idx);
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
