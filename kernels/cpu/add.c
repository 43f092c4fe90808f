/* add (CPU): residual add. */
#include "kernels/add.h"

void add_cpu(float *x, const float *y, long n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) x[i] += y[i];
}
