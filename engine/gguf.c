/* gguf: a bounds-checked GGUF v2/v3 reader. The whole file is mmap'd read-only; gguf_open walks
 * the header once, checking every count, string and array length against the bytes that remain,
 * every tensor's type, rank and dims (no overflow), and every tensor's data range (aligned, inside
 * the file). Afterwards all accessors are plain lookups that cannot read out of bounds.
 * Dequantization follows ggml exactly (ggml-quants.c dequantize_row_*), so our fp32 weights are
 * bit-identical to what gguf-python / transformers produce from the same file.
 * v2 and v3 share the layout (64-bit counts); v3 only adds big-endian files, which we reject. */
#include "engine/gguf.h"

#include "kernels/qtype.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

typedef struct {
    char *key;              /* NUL-terminated copy */
    int type;               /* gguf_type */
    const uint8_t *val;     /* value bytes in the mapping (for arrays: the first element) */
    int elem_type;          /* arrays only */
    size_t n;               /* arrays only: element count */
    const uint8_t **strs;   /* string arrays only: start of each element (its u64 length) */
} gguf_kv;

struct gguf_file {
    char *path;
    const uint8_t *map;
    size_t size;
    uint32_t version;
    size_t alignment;
    size_t data_offset;
    gguf_kv *kvs;
    size_t n_kvs;
    gguf_tensor *tensors;
    int n_tensors;
};

/* A read cursor over the mapping; every read checks the remaining length first. */
typedef struct {
    const uint8_t *base;
    size_t pos, size;
    const char *path;
} cursor;

static int cur_need(cursor *c, size_t n, const char *what)
{
    if (n > c->size - c->pos) {
        kv_seterr("%s: truncated GGUF: %s needs %zu bytes at offset %zu, file has %zu", c->path,
                  what, n, c->pos, c->size);
        return KV_ERR;
    }
    return KV_OK;
}

static int cur_u32(cursor *c, uint32_t *v, const char *what)
{
    if (cur_need(c, 4, what)) return KV_ERR;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return KV_OK;
}

static int cur_u64(cursor *c, uint64_t *v, const char *what)
{
    if (cur_need(c, 8, what)) return KV_ERR;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return KV_OK;
}

/* A GGUF string: u64 length then bytes (no NUL). */
static int cur_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what)
{
    if (cur_u64(c, len, what)) return KV_ERR;
    if (*len > c->size - c->pos) {
        kv_seterr("%s: bad GGUF string length for %s at offset %zu: %llu bytes, only %zu remain",
                  c->path, what, c->pos - 8, (unsigned long long)*len, c->size - c->pos);
        return KV_ERR;
    }
    *s = c->base + c->pos;
    c->pos += (size_t)*len;
    return KV_OK;
}

static size_t gguf_scalar_size(int type)
{
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *gguf_type_name(int type)
{
    static const char *names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32",
                                  "float32", "bool", "string", "array", "uint64", "int64",
                                  "float64"};
    return type >= 0 && type <= GGUF_TYPE_FLOAT64 ? names[type] : "unknown";
}

/* Block geometry of the ggml types we read: elements per block and bytes per block. */
static int ggml_type_block(int type, int64_t *blk, size_t *bytes)
{
    switch (type) {
    case GGML_TYPE_F32: *blk = 1; *bytes = 4; return 1;
    case GGML_TYPE_F16: *blk = 1; *bytes = 2; return 1;
    case GGML_TYPE_BF16: *blk = 1; *bytes = 2; return 1;
    case GGML_TYPE_Q4_0: *blk = 32; *bytes = 18; return 1;
    case GGML_TYPE_Q4_1: *blk = 32; *bytes = 20; return 1;
    case GGML_TYPE_Q8_0: *blk = 32; *bytes = 34; return 1;
    default: return 0;
    }
}

static const char *ggml_type_name(int type)
{
    switch (type) {
    case GGML_TYPE_F32: return "F32";
    case GGML_TYPE_F16: return "F16";
    case GGML_TYPE_BF16: return "BF16";
    case GGML_TYPE_Q4_0: return "Q4_0";
    case GGML_TYPE_Q4_1: return "Q4_1";
    case GGML_TYPE_Q8_0: return "Q8_0";
    default: return "unsupported";
    }
}

