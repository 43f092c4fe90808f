/* gguf: a bounds-checked reader of GGUF v3 files (metadata key/values and tensor directory),
 * mmap'd read-only. Every length, offset, type and shape is validated at open time; nothing here
 * exits: functions return KV_OK/KV_ERR with kv_lasterr() naming the file, key or tensor. */
#ifndef KV_GGUF_H
#define KV_GGUF_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12
} gguf_type;

/* ggml tensor types we can dequantize */
typedef enum {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q8_0 = 8, GGML_TYPE_BF16 = 30
} ggml_type;

typedef struct gguf_file gguf_file; /* opaque */

typedef struct {
    const char *name;   /* NUL-terminated copy owned by the gguf_file */
    int type;           /* ggml_type */
    int n_dims;
    int64_t dims[4];    /* ggml order: dims[0] is the fastest-varying (row length) */
    const void *data;   /* into the mmap */
    size_t nbytes;
} gguf_tensor;

int gguf_open(const char *path, gguf_file **out);
void gguf_close(gguf_file *g);
const char *gguf_path(const gguf_file *g);

int gguf_has_key(const gguf_file *g, const char *key);
/* Scalars: any integer type converts to int64, any float/int type to double. Missing key or
 * wrong type is KV_ERR with a message naming the key and expected vs actual type. */
int gguf_get_int(const gguf_file *g, const char *key, int64_t *out);
int gguf_get_float(const gguf_file *g, const char *key, double *out);
int gguf_get_bool(const gguf_file *g, const char *key, int *out);
/* Strings point into the mapping and are NOT NUL-terminated. */
int gguf_get_string(const gguf_file *g, const char *key, const char **s, size_t *len);
/* Arrays */
int gguf_get_array_info(const gguf_file *g, const char *key, int *elem_type, size_t *n);
int gguf_get_array_string(const gguf_file *g, const char *key, size_t i, const char **s, size_t *len);
int gguf_get_array_int(const gguf_file *g, const char *key, size_t i, int64_t *out);
int gguf_get_array_float(const gguf_file *g, const char *key, size_t i, double *out);

int gguf_n_tensors(const gguf_file *g);
const gguf_tensor *gguf_tensor_at(const gguf_file *g, int i);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name); /* NULL if absent */
/* Dequantize a whole tensor to fp32 into out (n = product of dims elements). */
int gguf_tensor_to_f32(const gguf_file *g, const gguf_tensor *t, float *out);
/* Dequantize rows [row0, row0+n_rows) (a row is dims[0] elements; rows count over dims[1..]) into
 * out (n_rows*dims[0] floats). Lets a tensor-parallel rank read only its slice. */
int gguf_tensor_rows_to_f32(const gguf_file *g, const gguf_tensor *t, int64_t row0,
                            int64_t n_rows, float *out);
/* "F32", "Q4_1", ... for messages. */
const char *gguf_type_str(int ggml_type_id);
/* The header bytes (magic through the tensor directory and padding), for provenance hashes. */
void gguf_header_span(const gguf_file *g, const void **p, size_t *n);

#endif
