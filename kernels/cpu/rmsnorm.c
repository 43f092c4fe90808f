/* rmsnorm (CPU): fp32 in/out, the mean of squares accumulated in double. */
#include "kernels/rmsnorm.h"

#include <math.h>

void rmsnorm_cpu(float *out, const float *x, const float *w, int n_rows, int dim, float eps)
{
#pragma omp parallel for schedule(static) if (n_rows > 8)
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (long)r * dim;
        float *yr = out + (long)r * dim;
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++) yr[i] = w[i] * (xr[i] * scale);
    }
}