/* Parse one value of `type` at the cursor into kv (arrays record their extent). */
static int gguf_read_value(cursor *c, gguf_kv *kv)
{
    kv->val = c->base + c->pos;
    if (kv->type == GGUF_TYPE_STRING) {
        const uint8_t *s;
        uint64_t len;
        return cur_str(c, &s, &len, kv->key);
    }
    if (kv->type == GGUF_TYPE_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (cur_u32(c, &et, kv->key) || cur_u64(c, &n, kv->key)) return KV_ERR;
        kv->elem_type = (int)et;
        kv->val = c->base + c->pos;
        if (et == GGUF_TYPE_STRING) {
            /* each element is at least its 8-byte length: bound n before allocating */
            if (n > (c->size - c->pos) / 8) {
                kv_seterr("%s: key %s: string array of %llu elements cannot fit in the %zu "
                          "remaining bytes", c->path, kv->key, (unsigned long long)n,
                          c->size - c->pos);
                return KV_ERR;
            }
            kv->n = (size_t)n;
            kv->strs = kv_malloc((n ? n : 1) * sizeof *kv->strs);
            for (uint64_t i = 0; i < n; i++) {
                const uint8_t *s;
                uint64_t len;
                kv->strs[i] = c->base + c->pos;
                if (cur_str(c, &s, &len, kv->key)) return KV_ERR;
            }
            return KV_OK;
        }
        size_t es = gguf_scalar_size((int)et);
        if (es == 0) {
            kv_seterr("%s: key %s: unsupported array element type %u (%s); expected a scalar or "
                      "string type", c->path, kv->key, et, gguf_type_name((int)et));
            return KV_ERR;
        }
        if (n > (c->size - c->pos) / es) {
            kv_seterr("%s: key %s: array of %llu %s elements exceeds the %zu remaining bytes",
                      c->path, kv->key, (unsigned long long)n, gguf_type_name((int)et),
                      c->size - c->pos);
            return KV_ERR;
        }
        kv->n = (size_t)n;
        c->pos += (size_t)n * es;
        return KV_OK;
    }
    size_t sz = gguf_scalar_size(kv->type);
    if (sz == 0) {
        kv_seterr("%s: key %s: unknown value type %d", c->path, kv->key, kv->type);
        return KV_ERR;
    }
    if (cur_need(c, sz, kv->key)) return KV_ERR;
    c->pos += sz;
    return KV_OK;
}

/* Magic, version and the two counts, each bounded by what the file can hold. */
static int gguf_read_header(gguf_file *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv)
{
    if (g->size < 4 || memcmp(g->map, GGUF_MAGIC, 4) != 0) {
        kv_seterr("%s: not a GGUF file: bad magic (expected \"GGUF\")", g->path);
        return KV_ERR;
    }
    c->pos = 4;
    if (cur_u32(c, &g->version, "version")) return KV_ERR;
    if (g->version != 2 && g->version != 3) {
        kv_seterr("%s: unsupported GGUF version %u (expected 2 or 3; a byte-swapped value means "
                  "a big-endian file)", g->path, g->version);
        return KV_ERR;
    }
    if (cur_u64(c, n_tensors, "tensor count") || cur_u64(c, n_kv, "metadata count"))
        return KV_ERR;
    /* a key/value is at least 8 (key len) + 4 (type) + 1 bytes, a tensor info at least 8+4+8+4+8 */
    if (*n_kv > (g->size - c->pos) / 13) {
        kv_seterr("%s: metadata count %llu cannot fit in a %zu-byte file", g->path,
                  (unsigned long long)*n_kv, g->size);
        return KV_ERR;
    }
    if (*n_tensors > (g->size - c->pos) / 32 || *n_tensors > 1000000) {
        kv_seterr("%s: tensor count %llu cannot fit in a %zu-byte file", g->path,
                  (unsigned long long)*n_tensors, g->size);
        return KV_ERR;
    }
    return KV_OK;
}

