/* expf_exhaustive (dev-only): exp8 (kernels/cpu/expf_simd.h) against this machine's expf on every float
 * of a range, 8 at a time — the evidence behind the range exp8_store takes without falling back.
 * build and run (after make): gcc -O2 -fopenmp -I. tools/expf_exhaustive.c build/lib/libkv_kernels.a \
 *   build/lib/libkv_util.a -lm -o /tmp/expf_exhaustive
 *   && /tmp/expf_exhaustive */
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/expf_simd.h"

/* Floats with bit patterns first .. last (inclusive) that exp8 gets wrong. */
static EXPF_AVX512 unsigned long long differing(uint32_t first, uint32_t last)
{
    unsigned long long bad = 0;
    for (uint64_t u = first; u <= last; u += 8) {
        float x[8], e[8];
        for (int i = 0; i < 8; i++) {
            const uint32_t b = u + i <= last ? (uint32_t)(u + i) : last;
            memcpy(&x[i], &b, sizeof b);
        }
        _mm256_storeu_ps(e, exp8(_mm256_loadu_ps(x)));
        for (int i = 0; i < 8; i++) {
            const float want = expf(x[i]);
            bad += memcmp(&want, &e[i], sizeof want) != 0;
        }
    }
    return bad;
}

int main(void)
{
    if (!__builtin_cpu_supports("avx512f")) return puts("no AVX-512 here"), 0;
    /* (-88, 0]: -0 (0x80000000) up to the float just above -88 (0xc2afffff); [0, 88): +0 up to just below 88 */
    const struct { const char *name; uint32_t first, last; } r[] = {{"(-88, -0]", 0x80000000u, 0xc2afffffu},
                                                                   {"[+0, 88)", 0x00000000u, 0x42afffffu}};
    for (int k = 0; k < 2; k++)
        printf("%s: %llu of %u floats differ from expf\n", r[k].name, differing(r[k].first, r[k].last),
               r[k].last - r[k].first + 1);
    return 0;
}
