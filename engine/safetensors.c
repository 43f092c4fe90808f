/* safetensors: the Hugging Face checkpoint format, single file or sharded. Each file is
 * [u64 little-endian header length N][N bytes of JSON][tensor data]; the JSON maps tensor names to
 * {dtype, shape, data_offsets: [begin, end)} relative to the data section. Everything is checked at
 * open time (lengths, JSON, dtype, shape x dtype size == end - begin, ranges inside the file, no two
 * tensors overlapping, every weight_map entry present in its shard), so the slice reader that
 * follows needs no further checks beyond its window. */
#include "engine/safetensors.h"

#include "engine/sha256.h"
#include "util/half.h"
#include "util/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A header beyond this is certainly corrupt (real ones are a few hundred KB at most). */
#define SAFETENSORS_MAX_HEADER (100u << 20)

typedef struct {
    char *path;
    const uint8_t *map;
    size_t size;
    size_t header_len; /* N: the JSON bytes after the 8-byte length */
} st_file;

struct safetensors {
    st_file *files;
    int n_files;
    safetensors_tensor *tensors;
    int n_tensors, cap_tensors;
};

static int dtype_parse(const char *s, int *dtype, size_t *size)
{
    if (strcmp(s, "F32") == 0) { *dtype = SAFETENSORS_F32; *size = 4; return 1; }
    if (strcmp(s, "F16") == 0) { *dtype = SAFETENSORS_F16; *size = 2; return 1; }
    if (strcmp(s, "BF16") == 0) { *dtype = SAFETENSORS_BF16; *size = 2; return 1; }
    return 0;
}

static int file_map(const char *path, st_file *f)
{
    memset(f, 0, sizeof *f);
    f->path = kv_strdup(path);
    if (kv_map_file(path, &f->map, &f->size) != KV_OK) return KV_ERR;
    if (f->size < 8) {
        kv_seterr("%s: %zu bytes is too short for a safetensors file (8-byte header length "
                  "expected)", path, f->size);
        return KV_ERR;
    }
    return KV_OK;
}

static void add_tensor(safetensors *st, const safetensors_tensor *t)
{
    if (st->n_tensors == st->cap_tensors) {
        st->cap_tensors = st->cap_tensors ? 2 * st->cap_tensors : 64;
        st->tensors = kv_realloc(st->tensors, (size_t)st->cap_tensors * sizeof *st->tensors);
    }
    st->tensors[st->n_tensors++] = *t;
}

typedef struct {
    size_t begin, end;
    const char *name;
} range;

static int range_cmp(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* One header entry `key` of file fi (not __metadata__): dtype, shape, data_offsets inside the
 * data_size bytes at data, their span equal to shape x dtype size, a name not seen before. */
static int parse_entry(safetensors *st, int fi, const char *key, json_t *val, const uint8_t *data, size_t data_size)
{
    st_file *f = &st->files[fi];
    if (strcmp(key, "__metadata__") == 0) return KV_OK;
    json_t *dt = json_object_get(val, "dtype"), *shape = json_object_get(val, "shape");
    json_t *offs = json_object_get(val, "data_offsets");
    if (!json_is_object(val) || !json_is_string(dt) || !json_is_array(shape) ||
        !json_is_array(offs) || json_array_size(offs) != 2) {
        kv_seterr("%s: tensor %s: expected {dtype: string, shape: [..], data_offsets: "
                  "[begin, end]}", f->path, key);
        return KV_ERR;
    }
    safetensors_tensor t = {0};
    size_t esize;
    if (!dtype_parse(json_string_value(dt), &t.dtype, &esize)) {
        kv_seterr("%s: tensor %s: dtype %s is not supported (expected F32, F16 or BF16)",
                  f->path, key, json_string_value(dt));
        return KV_ERR;
    }
    if (json_array_size(shape) > SAFETENSORS_MAX_DIMS) {
        kv_seterr("%s: tensor %s: %zu dims, at most %d supported", f->path, key,
                  json_array_size(shape), SAFETENSORS_MAX_DIMS);
        return KV_ERR;
    }
    t.n_dims = (int)json_array_size(shape);
    uint64_t count = 1;
    for (int d = 0; d < t.n_dims; d++) {
        json_t *e = json_array_get(shape, (size_t)d);
        json_int_t v = json_is_integer(e) ? json_integer_value(e) : -1;
        if (v < 0 || (v > 0 && count > (UINT64_MAX / 8) / (uint64_t)v)) {
            kv_seterr("%s: tensor %s: shape[%d] is not a valid dimension", f->path, key, d);
            return KV_ERR;
        }
        t.shape[d] = v;
        count *= (uint64_t)v;
    }
    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    json_int_t begin = json_is_integer(b) ? json_integer_value(b) : -1;
    json_int_t end = json_is_integer(e) ? json_integer_value(e) : -1;
    if (begin < 0 || end < begin || (uint64_t)end > data_size) {
        kv_seterr("%s: tensor %s: data_offsets [%lld, %lld] outside the %zu data bytes "
                  "(truncated file or corrupt header)", f->path, key, (long long)begin,
                  (long long)end, data_size);
        return KV_ERR;
    }
    if (count * esize != (uint64_t)(end - begin)) {
        kv_seterr("%s: tensor %s: shape x dtype size = %llu bytes, but data_offsets span %lld",
                  f->path, key, (unsigned long long)(count * esize), (long long)(end - begin));
        return KV_ERR;
    }
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, key) == 0) {
            kv_seterr("%s: tensor %s appears twice (also in %s)", f->path, key,
                      st->files[st->tensors[i].file].path);
            return KV_ERR;
        }
    t.name = kv_strdup(key);
    t.data = data + begin;
    t.nbytes = (size_t)(end - begin);
    t.file = fi;
    add_tensor(st, &t);
    return KV_OK;
}