/* The n_kv metadata keys and values, then general.alignment (a power of two) if present. */
static int gguf_read_kvs(gguf_file *g, cursor *c, uint64_t n_kv)
{
    g->kvs = kv_calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        const uint8_t *ks;
        uint64_t klen;
        uint32_t type;
        char what[64];
        snprintf(what, sizeof what, "key #%llu", (unsigned long long)i);
        if (cur_str(c, &ks, &klen, what)) return KV_ERR;
        gguf_kv *kv = &g->kvs[g->n_kvs];
        kv->key = kv_malloc(klen + 1);
        memcpy(kv->key, ks, klen);
        kv->key[klen] = 0;
        g->n_kvs++;
        if (strlen(kv->key) != klen) {
            kv_seterr("%s: key #%llu contains a NUL byte", g->path, (unsigned long long)i);
            return KV_ERR;
        }
        if (cur_u32(c, &type, kv->key)) return KV_ERR;
        kv->type = (int)type;
        if (gguf_read_value(c, kv)) return KV_ERR;
    }
    if (gguf_has_key(g, "general.alignment")) {
        int64_t a;
        if (gguf_get_int(g, "general.alignment", &a)) return KV_ERR;
        if (a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0) {
            kv_seterr("%s: general.alignment = %lld; expected a power of two", g->path,
                      (long long)a);
            return KV_ERR;
        }
        g->alignment = (size_t)a;
    }
    return KV_OK;
}

/* A tensor's dimensions (each non-zero, the element count without overflow) into t; the count in *n_elems. */
static int gguf_read_dims(gguf_file *g, cursor *c, gguf_tensor *t, uint64_t *n_elems)
{
    uint32_t nd;
    if (cur_u32(c, &nd, t->name)) return KV_ERR;
    if (nd < 1 || nd > GGUF_MAX_DIMS) {
        kv_seterr("%s: tensor %s: n_dims = %u; expected 1..%d", g->path, t->name, nd,
                  GGUF_MAX_DIMS);
        return KV_ERR;
    }
    t->n_dims = (int)nd;
    *n_elems = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->dims[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if (cur_u64(c, &v, t->name)) return KV_ERR;
        if (v == 0 || v > (uint64_t)INT64_MAX || *n_elems > (uint64_t)INT64_MAX / v) {
            kv_seterr("%s: tensor %s: dim %u = %llu is zero or overflows the element count",
                      g->path, t->name, d, (unsigned long long)v);
            return KV_ERR;
        }
        t->dims[d] = (int64_t)v;
        *n_elems *= v;
    }
    return KV_OK;
}

/* Tensor info #i: name, dimensions, type (supported, whole blocks per row), data offset, byte size,
 * and a name not seen before. */
static int gguf_read_tensor_info(gguf_file *g, cursor *c, uint64_t i, uint64_t *offset)
{
    const uint8_t *ns;
    uint64_t nlen, n_elems;
    uint32_t type;
    char what[64];
    snprintf(what, sizeof what, "tensor #%llu name", (unsigned long long)i);
    if (cur_str(c, &ns, &nlen, what)) return KV_ERR;
    gguf_tensor *t = &g->tensors[g->n_tensors];
    char *name = kv_malloc(nlen + 1);
    memcpy(name, ns, nlen);
    name[nlen] = 0;
    t->name = name;
    g->n_tensors++;
    if (gguf_read_dims(g, c, t, &n_elems)) return KV_ERR;
    if (cur_u32(c, &type, name) || cur_u64(c, offset, name)) return KV_ERR;
    t->type = (int)type;
    int64_t blk;
    size_t bb;
    if (!ggml_type_block(t->type, &blk, &bb)) {
        kv_seterr("%s: tensor %s: unsupported ggml type %u (supported: F32, F16, BF16, Q8_0, "
                  "Q4_0, Q4_1)", g->path, name, type);
        return KV_ERR;
    }
    if (t->dims[0] % blk != 0) {
        kv_seterr("%s: tensor %s: row length %lld is not a multiple of the %s block size %lld",
                  g->path, name, (long long)t->dims[0], ggml_type_name(t->type),
                  (long long)blk);
        return KV_ERR;
    }
    if (n_elems / (uint64_t)blk > SIZE_MAX / bb) {
        kv_seterr("%s: tensor %s: byte size overflows", g->path, name);
        return KV_ERR;
    }
    t->nbytes = (size_t)(n_elems / (uint64_t)blk) * bb;
    for (int j = 0; j < g->n_tensors - 1; j++)
        if (strcmp(g->tensors[j].name, name) == 0) {
            kv_seterr("%s: duplicate tensor name %s", g->path, name);
            return KV_ERR;
        }
    return KV_OK;
}

