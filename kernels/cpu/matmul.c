/* matmul (CPU): BLAS sgemm, x · W^T with W in the HF (out, in) layout. */
#include "kernels/matmul.h"

#include <cblas.h>

void matmul_cpu(float *out, const float *x, const float *w, int n, int in_dim, int out_dim)
{
    if (n == 1) { /* one row (batch-1 decode): a matrix-vector product streams W once */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in_dim, 1.0f, w, in_dim, x, 1, 0.0f, out, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out_dim, in_dim, 1.0f, x, in_dim, w, in_dim, 0.0f,
                out, out_dim);
}
