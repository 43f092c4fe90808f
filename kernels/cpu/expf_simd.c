/* expf_simd (CPU): the table of exp8 and exp8_avx2, their run-time checks against the libm in use, and
 * expf_shifted_cpu (see expf_simd.h). */
#include "kernels/cpu/expf_simd.h"
#include "kernels/cpu/expf_avx2.h"

#include <pthread.h>
#include <string.h>

#include "kernels/qmatmul.h"

#if defined(__x86_64__)
const uint64_t expf_simd_tab[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b,
    0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb,
    0x3feedea64c123422, 0x3feece086061892d, 0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
    0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d, 0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540}; /* 2^(i/32) as bits, less i << 47 */

/* exp8 agrees with expf on 4,104 floats spread over the bit patterns first .. last. */
static EXPF_AVX512 int exp_simd_check_range(uint32_t first, uint32_t last)
{
    const uint32_t step = (last - first) / 4096;
    for (uint32_t k = 0; k * 8 <= 4096; k++) {
        float x[8], e[8];
        for (uint32_t i = 0; i < 8; i++) {
            const uint32_t u = (k * 8 + i) * step < last - first ? first + (k * 8 + i) * step : last;
            memcpy(&x[i], &u, sizeof u);
        }
        _mm256_storeu_ps(e, exp8(_mm256_loadu_ps(x)));
        for (int i = 0; i < 8; i++) {
            const float want = expf(x[i]);
            if (memcmp(&want, &e[i], sizeof want)) return 0;
        }
    }
    return 1;
}

/* exp8 agrees with this process's expf on 4,104 floats spread over each of (-88, -0] and [+0, 88), both
 * ends included. */
static EXPF_AVX512 int exp_simd_check(void)
{
    /* -0 .. just above -88, then +0 .. just below 88 */
    return exp_simd_check_range(0x80000000u, 0xc2afffffu) && exp_simd_check_range(0x00000000u, 0x42afffffu);
}

/* Set once by exp_simd_init: exp8 (AVX-512) and exp8_avx2 agree with expf here. */
static int exp_simd_agrees, exp_avx2_ok;

static void exp_simd_init(void)
{
    exp_simd_agrees = qmm_isa_available(QMM_ISA_AVX512) && exp_simd_check();
    exp_avx2_ok = qmm_isa_available(QMM_ISA_AVX2) && expf_avx2_agrees();
}

static pthread_once_t exp_simd_once = PTHREAD_ONCE_INIT; /* callers on several threads see one finished result */

static int expf_simd_ok(void)
{
    pthread_once(&exp_simd_once, exp_simd_init);
    return exp_simd_agrees;
}

static int expf_avx2_ok(void)
{
    pthread_once(&exp_simd_once, exp_simd_init);
    return exp_avx2_ok;
}

int expf_wide_for(int isa)
{
    switch (isa) {
    case QMM_ISA_AVX512: return expf_simd_ok();
    case QMM_ISA_AVX2: return expf_avx2_ok();
    default: return 0;
    }
}

/* e[j] = expf(x[j] - shift) 8 at a time with exp8_store-like STORE (TARGET's), the tail one by one */
#define SHIFTED_WIDE(name, TARGET, STORE)                                                \
    static TARGET void name(float *e, const float *x, float shift, int n)               \
    {                                                                                   \
        const __m256 s = _mm256_set1_ps(shift);                                         \
        int j = 0;                                                                      \
        for (; j + 8 <= n; j += 8) STORE(e + j, _mm256_sub_ps(_mm256_loadu_ps(x + j), s)); \
        for (; j < n; j++) e[j] = expf(x[j] - shift);                                   \
    }
SHIFTED_WIDE(shifted_avx512, EXPF_AVX512, exp8_store)
SHIFTED_WIDE(shifted_avx2, EXPF_AVX2, exp8_store_avx2)
#else
int expf_wide_for(int isa) { (void)isa; return 0; }
#endif

void expf_shifted_cpu_isa(int isa, float *e, const float *x, float shift, int n)
{
#if defined(__x86_64__)
    if (expf_wide_for(isa)) {
        if (isa == QMM_ISA_AVX512)
            shifted_avx512(e, x, shift, n);
        else
            shifted_avx2(e, x, shift, n);
        return;
    }
#endif
    for (int j = 0; j < n; j++) e[j] = expf(x[j] - shift);
}

void expf_shifted_cpu(float *e, const float *x, float shift, int n) { expf_shifted_cpu_isa(qmm_isa_default(), e, x, shift, n); }
