/* avx512_emu: the AVX-512 emulation build (make AVX512_EMU=1, tests only). Forced before every
 * kernel source (-include), it puts SIMDe's AVX-512 intrinsics (Debian's libsimde-dev: each 512-bit
 * operation done as two AVX2 ones) in place of the compiler's, and kernels/cpu/isa_targets.h then
 * compiles the AVX-512 versions for AVX2 and reports them available. The tests that check every
 * available version's bits against the portable C ones thereby run the AVX-512 and VNNI versions on
 * a CPU without AVX-512: their lanes, masks, gathers and orders of sums — not the compiler's AVX-512
 * instructions, which only AVX-512 hardware runs.
 *
 * The intrinsics SIMDe 0.7 lacks (or has under its own name only) are defined below, lane by lane from the instructions' definitions
 * (Intel's intrinsics guide), the horizontal reductions in GCC's order (avx512fintrin.h), so that they
 * give what the real ones give. */
#ifndef KV_AVX512_EMU_H
#define KV_AVX512_EMU_H

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "AVX512_EMU=1 compiles with -mavx2 -mfma -mf16c: SIMDe's fused multiply-adds are then AVX2's, rounding once"
#endif

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

/* 512-bit vectors to and from lanes in memory order */
#define KV_EMU_LANES(T, n, v) T n[64 / sizeof(T)]; memcpy(n, &(v), 64)

static inline __m512 kv_emu_ps(const void *lanes)
{
    __m512 v;
    memcpy(&v, lanes, 64);
    return v;
}

static inline __m512i kv_emu_si(const void *lanes)
{
    __m512i v;
    memcpy(&v, lanes, 64);
    return v;
}

static inline __m256 kv_emu_half_ps(__m512 v, int hi)
{
    __m256 h;
    memcpy(&h, (const char *)&v + 32 * hi, 32);
    return h;
}

static inline __m512 kv_emu_join_ps(__m256 lo, __m256 hi)
{
    float f[16];
    memcpy(f, &lo, 32), memcpy(f + 8, &hi, 32);
    return kv_emu_ps(f);
}

/* A lane-by-lane conversion instruction: n lanes of TI (in a VI) to TO (in a VO) as C converts them,
 * which is what the instructions do: integers truncated (vpmovdw, vpmovdb) or widened with their
 * sign or zeros (vpmovsxbd, vpmovzxbd, vpmovzxwd), floats rounded to nearest (vcvtdq2ps, vcvtpd2ps:
 * the default MXCSR) or widened exactly (vcvtps2pd). */
#define KV_EMU_CONVERT(name, VI, TI, VO, TO, n)                                                    \
    static inline VO name(VI a)                                                                    \
    {                                                                                              \
        TI x[n];                                                                                   \
        memcpy(x, &a, sizeof x);                                                                   \
        TO r[n];                                                                                   \
        for (int i = 0; i < n; i++) r[i] = (TO)x[i];                                               \
        VO v;                                                                                      \
        memcpy(&v, r, sizeof r);                                                                   \
        return v;                                                                                  \
    }
KV_EMU_CONVERT(kv_emu_cvtepi32_epi16, __m512i, uint32_t, __m256i, uint16_t, 16)
KV_EMU_CONVERT(kv_emu_cvtepi32_epi8, __m512i, uint32_t, __m128i, uint8_t, 16)
KV_EMU_CONVERT(kv_emu_cvtepi32_ps, __m512i, int32_t, __m512, float, 16)
KV_EMU_CONVERT(kv_emu_cvtepi8_epi32, __m128i, int8_t, __m512i, int32_t, 16)
KV_EMU_CONVERT(kv_emu_cvtepu8_epi32, __m128i, uint8_t, __m512i, int32_t, 16)
KV_EMU_CONVERT(kv_emu_cvtepu16_epi32, __m256i, uint16_t, __m512i, int32_t, 16)
KV_EMU_CONVERT(kv_emu_cvtpd_ps, __m512d, double, __m256, float, 8)
KV_EMU_CONVERT(kv_emu_cvtps_pd, __m256, float, __m512d, double, 8)

/* vcvtph2ps and vcvtps2dq: the AVX2 (F16C) instruction on each half, the same per-lane operation */
static inline __m512 kv_emu_cvtph_ps(__m256i a)
{
    return kv_emu_join_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(a)), _mm256_cvtph_ps(_mm256_extracti128_si256(a, 1)));
}

static inline __m512i kv_emu_cvtps_epi32(__m512 a)
{
    const __m256i lo = _mm256_cvtps_epi32(kv_emu_half_ps(a, 0)), hi = _mm256_cvtps_epi32(kv_emu_half_ps(a, 1));
    int32_t r[16];
    memcpy(r, &lo, 32), memcpy(r + 8, &hi, 32);
    return kv_emu_si(r);
}

