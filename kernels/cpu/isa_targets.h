/* isa_targets: the target attributes of the kernels' AVX-512 versions, and whether this build
 * emulates AVX-512 (make AVX512_EMU=1, tests only: kernels/cpu/avx512_emu.h). There the AVX-512 and
 * VNNI versions compile for AVX2 (SIMDe's intrinsics) and qmm_isa_available / qmm_q8_available
 * report them wherever AVX2 is, so the tests run them. */
#ifndef KV_ISA_TARGETS_H
#define KV_ISA_TARGETS_H

#ifdef KV_AVX512_EMU
#ifndef KV_AVX512_EMU_H
#error "KV_AVX512_EMU: kernels/cpu/avx512_emu.h must come first (-include, as make AVX512_EMU=1 does)"
#endif
#define KV_T_AVX512 __attribute__((target("avx2,fma,f16c")))
#define KV_T_VNNI KV_T_AVX512
#define KV_AVX512_EMULATED 1
#else
#define KV_T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define KV_T_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define KV_AVX512_EMULATED 0
#endif

#endif
