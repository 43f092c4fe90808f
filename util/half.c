/* half: IEEE binary16 <-> binary32, the one implementation every layer uses (GGUF and safetensors
 * F16 weights, the fp16 emulation of the reference-2026-01 scoring). Exact for every half input
 * (subnormals, inf, NaN); float -> half rounds to nearest even. */
#include "util/half.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HALF_X86 1
#else
#define HALF_X86 0
#endif

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

/* ---- array forms ---- */

static void mul_scalar(float *x, long n, float mul)
{
    for (long i = 0; i < n; i++) x[i] = half_round(x[i] * mul);
}

static void div_scalar(float *x, long n, float div)
{
    for (long i = 0; i < n; i++) x[i] = half_round(half_round(x[i]) / div);
}

#if HALF_X86
#define T_F16C __attribute__((target("avx,f16c")))
#define RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static T_F16C inline __m256 round8(__m256 v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, RNE)); }

/* x[i] = round(x[i] * f), or round(round(x[i]) / f) when div. The last n % 8 go through a
 * zero-padded copy, so no scalar (SSE) code runs between the vector loop and the vzeroupper: with
 * the upper halves left dirty, the callers' SSE code (expf, the softmax loops) ran 5x slower. */
static T_F16C inline __m256 op8(__m256 v, __m256 f, int div)
{
    return div ? round8(_mm256_div_ps(round8(v), f)) : round8(_mm256_mul_ps(v, f));
}

static T_F16C void round_f16c(float *x, long n, float factor, int div)
{
    const __m256 f = _mm256_set1_ps(factor);
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, op8(_mm256_loadu_ps(x + i), f, div));
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, sizeof(float) * (size_t)(n - i));
        _mm256_storeu_ps(t, op8(_mm256_loadu_ps(t), f, div));
        memcpy(x + i, t, sizeof(float) * (size_t)(n - i));
    }
    _mm256_zeroupper();
}

/* F16C from CPUID leaf 1 (clang 14's __builtin_cpu_supports does not know "f16c"). */
static int have_f16c(void)
{
    unsigned a, b, c, d;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static atomic_int vec_state = -1; /* -1: not decided yet; set once, read by every thread */

int half_use_vector(int on)
{
#if HALF_X86
    const char *isa = getenv("KVBENCH_CPU_ISA");
    int v = on && have_f16c() && !(isa && !strcmp(isa, "c"));
#else
    (void)on;
    int v = 0;
#endif
    atomic_store(&vec_state, v);
    return v;
}

static void round_n(float *x, long n, float factor, int div)
{
    int v = atomic_load_explicit(&vec_state, memory_order_relaxed);
    if (v < 0) v = half_use_vector(1);
#if HALF_X86
    if (v) {
        round_f16c(x, n, factor, div);
        return;
    }
#else
    (void)v;
#endif
    if (div) div_scalar(x, n, factor);
    else mul_scalar(x, n, factor);
}

void half_round_mul_n(float *x, long n, float mul) { round_n(x, n, mul, 0); }

void half_round_div_n(float *x, long n, float div) { round_n(x, n, div, 1); }
