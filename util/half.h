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

#endif
