/* ab_weights (dev-only): prefill and decode of the demo model with the weights as stored vs in fp32,
 * side by side in one process, alternating A, B, A, B... so that both see the same machine load.
 * Prints per round wall and CPU (process) seconds and the medians and ratios.
 *   build:  make && mpicc -std=c11 -O2 -fopenmp -D_GNU_SOURCE -I. tools/ab_weights.c \
 *             $(ls build/engine/*.o build/engine/methods/*.o build/kernels/cpu/*.o) -o build/ab_weights \
 *             $(pkg-config --libs jansson libpcre2-8) -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lm
 *   run:    OMP_WAIT_POLICY=passive build/ab_weights MODEL.gguf PROMPT_TOKENS DECODE_STEPS ROUNDS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "util/util.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: ab_weights MODEL PROMPT_TOKENS DECODE_STEPS ROUNDS\n");
        return 2;
    }
    int L = atoi(argv[2]), steps = atoi(argv[3]), rounds = atoi(argv[4]);
    const int fmts[2] = {MODEL_WEIGHTS_AS_STORED, MODEL_WEIGHTS_F32};
    engine *e[2];
    for (int k = 0; k < 2; k++) {
        engine_opts o = {.backend = "cpu", .weights = fmts[k]};
        if (engine_open(argv[1], &o, &e[k]) != KV_OK) {
            fprintf(stderr, "%s\n", kv_lasterr());
            return 1;
        }
    }
    int V = engine_config(e[0])->vocab_size;
    int *ids = kv_malloc(sizeof(int) * L);
    unsigned s = 12345;
    for (int i = 0; i < L; i++) s = s * 1103515245u + 12345u, ids[i] = 100 + (int)((s >> 8) % (unsigned)(V - 200));
    float *logits = kv_malloc(sizeof(float) * V);
    double *pw[2], *pc[2], *dw[2], *dc[2];
    for (int k = 0; k < 2; k++)
        pw[k] = kv_calloc(rounds, 8), pc[k] = kv_calloc(rounds, 8), dw[k] = kv_calloc(rounds, 8), dc[k] = kv_calloc(rounds, 8);
    variant v;
    variant_init(&v, method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    gen_params gp = {.max_new_tokens = steps + 1};
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2; k++) {
            double w0 = kv_now(), c0 = cpu_now();
            engine_prefill_logits(e[k], ids, L, logits);
            pw[k][r] = kv_now() - w0, pc[k][r] = cpu_now() - c0;
            gen_result res;
            gen_timing tm;
            c0 = cpu_now();
            engine_generate(e[k], ids, L, &v, 1, &gp, &res, &tm);
            double cpu_all = cpu_now() - c0;
            dw[k][r] = tm.decode_s / (tm.decode_steps ? tm.decode_steps : 1);
            /* decode CPU: the generate's CPU minus a prefill's CPU, per step */
            dc[k][r] = (cpu_all - pc[k][r]) / (tm.decode_steps ? tm.decode_steps : 1);
            gen_result_free(&res);
            printf("round %d %-9s prefill %.3f s wall %.3f s cpu | decode %.2f ms/step wall %.2f ms cpu\n", r,
                   model_wformat_name(fmts[k]), pw[k][r], pc[k][r], dw[k][r] * 1e3, dc[k][r] * 1e3);
            fflush(stdout);
        }
    double m[2][4];
    for (int k = 0; k < 2; k++)
        m[k][0] = median(pw[k], rounds), m[k][1] = median(pc[k], rounds), m[k][2] = median(dw[k], rounds),
        m[k][3] = median(dc[k], rounds);
    printf("medians of %d rounds, prompt %d tokens, %d decode steps:\n", rounds, L, steps);
    for (int k = 0; k < 2; k++)
        printf("  %-9s prefill %.3f s wall (%.1f tok/s) %.3f s cpu | decode %.2f ms/step wall %.2f ms cpu\n",
               model_wformat_name(fmts[k]), m[k][0], L / m[k][0], m[k][1], m[k][2] * 1e3, m[k][3] * 1e3);
    printf("as-stored / f32: prefill wall %.3f cpu %.3f | decode wall %.3f cpu %.3f\n", m[0][0] / m[1][0],
           m[0][1] / m[1][1], m[0][2] / m[1][2], m[0][3] / m[1][3]);
    for (int k = 0; k < 2; k++) engine_close(e[k]);
    return 0;
}
