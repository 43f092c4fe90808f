/* fma_peak (dev-only): this CPU's fused multiply-add throughput on one core, 512-bit and 256-bit, and
 * of VNNI's vpdpbusd (64 / 32 int8 multiply-adds into int32 lanes) and AVX2's vpmaddubsw (32) — the
 * arithmetic ceilings next to the byte bound of a batched decode step (BENCHMARKS §5.7.1, §5.7.2,
 * §5.7.10); and how long one `pause` takes, the unit of libgomp's GOMP_SPINCOUNT
 * (harness/cli/wait_policy.c).
 * 12 independent chains (more than latency x ports), so the loop is bound by throughput.
 * build and run: gcc -O2 tools/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak */
#include <immintrin.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { CHAINS = 12 };
static const long ITERS = 200000000;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Operations per second of CHAINS independent chains a = op(a, m, c) of vector type V (set1: its
 * broadcast of m0, c0 and the chains' starts); the lanes summed into *sink keep the loop live. */
#define FMA_RATE(name, isa, V, set1, fmadd, lanes, start, m0, c0)                                     \
    __attribute__((target(isa))) static double name(float *sink)                                    \
    {                                                                                                   \
        V a[CHAINS];                                                                                    \
        for (int i = 0; i < CHAINS; i++) a[i] = set1(start);                                            \
        const V m = set1(m0), c = set1(c0);                                                             \
        /* named locals, not a[]: GCC keeps an array in memory and stores it every iteration, and one \
         * 256/512-bit store per cycle then bounds the loop at one FMA per cycle */                       \
        V a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];                               \
        V a6 = a[6], a7 = a[7], a8 = a[8], a9 = a[9], a10 = a[10], a11 = a[11];                           \
        double t0 = now();                                                                              \
        for (long n = 0; n < ITERS; n++) {                                                              \
            a0 = fmadd(a0, m, c), a1 = fmadd(a1, m, c), a2 = fmadd(a2, m, c), a3 = fmadd(a3, m, c);       \
            a4 = fmadd(a4, m, c), a5 = fmadd(a5, m, c), a6 = fmadd(a6, m, c), a7 = fmadd(a7, m, c);       \
            a8 = fmadd(a8, m, c), a9 = fmadd(a9, m, c), a10 = fmadd(a10, m, c), a11 = fmadd(a11, m, c);   \
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),   \
                             "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));                        \
        }                                                                                               \
        a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5;                                 \
        a[6] = a6, a[7] = a7, a[8] = a8, a[9] = a9, a[10] = a10, a[11] = a11;                             \
        double t = now() - t0;                                                                          \
        float s[lanes];                                                                                 \
        for (int i = 0; i < CHAINS; i++) {                                                              \
            memcpy(s, &a[i], sizeof s);                                                                 \
            for (int k = 0; k < lanes; k++) *sink += s[k];                                              \
        }                                                                                               \
        return ITERS * CHAINS / t;                                                                      \
    }

FMA_RATE(zmm_rate, "avx512f,fma", __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16, i * 0.001f, 0.9999f, 0.0001f)
FMA_RATE(ymm_rate, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8, i * 0.001f, 0.9999f, 0.0001f)
FMA_RATE(zmm_dp_rate, "avx512f,avx512vnni", __m512i, _mm512_set1_epi32, _mm512_dpbusd_epi32, 16, i, 0x01020304,
         0x01010101)
FMA_RATE(ymm_dp_rate, "avx512f,avx512vl,avx512vnni", __m256i, _mm256_set1_epi32, _mm256_dpbusd_epi32, 8, i,
         0x01020304, 0x01010101)

/* AVX2's int8 multiply-add as the 8-bit-activation kernels use it (qmatmul_q8.c, Q4 weights): 32
 * products summed in pairs (vpmaddubsw), then added into 16-bit lanes. The chain runs through the
 * products' unsigned operand, so that they cannot be hoisted out of the loop. */
static inline __attribute__((target("avx2"), always_inline)) __m256i maddubs_add(__m256i a, __m256i m, __m256i c)
{
    return _mm256_add_epi16(m, _mm256_maddubs_epi16(a, c));
}
FMA_RATE(ymm_mb_rate, "avx2", __m256i, _mm256_set1_epi32, maddubs_add, 8, i, 0x01020304, 0x01010101)

/* Nanoseconds one `pause` takes (what a spinning libgomp thread executes per GOMP_SPINCOUNT unit). */
static double pause_ns(void)
{
    const long n = 10000000;
    double t0 = now();
    for (long i = 0; i < n; i++) _mm_pause();
    return (now() - t0) / n * 1e9;
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
    if (__builtin_cpu_supports("avx2")) {
        double y = ymm_mb_rate(&sink);
        printf("vpmaddubsw 256-bit: %.2f G/s = %.1f G int8 multiply-adds/s\n", y / 1e9, y * 32 / 1e9);
    }
    if (__builtin_cpu_supports("avx512vnni")) {
        double z = zmm_dp_rate(&sink), y = ymm_dp_rate(&sink);
        printf("vpdpbusd 512-bit: %.2f G/s = %.1f G int8 multiply-adds/s; 256-bit: %.2f G/s = %.1f G\n", z / 1e9,
               z * 64 / 1e9, y / 1e9, y * 32 / 1e9);
    }
    printf("pause: %.1f ns\n", pause_ns());
    return sink == 12345.0f; /* keeps the sums live */
}
