/* half: IEEE binary16 <-> binary32, the one implementation every layer uses (GGUF and safetensors
 * F16 weights, the fp16 emulation of the reference-2026-01 scoring). Exact for every half input
 * (subnormals, inf, NaN); float -> half rounds to nearest even. */
#include "util/half.h"

#include <string.h>

uint16_t half_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0)); /* inf, NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 = halfway past 65504: inf */
    if (a < 0x38800000u) {                                      /* below 2^-14: half subnormal or 0 */
        uint32_t e = a >> 23;
        if (e < 102) return (uint16_t)sign; /* < 2^-25: rounds to zero */
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)e; /* value / 2^-24 = m >> shift */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = (a - 0x38000000u) >> 13; /* rebias exponent 127 → 15, keep 10 mantissa bits */
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++; /* a carry into the exponent is correct */
    return (uint16_t)(sign | r);
}

float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* subnormal (or zero): exact in float */
        memcpy(&x, &v, sizeof x);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}
