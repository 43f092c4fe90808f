/* expf_avx2 (CPU): exp8 of kernels/cpu/expf_simd.h for CPUs with AVX2 and FMA but no AVX-512 (AMD Zen
 * 1-3, Intel before Skylake-SP): the same double-precision steps on two halves of 4 lanes, the table
 * entry fetched with a gather instead of a two-register permute. Each lane does what glibc's
 * __expf_fma does, so the bits are expf's; expf_avx2_agrees checks that against the libm in use. */
#ifndef KV_EXPF_AVX2_H
#define KV_EXPF_AVX2_H

#include "kernels/cpu/expf_simd.h"

#if defined(__x86_64__)
#include <string.h>

#define EXPF_AVX2 __attribute__((target("avx2,fma")))

static EXPF_INLINE EXPF_AVX2 __m256d expf_avx2_pd(uint64_t b) { return _mm256_castsi256_pd(_mm256_set1_epi64x((long long)b)); }

/* expf of 4 floats in (-88, 0] (see exp8): x/ln2 * 32 = k + r, 2^(k/32) = tab[k mod 32] + k << 47 as
 * bits, times a cubic in r. */
static EXPF_INLINE EXPF_AVX2 __m128 exp4_avx2(__m128 x)
{
    const __m256d xd = _mm256_cvtps_pd(x), inv = expf_avx2_pd(0x40471547652b82fe) /* 32/ln 2 */,
                  shift = expf_avx2_pd(0x4338000000000000) /* 0x1.8p52: k lands in the low bits */;
    const __m256d k_shifted = _mm256_fmadd_pd(inv, xd, shift);
    const __m256i k_bits = _mm256_castpd_si256(k_shifted);
    const __m256d r = _mm256_fmsub_pd(inv, xd, _mm256_sub_pd(k_shifted, shift));
    const __m256i entry = _mm256_i64gather_epi64((const long long *)expf_simd_tab,
                                                 _mm256_and_si256(k_bits, _mm256_set1_epi64x(31)), 8);
    const __m256d two_k = _mm256_castsi256_pd(_mm256_add_epi64(entry, _mm256_slli_epi64(k_bits, 47)));
    const __m256d cubic = _mm256_fmadd_pd(r, expf_avx2_pd(0x3ebc6af84b912394), expf_avx2_pd(0x3f2ebfce50fac4f3));
    __m256d poly = _mm256_fmadd_pd(r, expf_avx2_pd(0x3f962e42ff0c52d6), _mm256_set1_pd(1.0));
    poly = _mm256_fmadd_pd(cubic, _mm256_mul_pd(r, r), poly);
    return _mm256_cvtpd_ps(_mm256_mul_pd(poly, two_k));
}

static EXPF_INLINE EXPF_AVX2 __m256 exp8_avx2(__m256 x)
{
    return _mm256_set_m128(exp4_avx2(_mm256_extractf128_ps(x, 1)), exp4_avx2(_mm256_castps256_ps128(x)));
}

/* e[0..8) = expf(x[0..8)): exp8_avx2, then expf itself for the lanes outside (-88, 88) (NaN among
 * them), where exp8's range ends. */
static EXPF_INLINE EXPF_AVX2 void exp8_store_avx2(float *e, __m256 x)
{
    const __m256 mag = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const int outside = _mm256_movemask_ps(_mm256_cmp_ps(mag, _mm256_set1_ps(88.0f), _CMP_NLT_UQ));
    float xs[8];
    if (outside) _mm256_storeu_ps(xs, x); /* before the store: e may be where x came from */
    _mm256_storeu_ps(e, exp8_avx2(x));
    for (int i = 0; outside && i < 8; i++)
        if (outside >> i & 1) e[i] = expf(xs[i]);
}

/* 1 when exp8_avx2 gives this process's expf bits on 8,192 floats, 4,096 bit patterns spread over
 * each of [-0, -88) and [+0, 88), both ends included. The caller keeps the answer. */
static inline EXPF_AVX2 int expf_avx2_agrees(void)
{
    for (uint32_t k = 0; k < 4096; k += 4) {
        float x[8], got[8], want[8];
        for (uint32_t i = 0; i < 8; i++) {
            const uint32_t u = (uint32_t)((uint64_t)(k + i / 2) * 0x42afffffu / 4095) | (i & 1) << 31;
            memcpy(&x[i], &u, sizeof u);
            want[i] = expf(x[i]);
        }
        _mm256_storeu_ps(got, exp8_avx2(_mm256_loadu_ps(x)));
        if (memcmp(got, want, sizeof want)) return 0;
    }
    return 1;
}

#endif /* __x86_64__ */

#endif