/* Tensor data starts at the next multiple of the alignment after the header (at c->pos); each
 * tensor's aligned offset and size must lie inside it. */
static int gguf_place_tensors(gguf_file *g, const cursor *c, const uint64_t *offsets)
{
    size_t data_offset = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (data_offset > g->size) {
        kv_seterr("%s: truncated GGUF: tensor data would start at %zu, file has %zu bytes",
                  g->path, data_offset, g->size);
        return KV_ERR;
    }
    g->data_offset = data_offset;
    for (int i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        uint64_t off = offsets[i];
        if (off % g->alignment != 0) {
            kv_seterr("%s: tensor %s: data offset %llu is not a multiple of the alignment %zu",
                      g->path, t->name, (unsigned long long)off, g->alignment);
            return KV_ERR;
        }
        size_t avail = g->size - data_offset;
        if (off > avail || t->nbytes > avail - off) {
            kv_seterr("%s: tensor %s: data [%llu, +%zu) lies outside the %zu bytes of tensor data "
                      "(file truncated or corrupt offset)", g->path, t->name,
                      (unsigned long long)off, t->nbytes, avail);
            return KV_ERR;
        }
        t->data = g->map + data_offset + off;
    }
    return KV_OK;
}

static int gguf_parse(gguf_file *g)
{
    cursor c = {g->map, 0, g->size, g->path};
    uint64_t n_tensors, n_kv;
    if (gguf_read_header(g, &c, &n_tensors, &n_kv) || gguf_read_kvs(g, &c, n_kv)) return KV_ERR;
    g->tensors = kv_calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    uint64_t *offsets = kv_calloc(n_tensors ? n_tensors : 1, sizeof *offsets);
    int rc = KV_OK;
    for (uint64_t i = 0; i < n_tensors && rc == KV_OK; i++) rc = gguf_read_tensor_info(g, &c, i, &offsets[i]);
    if (rc == KV_OK) rc = gguf_place_tensors(g, &c, offsets);
    free(offsets);
    return rc;
}

int gguf_open(const char *path, gguf_file **out)
{
    *out = NULL;
    const uint8_t *map;
    size_t size;
    if (kv_map_file(path, &map, &size) != KV_OK) return KV_ERR;
    gguf_file *g = kv_calloc(1, sizeof *g);
    g->path = kv_strdup(path);
    g->map = map;
    g->size = size;
    if (size == 0) {
        kv_seterr("%s: empty file; expected a GGUF file", path);
        gguf_close(g);
        return KV_ERR;
    }
    if (gguf_parse(g) != KV_OK) {
        gguf_close(g);
        return KV_ERR;
    }
    *out = g;
    return KV_OK;
}

void gguf_close(gguf_file *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n_kvs; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].strs);
    }
    free(g->kvs);
    for (int i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    kv_unmap_file(g->map, g->size);
    free(g->path);
    free(g);
}

const char *gguf_path(const gguf_file *g) { return g->path; }

static const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key)
{
    for (size_t i = 0; i < g->n_kvs; i++)
        if (strcmp(g->kvs[i].key, key) == 0) return &g->kvs[i];
    return NULL;
}

int gguf_has_key(const gguf_file *g, const char *key) { return gguf_find_kv(g, key) != NULL; }

static const gguf_kv *gguf_need_kv(const gguf_file *g, const char *key)
{
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) kv_seterr("%s: missing GGUF key %s", g->path, key);
    return kv;
}

/* Scalar at p of `type` as int64 / double; returns 0 if the type is not numeric. */
static int scalar_int(int type, const uint8_t *p, int64_t *out)
{
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: *out = p[0]; return 1;
    case GGUF_TYPE_INT8: *out = (int8_t)p[0]; return 1;
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); *out = v; return 1; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); *out = v; return 1; }
    case GGUF_TYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)v;
        return 1;
    }
    case GGUF_TYPE_INT64: { int64_t v; memcpy(&v, p, 8); *out = v; return 1; }
    default: return 0;
    }
}

