/* expf_exhaustive (dev-only): exp8 (kernels/cpu/expf_simd.h, AVX-512) and exp8_avx2
 * (kernels/cpu/expf_avx2.h) against this machine's expf on every float of a range, 8 at a time — the
 * evidence behind the range exp8_store and exp8_store_avx2 take without falling back.
 * build and run (after make): gcc -O2 -fopenmp -I. tools/expf_exhaustive.c build/lib/libkv_kernels.a \
 *   build/lib/libkv_util.a -lm -o /tmp/expf_exhaustive
 *   && /tmp/expf_exhaustive */
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/expf_avx2.h"

/* Floats with bit patterns first .. last (inclusive) that EXP8 gets wrong (a function per version:
 * each needs its own target). */
#define DIFFERING(name, target, EXP8)                                                                \
    static target unsigned long long name(uint32_t first, uint32_t last)                          \
    {                                                                                             \
        unsigned long long bad = 0;                                                               \
        for (uint64_t u = first; u <= last; u += 8) {                                             \
            float x[8], e[8];                                                                     \
            for (int i = 0; i < 8; i++) {                                                         \
                const uint32_t b = u + i <= last ? (uint32_t)(u + i) : last;                      \
                memcpy(&x[i], &b, sizeof b);                                                      \
            }                                                                                     \
            _mm256_storeu_ps(e, EXP8(_mm256_loadu_ps(x)));                                        \
            for (int i = 0; i < 8; i++) {                                                         \
                const float want = expf(x[i]);                                                    \
                bad += memcmp(&want, &e[i], sizeof want) != 0;                                    \
            }                                                                                     \
        }                                                                                         \
        return bad;                                                                               \
    }
DIFFERING(differing_avx512, EXPF_AVX512, exp8)
DIFFERING(differing_avx2, EXPF_AVX2, exp8_avx2)

int main(void)
{
    /* (-88, 0]: -0 (0x80000000) up to the float just above -88 (0xc2afffff); [0, 88): +0 up to just below 88 */
    const struct { const char *name; uint32_t first, last; } r[] = {{"(-88, -0]", 0x80000000u, 0xc2afffffu},
                                                                   {"[+0, 88)", 0x00000000u, 0x42afffffu}};
    const int avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
    for (int k = 0; k < 2; k++) {
        const unsigned n = r[k].last - r[k].first + 1;
        if (avx512) printf("exp8 (AVX-512) %s: %llu of %u floats differ from expf\n", r[k].name,
                           differing_avx512(r[k].first, r[k].last), n);
        if (avx2) printf("exp8_avx2 %s: %llu of %u floats differ from expf\n", r[k].name,
                         differing_avx2(r[k].first, r[k].last), n);
    }
    return 0;
}