/* No two tensors of file fi (tensors first.. of st) may share bytes. */
static int check_overlap(safetensors *st, int fi, int first, const uint8_t *data)
{
    const st_file *f = &st->files[fi];
    int rc = KV_OK;
    int nt = st->n_tensors - first;
    range *ranges = kv_malloc((size_t)(nt ? nt : 1) * sizeof *ranges);
    for (int i = 0; i < nt; i++) {
        const safetensors_tensor *t = &st->tensors[first + i];
        ranges[i].begin = (size_t)((const uint8_t *)t->data - data);
        ranges[i].end = ranges[i].begin + t->nbytes;
        ranges[i].name = t->name;
    }
    qsort(ranges, (size_t)nt, sizeof *ranges, range_cmp);
    for (int i = 1; i < nt; i++)
        if (ranges[i].begin < ranges[i - 1].end) {
            kv_seterr("%s: tensors %s and %s overlap (data_offsets [%zu, %zu) and [%zu, %zu))",
                      f->path, ranges[i - 1].name, ranges[i].name, ranges[i - 1].begin,
                      ranges[i - 1].end, ranges[i].begin, ranges[i].end);
            rc = KV_ERR;
            break;
        }
    free(ranges);
    return rc;
}

/* Parse and validate file `fi`'s header, appending its tensors. */
static int file_parse(safetensors *st, int fi)
{
    st_file *f = &st->files[fi];
    uint64_t n;
    memcpy(&n, f->map, 8);
    if (n > f->size - 8 || n > SAFETENSORS_MAX_HEADER) {
        kv_seterr("%s: header length %llu exceeds the %zu bytes after it (truncated or not a "
                  "safetensors file)", f->path, (unsigned long long)n, f->size - 8);
        return KV_ERR;
    }
    f->header_len = (size_t)n;
    size_t data_size = f->size - 8 - f->header_len;
    const uint8_t *data = f->map + 8 + f->header_len;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map + 8, f->header_len, 0, &jerr);
    if (!root) {
        kv_seterr("%s: bad JSON header at byte %d: %s", f->path, jerr.position + 8, jerr.text);
        return KV_ERR;
    }
    int rc = KV_ERR;
    int first = st->n_tensors;
    if (!json_is_object(root)) {
        kv_seterr("%s: JSON header is not an object", f->path);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (parse_entry(st, fi, key, val, data, data_size)) goto done;
    }
    rc = check_overlap(st, fi, first, data);
done:
    json_decref(root);
    return rc;
}

static int open_files(safetensors *st, char **paths, int n)
{
    st->files = kv_calloc((size_t)n, sizeof *st->files);
    for (int i = 0; i < n; i++) {
        st->n_files = i + 1;
        if (file_map(paths[i], &st->files[i]) || file_parse(st, i)) return KV_ERR;
    }
    return KV_OK;
}

/* Sharded folder: the distinct files of weight_map (first-appearance order), then check that every
 * listed tensor is in the file the index names. */
