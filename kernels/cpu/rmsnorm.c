/* rmsnorm (CPU): fp32 in/out, the mean of squares accumulated in double.
 *
 * Each row's sum of squares is one chain of double adds in element order (its bits); rows go eight
 * side by side so that their chains overlap instead of each waiting on the adds before it. */
#include "kernels/rmsnorm.h"

#include <math.h>

/* Below this many values a parallel region costs more than it saves: waking a sleeping thread
 * takes tens of microseconds on a VM, and a decode step has two norms per layer (BENCHMARKS §5.7.3). */
#define RMSNORM_PAR_MIN (1L << 16)
#define RMSNORM_SIDE 8 /* rows whose sums run side by side */

static inline __attribute__((always_inline)) void norm_rows(float *out, const float *x, const float *w, int r0, int nr,
                                                            int dim, float eps)
{
    double ss[RMSNORM_SIDE] = {0};
    for (int i = 0; i < dim; i++)
        for (int k = 0; k < nr; k++) {
            const double v = x[(long)(r0 + k) * dim + i];
            ss[k] += v * v;
        }
    for (int k = 0; k < nr; k++) {
        const float *xr = x + (long)(r0 + k) * dim;
        float *yr = out + (long)(r0 + k) * dim;
        const float scale = (float)(1.0 / sqrt(ss[k] / dim + eps));
        for (int i = 0; i < dim; i++) yr[i] = w[i] * (xr[i] * scale);
    }
}

void rmsnorm_cpu(float *out, const float *x, const float *w, int n_rows, int dim, float eps)
{
    const int groups = (n_rows + RMSNORM_SIDE - 1) / RMSNORM_SIDE;
#pragma omp parallel for schedule(static) if ((long)n_rows * dim >= RMSNORM_PAR_MIN)
    for (int g = 0; g < groups; g++) {
        const int r0 = g * RMSNORM_SIDE;
        if (n_rows - r0 >= RMSNORM_SIDE)
            norm_rows(out, x, w, r0, RMSNORM_SIDE, dim, eps); /* a constant count: the sums stay in registers */
        else
            norm_rows(out, x, w, r0, n_rows - r0, dim, eps);
    }
}