/* vpgatherdd / vgatherdps: lane i from base + index[i] * scale bytes */
static inline __m512i kv_emu_i32gather_epi32(__m512i idx, const void *base, int scale)
{
    KV_EMU_LANES(int32_t, ix, idx);
    int32_t r[16];
    for (int i = 0; i < 16; i++) memcpy(&r[i], (const char *)base + (int64_t)ix[i] * scale, 4);
    return kv_emu_si(r);
}

static inline __m512 kv_emu_i32gather_ps(__m512i idx, const void *base, int scale)
{
    const __m512i v = kv_emu_i32gather_epi32(idx, base, scale);
    __m512 r;
    memcpy(&r, &v, 64);
    return r;
}

/* vmovups with a mask: only the lanes whose bit is set are written */
static inline void kv_emu_mask_storeu_ps(void *p, __mmask16 k, __m512 a)
{
    KV_EMU_LANES(float, x, a);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy((char *)p + 4 * i, &x[i], 4);
}

/* GCC's reductions: upper half op lower half, then the 128-bit halves, then lanes {2,3} onto {0,1},
 * then lane 1 onto lane 0 (max: lanes {1,0} onto {0,1}, lane 0 taken) */
static inline float kv_emu_reduce_add_ps(__m512 a)
{
    const __m256 t3 = _mm256_add_ps(kv_emu_half_ps(a, 1), kv_emu_half_ps(a, 0));
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
    const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, _MM_SHUFFLE(1, 1, 1, 1)));
}

static inline float kv_emu_reduce_max_ps(__m512 a)
{
    const __m256 t3 = _mm256_max_ps(kv_emu_half_ps(a, 1), kv_emu_half_ps(a, 0));
    const __m128 t6 = _mm_max_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
    const __m128 t8 = _mm_max_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m128 t10 = _mm_max_ps(t8, _mm_shuffle_ps(t8, t8, _MM_SHUFFLE(0, 1, 0, 1)));
    return _mm_cvtss_f32(t10);
}

static inline int kv_emu_reduce_add_epi32(__m512i a)
{
    KV_EMU_LANES(uint32_t, x, a);
    uint32_t t[4];
    for (int i = 0; i < 4; i++) t[i] = (x[8 + i] + x[i]) + (x[12 + i] + x[4 + i]);
    return (int)((t[0] + t[2]) + (t[1] + t[3])); /* integer adds: any order, the same sum (mod 2^32) */
}

#undef _mm512_cvtepi32_epi16
#undef _mm512_cvtepi32_epi8
#undef _mm512_cvtepi32_ps
#undef _mm512_cvtepi8_epi32
#undef _mm512_cvtepu8_epi32
#undef _mm512_cvtepu16_epi32
#undef _mm512_cvtpd_ps
#undef _mm512_cvtps_pd
#undef _mm512_cvtph_ps
#undef _mm512_cvtps_epi32
#undef _mm512_i32gather_epi32
#undef _mm512_i32gather_ps
#undef _mm512_mask_storeu_ps
#undef _mm512_reduce_add_ps
#undef _mm512_reduce_max_ps
#undef _mm512_reduce_add_epi32
#undef _mm512_shuffle_f32x4 /* SIMDe 0.7 has it under its own name only */
#define _mm512_cvtepi32_epi16 kv_emu_cvtepi32_epi16
#define _mm512_cvtepi32_epi8 kv_emu_cvtepi32_epi8
#define _mm512_cvtepi32_ps kv_emu_cvtepi32_ps
#define _mm512_cvtepi8_epi32 kv_emu_cvtepi8_epi32
#define _mm512_cvtepu8_epi32 kv_emu_cvtepu8_epi32
#define _mm512_cvtepu16_epi32 kv_emu_cvtepu16_epi32
#define _mm512_cvtpd_ps kv_emu_cvtpd_ps
#define _mm512_cvtps_pd kv_emu_cvtps_pd
#define _mm512_cvtph_ps kv_emu_cvtph_ps
#define _mm512_cvtps_epi32 kv_emu_cvtps_epi32
#define _mm512_i32gather_epi32 kv_emu_i32gather_epi32
#define _mm512_i32gather_ps kv_emu_i32gather_ps
#define _mm512_mask_storeu_ps kv_emu_mask_storeu_ps
#define _mm512_reduce_add_ps kv_emu_reduce_add_ps
#define _mm512_reduce_max_ps kv_emu_reduce_max_ps
#define _mm512_reduce_add_epi32 kv_emu_reduce_add_epi32
#define _mm512_shuffle_f32x4(a, b, imm8) simde_mm512_shuffle_f32x4(a, b, imm8)

#endif
