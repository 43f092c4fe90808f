/* swiglu (CPU): silu(gate) * up. */
#include "kernels/swiglu.h"

#include <math.h>

void swiglu_cpu(float *out, const float *gate, const float *up, long n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
