/* fuzz_safetensors: libFuzzer target for the safetensors reader (engine/safetensors.c): the 8-byte
 * header length, the JSON header, dtypes, shapes and data offsets. Every tensor that opens is
 * converted (a bounded window) so that an offset the header check let through would be caught
 * reading outside the mapping. */
#include "fuzz_common.h"
#include "engine/safetensors.h"
#include "util/util.h"

/* Convert at most this many elements per tensor. */
#define FUZZ_ST_MAX_ELEMS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.safetensors", data, size);
    safetensors *st;
    if (safetensors_open(path, &st) != KV_OK) return 0;
    for (int i = 0; i < safetensors_n_tensors(st); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(st, i);
        int64_t cols = t->n_dims > 0 ? t->shape[t->n_dims - 1] : 1, rows = 1;
        for (int d = 0; d + 1 < t->n_dims; d++) rows *= t->shape[d];
        if (cols <= 0 || rows <= 0 || cols > FUZZ_ST_MAX_ELEMS) continue;
        if (rows > FUZZ_ST_MAX_ELEMS / cols) rows = FUZZ_ST_MAX_ELEMS / cols;
        float *out = malloc((size_t)(rows * cols) * sizeof *out);
        (void)safetensors_slice_to_f32(st, t, 0, rows, 0, cols, out);
        free(out);
        (void)safetensors_find(st, t->name);
    }
    char hex[65];
    safetensors_header_hash(st, hex);
    safetensors_close(st);
    return 0;
}
