/* embedding (CPU): row gather. */
#include "kernels/embedding.h"

#include <string.h>

void embedding_cpu(float *out, const float *table, const int *ids, int n, int dim)
{
    for (int i = 0; i < n; i++) memcpy(out + (long)i * dim, table + (long)ids[i] * dim, sizeof(float) * dim);
}
