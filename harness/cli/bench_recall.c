/* bench_recall: decode time with and without attention recall (bench_recall.h). */
#include "harness/cli/bench_recall.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/util.h"
#include "harness/sweep/tp_launch.h"

#define BR_NV 9

/* One batched generation; its decode seconds per step and total into *step and *total. */
static int one_run(engine *e, const int *ids, int L, const variant *v, const gen_params *gp, double *step,
                   double *total, double *recall)
{
    gen_result res[BR_NV];
    gen_timing tm;
    double t0 = kv_now();
    if (engine_generate(e, ids, L, v, BR_NV, gp, res, &tm) != KV_OK) return KV_ERR;
    *total = kv_now() - t0;
    *step = tm.decode_steps ? tm.decode_s / tm.decode_steps : 0;
    *recall = 0;
    for (int i = 1; i < BR_NV; i++) *recall += res[i].recall / (BR_NV - 1);
    for (int i = 0; i < BR_NV; i++) gen_result_free(&res[i]);
    return KV_OK;
}

int bench_recall(engine *e, const int *ids, int L, int gen, int runs)
{
    static const char *const methods[] = {"snapkv", "pyramidkv", "h2o", "streamingllm"};
    variant v[BR_NV];
    variant_init(&v[0], method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    for (int i = 0; i < 8; i++) variant_init(&v[1 + i], method_find(methods[i % 4]), i < 4 ? 128 : 256, PRESET_REFERENCE_HEAD);
    double *s0 = kv_malloc(sizeof(double) * runs * 4), *s1 = s0 + runs, *t0 = s0 + 2 * runs, *t1 = s0 + 3 * runs, rec = 0;
    for (int r = 0; r < runs; r++) {
        gen_params off = {.max_new_tokens = gen}, on = {.max_new_tokens = gen, .attention_recall = 1};
        double unused;
        if (one_run(e, ids, L, v, &off, &s0[r], &t0[r], &unused) != KV_OK ||
            one_run(e, ids, L, v, &on, &s1[r], &t1[r], &rec) != KV_OK) {
            fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
            free(s0);
            return KV_ERR;
        }
    }
    double a = kv_median(s0, runs), b = kv_median(s1, runs), ta = kv_median(t0, runs), tb = kv_median(t1, runs);
    if (tp_launch_rank() == 0) {
        printf("attention recall cost: %d variants (FullKV + SnapKV, PyramidKV, H2O, StreamingLLM at 128 and 256), "
               "prompt %d tokens, %d generated, backend %s, %d interleaved runs (medians)\n",
               BR_NV, L, gen, engine_backend_name(e), runs);
        printf("decode step without recall: %.2f ms; with recall: %.2f ms; extra %.2f ms/step (%+.1f%%)\n", a * 1e3,
               b * 1e3, (b - a) * 1e3, a > 0 ? 100 * (b - a) / a : 0);
        printf("whole generation: %.3f s without, %.3f s with (x%.3f); mean recall of the compressed variants %.4f\n", ta,
               tb, ta > 0 ? tb / ta : 0, rec);
    }
    free(s0);
    return KV_OK;
}
