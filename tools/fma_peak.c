/* fma_peak (dev-only): this CPU's fused multiply-add throughput on one core, 512-bit and 256-bit —
 * the arithmetic ceiling next to the byte bound of a batched decode step (BENCHMARKS §5.7.1).
 * 12 independent chains (more than latency x ports), so the loop is bound by throughput.
 * build and run: gcc -O2 tools/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

enum { CHAINS = 12 };
static const long ITERS = 200000000;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx512f,fma"))) static double zmm_rate(float *sink)
{
    __m512 a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps(i * 0.001f);
    const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(0.0001f);
    double t0 = now();
    for (long n = 0; n < ITERS; n++) {
        #pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]), "+v"(a[6]),
                         "+v"(a[7]), "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]));
    }
    double t = now() - t0;
    for (int i = 0; i < CHAINS; i++) *sink += _mm512_reduce_add_ps(a[i]);
    return ITERS * CHAINS / t;
}

__attribute__((target("avx2,fma"))) static double ymm_rate(float *sink)
{
    __m256 a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps(i * 0.001f);
    const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(0.0001f);
    double t0 = now();
    for (long n = 0; n < ITERS; n++) {
        #pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
        __asm__ volatile("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]), "+v"(a[6]),
                         "+v"(a[7]), "+v"(a[8]), "+v"(a[9]), "+v"(a[10]), "+v"(a[11]));
    }
    double t = now() - t0;
    float s[8];
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(s, a[i]);
        for (int k = 0; k < 8; k++) *sink += s[k];
    }
    return ITERS * CHAINS / t;
}

int main(void)
{
    float sink = 0;
    if (__builtin_cpu_supports("avx512f")) {
        double z = zmm_rate(&sink);
        printf("512-bit: %.2f G FMA/s = %.1f G lane-FMA/s\n", z / 1e9, z * 16 / 1e9);
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        double y = ymm_rate(&sink);
        printf("256-bit: %.2f G FMA/s = %.1f G lane-FMA/s\n", y / 1e9, y * 8 / 1e9);
    }
    return sink == 12345.0f; /* keeps the sums live */
}