static int open_index(safetensors *st, const char *dir, const char *index_path)
{
    json_error_t jerr;
    json_t *root = json_load_file(index_path, 0, &jerr);
    if (!root) {
        kv_seterr("%s:%d:%d: cannot parse JSON: %s", index_path, jerr.line, jerr.column, jerr.text);
        return KV_ERR;
    }
    int rc = KV_ERR, n = 0;
    char **paths = NULL;
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        kv_seterr("%s: expected a non-empty \"weight_map\" object", index_path);
        goto done;
    }
    paths = kv_calloc(json_object_size(wm), sizeof *paths);
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val)) {
            kv_seterr("%s: weight_map[\"%s\"] must be a file name", index_path, key);
            goto done;
        }
        const char *fn = json_string_value(val);
        if (!*fn || strchr(fn, '/') || strcmp(fn, "..") == 0) {
            kv_seterr("%s: weight_map[\"%s\"] = \"%s\" is not a plain file name in the folder",
                      index_path, key, fn);
            goto done;
        }
        char full[2048];
        snprintf(full, sizeof full, "%s/%s", dir, fn);
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = strcmp(paths[i], full) == 0;
        if (!seen) paths[n++] = kv_strdup(full);
    }
    if (open_files(st, paths, n)) goto done;
    json_object_foreach(wm, key, val) {
        const safetensors_tensor *t = safetensors_find(st, key);
        char full[2048];
        snprintf(full, sizeof full, "%s/%s", dir, json_string_value(val));
        if (!t || strcmp(st->files[t->file].path, full) != 0) {
            kv_seterr("%s: tensor %s is listed in %s but not found there", full, key, index_path);
            goto done;
        }
    }
    rc = KV_OK;
done:
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    json_decref(root);
    return rc;
}

int safetensors_open(const char *path, safetensors **out)
{
    *out = NULL;
    safetensors *st = kv_calloc(1, sizeof *st);
    int rc;
    if (kv_is_dir(path)) {
        char index[2048], single[2048];
        snprintf(index, sizeof index, "%s/model.safetensors.index.json", path);
        snprintf(single, sizeof single, "%s/model.safetensors", path);
        if (kv_file_exists(index)) {
            rc = open_index(st, path, index);
        } else if (kv_file_exists(single)) {
            char *p = single;
            rc = open_files(st, &p, 1);
        } else {
            kv_seterr("%s: neither model.safetensors nor model.safetensors.index.json found", path);
            rc = KV_ERR;
        }
    } else {
        char *p = (char *)path;
        rc = open_files(st, &p, 1);
    }
    if (rc != KV_OK) {
        safetensors_close(st);
        return KV_ERR;
    }
    *out = st;
    return KV_OK;
}

void safetensors_close(safetensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_files; i++) {
        kv_unmap_file(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    free(st);
}

int safetensors_n_tensors(const safetensors *st) { return st->n_tensors; }
int safetensors_n_files(const safetensors *st) { return st->n_files; }

const safetensors_tensor *safetensors_tensor_at(const safetensors *st, int i)
{
    return i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const char *safetensors_file_path(const safetensors *st, int file)
{
    return file >= 0 && file < st->n_files ? st->files[file].path : NULL;
}

const safetensors_tensor *safetensors_find(const safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

int safetensors_slice_to_f32(const safetensors *st, const safetensors_tensor *t, int64_t row0,
                             int64_t n_rows, int64_t col0, int64_t n_cols, float *out)
{
    int64_t cols = t->n_dims ? t->shape[t->n_dims - 1] : 1, rows = 1;
    for (int d = 0; d + 1 < t->n_dims; d++) rows *= t->shape[d];
    if (row0 < 0 || n_rows < 0 || row0 > rows || n_rows > rows - row0 || col0 < 0 ||
        n_cols < 0 || col0 > cols || n_cols > cols - col0) {
        kv_seterr("%s: tensor %s: window rows [%lld, +%lld) x cols [%lld, +%lld) outside its "
                  "(%lld, %lld)", st->files[t->file].path, t->name, (long long)row0,
                  (long long)n_rows, (long long)col0, (long long)n_cols, (long long)rows,
                  (long long)cols);
        return KV_ERR;
    }
    size_t es = t->dtype == SAFETENSORS_F32 ? 4 : 2;
    const uint8_t *base = t->data;
    #pragma omp parallel for schedule(static) if (n_rows * n_cols > (1 << 16))
    for (int64_t r = 0; r < n_rows; r++) {
        const uint8_t *src = base + ((size_t)(row0 + r) * (size_t)cols + (size_t)col0) * es;
        float *dst = out + r * n_cols;
        if (t->dtype == SAFETENSORS_F32) {
            memcpy(dst, src, (size_t)n_cols * 4);
        } else {
            for (int64_t c = 0; c < n_cols; c++) {
                uint16_t h;
                memcpy(&h, src + 2 * c, 2);
                if (t->dtype == SAFETENSORS_F16) {
                    dst[c] = half_to_float(h);
                } else {
                    uint32_t bits = (uint32_t)h << 16;
                    memcpy(&dst[c], &bits, 4);
                }
            }
        }
    }
    return KV_OK;
}

void safetensors_header_hash(const safetensors *st, char hex[65])
{
    sha256_ctx c;
    sha256_init(&c);
    for (int i = 0; i < st->n_files; i++) sha256_update(&c, st->files[i].map, 8 + st->files[i].header_len);
    sha256_hex_final(&c, hex);
}
