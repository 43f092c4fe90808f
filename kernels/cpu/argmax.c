/* argmax (CPU): greedy choice; strict '>' keeps the lowest index on ties.
 *
 * The AVX-512 and AVX2 versions give the scalar loop's answer: the row's largest value ignoring NaNs
 * (a NaN is never '>'), then the first index holding it (+0 and -0 compare equal, as in the loop); a
 * NaN in position 0 is never beaten, so it is the answer. A batched decode step runs it over 21-26
 * rows of 49,152 logits: scalar, 2.5% of the step, so the rows are also shared among the threads. */
#include "kernels/argmax.h"

#include <math.h>
#include <omp.h>

#include "kernels/qmatmul.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/isa_targets.h"

static KV_T_AVX512 int argmax_row_avx512(const float *row, int n)
{
    if (isnan(row[0])) return 0;
    __m512 m = _mm512_set1_ps(row[0]);
    int i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(row + i), m); /* NaN lanes keep m */
    float best = _mm512_reduce_max_ps(m);
    for (; i < n; i++) best = row[i] > best ? row[i] : best;
    const __m512 b = _mm512_set1_ps(best);
    for (i = 0; i + 16 <= n; i += 16) {
        const __mmask16 eq = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + i), b, _CMP_EQ_OQ);
        if (eq) return i + __builtin_ctz(eq);
    }
    for (; i < n; i++)
        if (row[i] == best) return i;
    return 0; /* not reached: best is one of the row's values */
}

static __attribute__((target("avx2"))) int argmax_row_avx2(const float *row, int n)
{
    if (isnan(row[0])) return 0;
    __m256 m = _mm256_set1_ps(row[0]);
    int i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(row + i), m); /* NaN lanes keep m */
    float lanes[8], best = row[0];
    _mm256_storeu_ps(lanes, m);
    for (int l = 0; l < 8; l++) best = lanes[l] > best ? lanes[l] : best;
    for (; i < n; i++) best = row[i] > best ? row[i] : best;
    const __m256 b = _mm256_set1_ps(best);
    for (i = 0; i + 8 <= n; i += 8) {
        const int eq = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + i), b, _CMP_EQ_OQ));
        if (eq) return i + __builtin_ctz((unsigned)eq);
    }
    for (; i < n; i++)
        if (row[i] == best) return i;
    return 0; /* not reached: best is one of the row's values */
}
#endif

static int argmax_row(const float *row, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

void argmax_cpu_isa(int isa, int *out, const float *x, int n_rows, int n)
{
    /* a row is a few microseconds of work: threads only for a batch of vocabulary-sized rows */
    #pragma omp parallel for schedule(static) if ((long)n_rows * n >= (1L << 18) && !omp_in_parallel())
    for (int r = 0; r < n_rows; r++) {
        const float *row = x + (long)r * n;
#if defined(__x86_64__)
        if (isa == QMM_ISA_AVX512 && n > 0) {
            out[r] = argmax_row_avx512(row, n);
            continue;
        }
        if (isa == QMM_ISA_AVX2 && n > 0) {
            out[r] = argmax_row_avx2(row, n);
            continue;
        }
#endif
        out[r] = n > 0 ? argmax_row(row, n) : 0;
    }
}

void argmax_cpu(int *out, const float *x, int n_rows, int n) { argmax_cpu_isa(qmm_isa_default(), out, x, n_rows, n); }
