/* argmax (CPU): greedy choice; strict '>' keeps the lowest index on ties. */
#include "kernels/argmax.h"

void argmax_cpu(int *out, const float *x, int n_rows, int n)
{
    for (int r = 0; r < n_rows; r++) {
        const float *row = x + (long)r * n;
        int best = 0;
        for (int i = 1; i < n; i++)
            if (row[i] > row[best]) best = i;
        out[r] = best;
    }
}
