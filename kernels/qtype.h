/* qtype: weight matrices in their storage format (fp32, 16-bit floats, ggml's Q8_0/Q4_0/Q4_1
 * blocks) and the scalar reference conversions between them and fp32. The CPU backend computes on
 * these bytes directly (kernels/qmatmul.h); qtype_dequant_row is the oracle of those kernels and
 * equals ggml's (and engine/gguf.c's) dequantization bit for bit. */
#ifndef KV_QTYPE_H
#define KV_QTYPE_H

#include <stddef.h>
#include <stdint.h>

/* Storage formats. A row of Q8_0/Q4_0/Q4_1 is cols/32 blocks of 32 weights:
 *   Q8_0: fp16 d, int8 q[32]            w = d * q
 *   Q4_0: fp16 d, uint8 nib[16]         w[j] = d * (nib[j] & 15 - 8), w[j+16] = d * (nib[j] >> 4 - 8)
 *   Q4_1: fp16 d, fp16 m, uint8 nib[16] w[j] = d * (nib[j] & 15) + m,  w[j+16] = d * (nib[j] >> 4) + m */
typedef enum { QTYPE_F32, QTYPE_F16, QTYPE_BF16, QTYPE_Q8_0, QTYPE_Q4_0, QTYPE_Q4_1, QTYPE_COUNT } qtype;

#define QTYPE_BLOCK 32 /* weights per block of the quantized types */

/* A row-major (rows, cols) matrix in one format: row r starts at data + r * row_bytes. */
typedef struct {
    int type;          /* qtype */
    int64_t rows, cols;
    size_t row_bytes;  /* qtype_row_bytes(type, cols) */
    void *data;        /* rows * row_bytes bytes */
} qmatrix;

const char *qtype_name(int type);            /* "f32", "bf16", "q8_0", ...; NULL if out of range */
int qtype_parse(const char *name, int *type); /* KV_OK/KV_ERR (0 / -1) */
int qtype_is_block(int type);                /* Q8_0, Q4_0, Q4_1: cols must be a multiple of 32 */
/* Bytes of one row of `cols` weights; 0 when a block type gets cols not a multiple of 32. */
size_t qtype_row_bytes(int type, int64_t cols);

/* Reference dequantization of one row (cols weights) to fp32, exactly as ggml. */
void qtype_dequant_row(int type, const void *src, float *out, int64_t cols);
/* fp32 -> the format, one row: F16/BF16 round to nearest even; Q8_0 as ggml's
 * quantize_row_q8_0_ref (d = amax/127 stored as fp16, q = round(x/d)). Q4_0/Q4_1 are not targets
 * (they are only ever read from a file). */
void qtype_quantize_row(int type, const float *src, void *dst, int64_t cols);

static inline float qtype_bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v;
    v.u = (uint32_t)h << 16;
    return v.f;
}
uint16_t qtype_f32_to_bf16(float x); /* round to nearest even, NaN stays NaN */

#endif
