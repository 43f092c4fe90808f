/* safetensors: a bounds-checked reader of Hugging Face safetensors checkpoints, one file or a folder
 * sharded by model.safetensors.index.json (weight_map), every file mmap'd read-only. The header of
 * each file is validated at open time (8-byte length, JSON, dtype, shape x dtype size == end-begin,
 * offsets inside the file); nothing here exits: functions return KV_OK/KV_ERR with kv_lasterr()
 * naming the file and tensor. */
#ifndef KV_SAFETENSORS_H
#define KV_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_DIMS 8

typedef enum { SAFETENSORS_F32 = 0, SAFETENSORS_F16 = 1, SAFETENSORS_BF16 = 2 } safetensors_dtype;

typedef struct {
    const char *name;      /* NUL-terminated, owned by the safetensors handle */
    int dtype;             /* safetensors_dtype */
    int n_dims;
    int64_t shape[SAFETENSORS_MAX_DIMS]; /* row-major, shape[n_dims-1] is the row length */
    const void *data;      /* into the mmap of its file */
    size_t nbytes;
    int file;              /* index of the file holding it */
} safetensors_tensor;

typedef struct safetensors safetensors; /* opaque */

/* path: a .safetensors file, or a folder with model.safetensors or model.safetensors.index.json. */
int safetensors_open(const char *path, safetensors **out);
void safetensors_close(safetensors *st);

int safetensors_n_tensors(const safetensors *st);
const safetensors_tensor *safetensors_tensor_at(const safetensors *st, int i);
const safetensors_tensor *safetensors_find(const safetensors *st, const char *name); /* NULL if absent */
const char *safetensors_file_path(const safetensors *st, int file);
int safetensors_n_files(const safetensors *st);

/* Convert the 2-D window rows [row0, row0+n_rows) x columns [col0, col0+n_cols) of a tensor seen as
 * (rows = product of all but the last dim, cols = last dim) to fp32, row-major into out. Only the
 * bytes of the window are touched, so a tensor-parallel rank reads just its slice. */
int safetensors_slice_to_f32(const safetensors *st, const safetensors_tensor *t, int64_t row0,
                             int64_t n_rows, int64_t col0, int64_t n_cols, float *out);

/* SHA-256 (hex) over every file's 8-byte length and JSON header, in file order. */
void safetensors_header_hash(const safetensors *st, char hex[65]);

#endif
