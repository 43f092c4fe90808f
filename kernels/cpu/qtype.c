/* qtype (CPU): names, row sizes and the scalar reference conversions of kernels/qtype.h. */
#include "kernels/qtype.h"

#include <math.h>
#include <string.h>

#include "util/half.h"

static const char *const qtype_names[QTYPE_COUNT] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1"};

const char *qtype_name(int type) { return type >= 0 && type < QTYPE_COUNT ? qtype_names[type] : NULL; }

int qtype_parse(const char *name, int *type)
{
    for (int t = 0; t < QTYPE_COUNT; t++)
        if (!strcmp(name, qtype_names[t])) {
            *type = t;
            return 0;
        }
    return -1;
}

int qtype_is_block(int type) { return type == QTYPE_Q8_0 || type == QTYPE_Q4_0 || type == QTYPE_Q4_1; }

size_t qtype_row_bytes(int type, int64_t cols)
{
    if (cols < 0) return 0;
    switch (type) {
    case QTYPE_F32: return (size_t)cols * 4;
    case QTYPE_F16: case QTYPE_BF16: return (size_t)cols * 2;
    case QTYPE_Q8_0: return cols % QTYPE_BLOCK ? 0 : (size_t)(cols / QTYPE_BLOCK) * 34;
    case QTYPE_Q4_0: return cols % QTYPE_BLOCK ? 0 : (size_t)(cols / QTYPE_BLOCK) * 18;
    case QTYPE_Q4_1: return cols % QTYPE_BLOCK ? 0 : (size_t)(cols / QTYPE_BLOCK) * 20;
    default: return 0;
    }
}

static float read_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return half_to_float(h);
}

void qtype_dequant_row(int type, const void *src_, float *out, int64_t cols)
{
    const uint8_t *src = src_;
    switch (type) {
    case QTYPE_F32:
        memcpy(out, src, (size_t)cols * 4);
        break;
    case QTYPE_F16:
        for (int64_t i = 0; i < cols; i++) out[i] = read_f16(src + 2 * i);
        break;
    case QTYPE_BF16:
        for (int64_t i = 0; i < cols; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = qtype_bf16_to_f32(h);
        }
        break;
    case QTYPE_Q8_0:
        for (int64_t b = 0; b < cols / QTYPE_BLOCK; b++) {
            const uint8_t *blk = src + b * 34;
            float d = read_f16(blk);
            for (int j = 0; j < 32; j++) out[b * 32 + j] = (float)(int8_t)blk[2 + j] * d;
        }
        break;
    case QTYPE_Q4_0:
        for (int64_t b = 0; b < cols / QTYPE_BLOCK; b++) {
            const uint8_t *blk = src + b * 18;
            float d = read_f16(blk);
            for (int j = 0; j < 16; j++) {
                out[b * 32 + j] = (float)((blk[2 + j] & 0x0f) - 8) * d;
                out[b * 32 + j + 16] = (float)((blk[2 + j] >> 4) - 8) * d;
            }
        }
        break;
    case QTYPE_Q4_1:
        for (int64_t b = 0; b < cols / QTYPE_BLOCK; b++) {
            const uint8_t *blk = src + b * 20;
            float d = read_f16(blk), m = read_f16(blk + 2);
            for (int j = 0; j < 16; j++) {
                out[b * 32 + j] = (float)(blk[4 + j] & 0x0f) * d + m;
                out[b * 32 + j + 16] = (float)(blk[4 + j] >> 4) * d + m;
            }
        }
        break;
    default:
        break;
    }
}

uint16_t qtype_f32_to_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void qtype_quantize_row(int type, const float *src, void *dst_, int64_t cols)
{
    uint8_t *dst = dst_;
    switch (type) {
    case QTYPE_F32:
        memcpy(dst, src, (size_t)cols * 4);
        break;
    case QTYPE_F16:
        for (int64_t i = 0; i < cols; i++) {
            uint16_t h = half_from_float(src[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
        break;
    case QTYPE_BF16:
        for (int64_t i = 0; i < cols; i++) {
            uint16_t h = qtype_f32_to_bf16(src[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
        break;
    case QTYPE_Q8_0: /* ggml quantize_row_q8_0_ref */
        for (int64_t b = 0; b < cols / QTYPE_BLOCK; b++) {
            const float *x = src + b * 32;
            uint8_t *blk = dst + b * 34;
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
            const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
            uint16_t h = half_from_float(d);
            memcpy(blk, &h, 2);
            for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
        }
        break;
    default:
        break;
    }
}