static int scalar_float(int type, const uint8_t *p, double *out)
{
    int64_t i;
    if (type == GGUF_TYPE_FLOAT32) { float v; memcpy(&v, p, 4); *out = v; return 1; }
    if (type == GGUF_TYPE_FLOAT64) { double v; memcpy(&v, p, 8); *out = v; return 1; }
    if (type != GGUF_TYPE_BOOL && scalar_int(type, p, &i)) { *out = (double)i; return 1; }
    return 0;
}

int gguf_get_int(const gguf_file *g, const char *key, int64_t *out)
{
    const gguf_kv *kv = gguf_need_kv(g, key);
    if (!kv) return KV_ERR;
    if (kv->type == GGUF_TYPE_BOOL || !scalar_int(kv->type, kv->val, out)) {
        kv_seterr("%s: key %s: expected an integer, found %s", g->path, key,
                  gguf_type_name(kv->type));
        return KV_ERR;
    }
    return KV_OK;
}

int gguf_get_float(const gguf_file *g, const char *key, double *out)
{
    const gguf_kv *kv = gguf_need_kv(g, key);
    if (!kv) return KV_ERR;
    if (!scalar_float(kv->type, kv->val, out)) {
        kv_seterr("%s: key %s: expected a number, found %s", g->path, key,
                  gguf_type_name(kv->type));
        return KV_ERR;
    }
    return KV_OK;
}

int gguf_get_bool(const gguf_file *g, const char *key, int *out)
{
    const gguf_kv *kv = gguf_need_kv(g, key);
    if (!kv) return KV_ERR;
    if (kv->type != GGUF_TYPE_BOOL) {
        kv_seterr("%s: key %s: expected bool, found %s", g->path, key, gguf_type_name(kv->type));
        return KV_ERR;
    }
    *out = kv->val[0] != 0;
    return KV_OK;
}

static void string_at(const uint8_t *p, const char **s, size_t *len)
{
    uint64_t n;
    memcpy(&n, p, 8);
    *s = (const char *)p + 8;
    *len = (size_t)n;
}

int gguf_get_string(const gguf_file *g, const char *key, const char **s, size_t *len)
{
    const gguf_kv *kv = gguf_need_kv(g, key);
    if (!kv) return KV_ERR;
    if (kv->type != GGUF_TYPE_STRING) {
        kv_seterr("%s: key %s: expected string, found %s", g->path, key,
                  gguf_type_name(kv->type));
        return KV_ERR;
    }
    string_at(kv->val, s, len);
    return KV_OK;
}

int gguf_get_array_info(const gguf_file *g, const char *key, int *elem_type, size_t *n)
{
    const gguf_kv *kv = gguf_need_kv(g, key);
    if (!kv) return KV_ERR;
    if (kv->type != GGUF_TYPE_ARRAY) {
        kv_seterr("%s: key %s: expected array, found %s", g->path, key, gguf_type_name(kv->type));
        return KV_ERR;
    }
    *elem_type = kv->elem_type;
    *n = kv->n;
    return KV_OK;
}

/* The array kv for element i, or NULL with the error set. */
static const gguf_kv *gguf_array_elem(const gguf_file *g, const char *key, size_t i)
{
    const gguf_kv *kv = gguf_need_kv(g, key);
    if (!kv) return NULL;
    if (kv->type != GGUF_TYPE_ARRAY) {
        kv_seterr("%s: key %s: expected array, found %s", g->path, key, gguf_type_name(kv->type));
        return NULL;
    }
    if (i >= kv->n) {
        kv_seterr("%s: key %s: index %zu out of range (array has %zu elements)", g->path, key, i,
                  kv->n);
        return NULL;
    }
    return kv;
}

int gguf_get_array_string(const gguf_file *g, const char *key, size_t i, const char **s,
                          size_t *len)
{
    const gguf_kv *kv = gguf_array_elem(g, key, i);
    if (!kv) return KV_ERR;
    if (kv->elem_type != GGUF_TYPE_STRING) {
        kv_seterr("%s: key %s: expected an array of string, found array of %s", g->path, key,
                  gguf_type_name(kv->elem_type));
        return KV_ERR;
    }
    string_at(kv->strs[i], s, len);
    return KV_OK;
}

