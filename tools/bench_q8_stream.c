/* bench_q8_stream (dev-only): qmatmul_q8act_cpu (the --activations q8 products) timed over N different
 * random Q4_1 matrices of one shape, so that with N large the weights come from memory as in a decode
 * step, and with N = 1 from cache (BENCHMARKS §5.7.3). Wall time, best of 5, the threads OpenMP gives.
 * build (after make): gcc -O2 -fopenmp -I. tools/bench_q8_stream.c build/lib/libkv_kernels.a \
 *   build/lib/libkv_util.a -lm -o /tmp/bench_q8_stream
 * run:   OMP_NUM_THREADS=2 /tmp/bench_q8_stream ROWS COLS ACT_ROWS N [f32]    e.g. 1536 576 21 160
 *        (f32: qmatmul_fused_cpu, the default fp32-activation kernels, instead) */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/qmatmul.h"
#include "kernels/qtype.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Random quants; every block's d and m the same modest half (0x2000), so the sums stay finite. */
static qmatrix random_q4_1(int rows, int cols)
{
    qmatrix w = {.type = QTYPE_Q4_1, .rows = rows, .cols = cols, .row_bytes = qtype_row_bytes(QTYPE_Q4_1, cols)};
    uint8_t *p = malloc(w.row_bytes * rows);
    if (!p) abort();
    for (size_t i = 0; i < w.row_bytes * rows; i++) p[i] = (uint8_t)rand();
    const uint16_t h = 0x2000;
    for (int64_t r = 0; r < rows; r++)
        for (int b = 0; b < cols / 32; b++) memcpy(p + r * w.row_bytes + b * 20, &h, 2), memcpy(p + r * w.row_bytes + b * 20 + 2, &h, 2);
    w.data = p;
    return w;
}

int main(int argc, char **argv)
{
    if (argc < 5) return fprintf(stderr, "usage: bench_q8_stream ROWS COLS ACT_ROWS N [f32]\n"), 2;
    const int f32 = argc > 5 && !strcmp(argv[5], "f32"); /* the fp32-activation kernels instead */
    const int rows = atoi(argv[1]), cols = atoi(argv[2]), n = atoi(argv[3]), nm = atoi(argv[4]);
    if (rows < 1 || cols < 32 || cols % 32 || n < 1 || nm < 1) return fprintf(stderr, "bad arguments\n"), 2;
    qmatrix *w = malloc(sizeof *w * nm);
    for (int m = 0; m < nm; m++) w[m] = random_q4_1(rows, cols);
    float *x = malloc(sizeof(float) * n * cols), *o = malloc(sizeof(float) * n * rows);
    for (int i = 0; i < n * cols; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
    const int kern = qmm_q8_for_isa(qmm_isa_default());
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        const double t0 = now();
        for (int m = 0; m < nm; m++)
            if (f32) qmatmul_fused_cpu(qmm_isa_default(), o, x, &w[m], n);
            else qmatmul_q8act_cpu(kern, o, x, &w[m], n);
        const double t = now() - t0;
        best = t < best ? t : best;
    }
    printf("%s, %d threads, %d matrices of %dx%d, %d rows: %.1f us a product (%.1f GMAC/s, %.2f GB/s of weights)\n",
           f32 ? "fp32 activations" : qmm_q8_name(kern), omp_get_max_threads(), nm, rows, cols, n, best / nm * 1e6,
           (double)rows * cols * n * nm / best / 1e9, (double)w[0].row_bytes * rows * nm / best / 1e9);
    return 0;
}
