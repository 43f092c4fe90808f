/* expf_simd (CPU): expf 8 floats at a time, bit for bit glibc's — for the softmaxes whose exponentials
 * (L²/2 per head and layer at prefill) would otherwise go through expf one at a time. The inline
 * exp8 for AVX-512 kernels (exp8_avx2 for AVX2 ones: expf_avx2.h), and expf_shifted_cpu for any caller. */
#ifndef KV_EXPF_SIMD_H
#define KV_EXPF_SIMD_H

#include <math.h>
#include <stdint.h>

/* e[j] = expf(x[j] - shift), j < n (e may be x): the bits of that scalar expression, 8 at a time
 * with the kernels of qmm_isa_default (AVX-512 or AVX2) where their exp8 agrees with the libm in use
 * (expf_wide_for); _isa: with those of isa (tests run each). */
void expf_shifted_cpu(float *e, const float *x, float shift, int n);
void expf_shifted_cpu_isa(int isa, float *e, const float *x, float shift, int n);

/* 1 when the exp8 of the kernels of isa (a qmm_isa: exp8 for AVX-512, exp8_avx2 for AVX2) gives this
 * process's expf bits on a sample of its range (checked once per process); 0 for the portable C. */
int expf_wide_for(int isa);

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/isa_targets.h"
#define EXPF_AVX512 KV_T_AVX512
#define EXPF_INLINE inline __attribute__((always_inline))

/* expf of 8 floats in (-88, 0], bit for bit glibc's expf on a CPU with FMA (__expf_fma, glibc 2.27 and
 * later: x/ln2 * 32 = k + r, 2^(k/32) from a table, a cubic in r, all in double with these fused
 * multiply-adds). Checked against every float of that range once (0 of 1,118,830,592 differ with glibc
 * 2.36) and, at run time, against the libm in use on a sample (expf_wide_for); lanes outside the range
 * go through expf itself. */
extern const uint64_t expf_simd_tab[32]; /* 2^(i/32) as bits, less i << 47 */

static EXPF_INLINE EXPF_AVX512 __m512d expf_bits_pd(uint64_t b) { return _mm512_castsi512_pd(_mm512_set1_epi64((long long)b)); }

static EXPF_INLINE EXPF_AVX512 __m256 exp8(__m256 x)
{
    const __m512i *tb = (const __m512i *)expf_simd_tab;
    const __m512d xd = _mm512_cvtps_pd(x), inv = expf_bits_pd(0x40471547652b82fe) /* 32/ln 2 */,
                  shift = expf_bits_pd(0x4338000000000000) /* 0x1.8p52 */;
    const __m512d kd0 = _mm512_fmadd_pd(inv, xd, shift);
    const __m512i ki = _mm512_castpd_si512(kd0);
    const __m512d kd = _mm512_sub_pd(kd0, shift);
    const __m512d r = _mm512_fmsub_pd(inv, xd, kd);
    const __m512i lo = _mm512_permutex2var_epi64(_mm512_loadu_si512(tb), ki, _mm512_loadu_si512(tb + 1));
    const __m512i hi = _mm512_permutex2var_epi64(_mm512_loadu_si512(tb + 2), ki, _mm512_loadu_si512(tb + 3));
    const __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)), lo, hi);
    const __m512d sc = _mm512_castsi512_pd(_mm512_add_epi64(t, _mm512_slli_epi64(ki, 47)));
    const __m512d z = _mm512_fmadd_pd(r, expf_bits_pd(0x3ebc6af84b912394), expf_bits_pd(0x3f2ebfce50fac4f3));
    const __m512d r2 = _mm512_mul_pd(r, r);
    __m512d y = _mm512_fmadd_pd(r, expf_bits_pd(0x3f962e42ff0c52d6), _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(z, r2, y);
    return _mm512_cvtpd_ps(_mm512_mul_pd(y, sc));
}

/* e[0..8) = expf(x[0..8)): exp8 where every lane is in (-88, 88) (glibc's main path; every float
 * there checked, tools/expf_exhaustive.c), else expf lane by lane. */
static EXPF_INLINE EXPF_AVX512 void exp8_store(float *e, __m256 x)
{
    const __m256 in = _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-88.0f), _CMP_GT_OQ),
                                    _mm256_cmp_ps(x, _mm256_set1_ps(88.0f), _CMP_LT_OQ));
    if (_mm256_movemask_ps(in) == 0xff) {
        _mm256_storeu_ps(e, exp8(x));
        return;
    }
    float xs[8];
    _mm256_storeu_ps(xs, x);
    for (int i = 0; i < 8; i++) e[i] = expf(xs[i]);
}

#endif /* __x86_64__ */

#endif