int gguf_get_array_int(const gguf_file *g, const char *key, size_t i, int64_t *out)
{
    const gguf_kv *kv = gguf_array_elem(g, key, i);
    if (!kv) return KV_ERR;
    size_t es = gguf_scalar_size(kv->elem_type);
    if (kv->elem_type == GGUF_TYPE_BOOL || es == 0 ||
        !scalar_int(kv->elem_type, kv->val + i * es, out)) {
        kv_seterr("%s: key %s[%zu]: expected an integer, found %s", g->path, key, i,
                  gguf_type_name(kv->elem_type));
        return KV_ERR;
    }
    return KV_OK;
}

int gguf_get_array_float(const gguf_file *g, const char *key, size_t i, double *out)
{
    const gguf_kv *kv = gguf_array_elem(g, key, i);
    if (!kv) return KV_ERR;
    size_t es = gguf_scalar_size(kv->elem_type);
    if (es == 0 || !scalar_float(kv->elem_type, kv->val + i * es, out)) {
        kv_seterr("%s: key %s[%zu]: expected a number, found %s", g->path, key, i,
                  gguf_type_name(kv->elem_type));
        return KV_ERR;
    }
    return KV_OK;
}

int gguf_n_tensors(const gguf_file *g) { return g->n_tensors; }

const gguf_tensor *gguf_tensor_at(const gguf_file *g, int i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

/* Dequantize one row of ne0 elements (whole blocks) exactly as ggml: kernels/qtype.h's reference. */
static void dequant_run(int type, const uint8_t *src, int64_t n, float *out)
{
    int qt = type == GGML_TYPE_F16    ? QTYPE_F16
             : type == GGML_TYPE_BF16 ? QTYPE_BF16
             : type == GGML_TYPE_Q8_0 ? QTYPE_Q8_0
             : type == GGML_TYPE_Q4_0 ? QTYPE_Q4_0
             : type == GGML_TYPE_Q4_1 ? QTYPE_Q4_1
                                      : QTYPE_F32;
    qtype_dequant_row(qt, src, out, n);
}

int gguf_tensor_rows_to_f32(const gguf_file *g, const gguf_tensor *t, int64_t row0,
                            int64_t n_rows, float *out)
{
    int64_t blk;
    size_t bb;
    if (!ggml_type_block(t->type, &blk, &bb)) {
        kv_seterr("%s: tensor %s: cannot dequantize ggml type %d", g->path, t->name, t->type);
        return KV_ERR;
    }
    int64_t rows = 1;
    for (int d = 1; d < t->n_dims; d++) rows *= t->dims[d];
    if (row0 < 0 || n_rows < 0 || row0 > rows || n_rows > rows - row0) {
        kv_seterr("%s: tensor %s: rows [%lld, +%lld) out of range (tensor has %lld rows)", g->path,
                  t->name, (long long)row0, (long long)n_rows, (long long)rows);
        return KV_ERR;
    }
    int64_t ne0 = t->dims[0];
    size_t row_bytes = (size_t)(ne0 / blk) * bb;
    const uint8_t *src = (const uint8_t *)t->data + (size_t)row0 * row_bytes;
    #pragma omp parallel for schedule(static) if (n_rows * ne0 > (1 << 16))
    for (int64_t r = 0; r < n_rows; r++)
        dequant_run(t->type, src + (size_t)r * row_bytes, ne0, out + r * ne0);
    return KV_OK;
}

int gguf_tensor_to_f32(const gguf_file *g, const gguf_tensor *t, float *out)
{
    int64_t rows = 1;
    for (int d = 1; d < t->n_dims; d++) rows *= t->dims[d];
    return gguf_tensor_rows_to_f32(g, t, 0, rows, out);
}

const char *gguf_type_str(int ggml_type_id) { return ggml_type_name(ggml_type_id); }

void gguf_header_span(const gguf_file *g, const void **p, size_t *n)
{
    *p = g->map;
    *n = g->data_offset;
}
