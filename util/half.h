/* half: IEEE binary16 conversions shared by the loaders (F16 tensors) and the scoring kernels
 * (the reference-2026-01 preset rounds scores to fp16). */
#ifndef KV_HALF_H
#define KV_HALF_H

#include <stdint.h>

/* Round-to-nearest-even float -> half bits (overflow -> +-inf, NaN kept, subnormals exact). */
uint16_t half_from_float(float x);
/* Half bits -> float, exact for every input (subnormals, inf, NaN), as ggml_fp16_to_fp32. */
float half_to_float(uint16_t h);
/* x rounded to the nearest representable half, as a float. */
static inline float half_round(float x) { return half_to_float(half_from_float(x)); }

/* In place over n floats, bit for bit the scalar forms (the fp16 scoring's hot loops):
 *   half_round_mul_n: x[i] = half_round(x[i] * mul)
 *   half_round_div_n: x[i] = half_round(half_round(x[i]) / div)
 * With F16C + AVX (CPUID at run time, 8 lanes, IEEE round-to-nearest-even conversions) unless
 * KVBENCH_CPU_ISA=c or half_use_vector(0); else the scalar loop. */
void half_round_mul_n(float *x, long n, float mul);
void half_round_div_n(float *x, long n, float div);
/* Whether the vector form is used: on = 1 turns it on where the CPU has it, 0 forces the scalar
 * loop (tests compare the two). Returns the state now in force. */
int half_use_vector(int on);

#endif
