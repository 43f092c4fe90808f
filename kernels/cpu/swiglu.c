/* swiglu (CPU): silu(gate) * up = gate / (1 + expf(-gate)) * up.
 *
 * With AVX-512 or AVX2 (and exp8 / exp8_avx2 agreeing with this libm's expf, kernels/cpu/expf_simd.h,
 * expf_avx2.h) 8 values at a time:
 * the same negation, expf bits, division and product, so the same bits. A batched decode step calls
 * it on a few rows of the hidden size per layer: 2.5 ms of a 55 ms step one value at a time. */
#include "kernels/swiglu.h"

#include <math.h>
#include <omp.h>

#include "kernels/cpu/expf_avx2.h"
#include "kernels/qmatmul.h"

#define SWIGLU_PAR_MIN 16384 /* values below which one thread does them all */

#if defined(__x86_64__)
/* 8 values at a time with exp8_store-like STORE (the instruction set TARGET's), the tail one by one */
#define SWIGLU_WIDE(name, TARGET, STORE)                                                                  \
    static TARGET void name(float *out, const float *gate, const float *up, long i0, long i1)           \
    {                                                                                                   \
        long i = i0;                                                                                    \
        for (; i + 8 <= i1; i += 8) {                                                                   \
            const __m256 g = _mm256_loadu_ps(gate + i);                                                 \
            float e[8];                                                                                 \
            STORE(e, _mm256_xor_ps(g, _mm256_set1_ps(-0.0f))); /* -g */                                 \
            const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_loadu_ps(e))); \
            _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));                       \
        }                                                                                               \
        for (; i < i1; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];                         \
    }
SWIGLU_WIDE(swiglu_avx512, EXPF_AVX512, exp8_store)
SWIGLU_WIDE(swiglu_avx2, EXPF_AVX2, exp8_store_avx2)
#endif

static void swiglu_c(float *out, const float *gate, const float *up, long i0, long i1)
{
    for (long i = i0; i < i1; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void swiglu_cpu_isa(int isa, float *out, const float *gate, const float *up, long n)
{
#if defined(__x86_64__)
    const int wide = expf_wide_for(isa);
#else
    const int wide = 0;
    (void)isa;
#endif
#pragma omp parallel if (n >= SWIGLU_PAR_MIN)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const long per = ((n + nt - 1) / nt + 7) / 8 * 8, i0 = t * per < n ? t * per : n, i1 = i0 + per < n ? i0 + per : n;
#if defined(__x86_64__)
        if (wide && isa == QMM_ISA_AVX512)
            swiglu_avx512(out, gate, up, i0, i1);
        else if (wide)
            swiglu_avx2(out, gate, up, i0, i1);
        else
#endif
            swiglu_c(out, gate, up, i0, i1);
    }
}

void swiglu_cpu(float *out, const float *gate, const float *up, long n) { swiglu_cpu_isa(qmm_isa_default(), out, gate, up, n); }
