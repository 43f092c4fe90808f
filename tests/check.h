/* check: the minimal test harness every tests/test_*.c uses. Each CHECK counts one case; the
 * binary prints "<name>: N passed, N failed" last and exits non-zero on any failure. Floats are
 * compared with named tolerances (|got - ref| <= atol + rtol*|ref|), NaN/Inf mismatches fail. */
#ifndef KV_CHECK_H
#define KV_CHECK_H

/* The demo model ./setup.sh installs (tests run from the repository root). */
#define DEMO_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (cond) {                                                                      \
            check_passed++;                                                              \
        } else {                                                                         \
            check_failed++;                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

static inline int check_close(double got, double ref, double atol, double rtol)
{
    if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got)) return got == ref;
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

/* Max |a-b| over n floats, and whether every element is within tolerance. */
static inline int check_close_array(const float *got, const float *ref, long n, double atol,
                                    double rtol, double *max_err)
{
    int ok = 1;
    double m = 0;
    for (long i = 0; i < n; i++) {
        if (!check_close(got[i], ref[i], atol, rtol)) ok = 0;
        double e = fabs((double)got[i] - ref[i]);
        if (e > m || isnan(e)) m = e;
    }
    if (max_err) *max_err = m;
    return ok;
}

static inline int check_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
