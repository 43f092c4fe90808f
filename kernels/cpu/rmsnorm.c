/* rmsnorm (CPU): fp32 in/out, the mean of squares accumulated in double. */
#include "kernels/rmsnorm.h"

#include <math.h>

/* Below this many values a parallel region costs more than it saves: waking a sleeping thread
 * takes tens of microseconds on a VM, and a decode step has two norms per layer (BENCHMARKS §5.7.3). */
#define RMSNORM_PAR_MIN (1L << 16)

void rmsnorm_cpu(float *out, const float *x, const float *w, int n_rows, int dim, float eps)
{
#pragma omp parallel for schedule(static) if ((long)n_rows * dim >= RMSNORM_PAR_MIN)
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (long)r * dim;
        float *yr = out + (long)r * dim;
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++) yr[i] = w[i] * (xr[i] * scale);
    }
}
