/* cmd_bench: `kvbench bench` — engine throughput. Prefill tok/s and decode ms/step (medians of
 * several runs) next to a roofline: on the CPU the machine's read bandwidth measured in the same
 * run (a decode step must stream every weight once). With --variants all: one shared prefill +
 * batched decode of the 26 sweep variants against running them one by one, and the ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/roofline.h"
#include "util/util.h"
#include "kernels/qmatmul.h"
#include "harness/cli/cli_engine.h"
#include "harness/cli/commands.h"
#include "harness/cli/bench_recall.h"
#include "harness/cli/options.h"
#include "harness/sweep/tp_launch.h"


/* Read bandwidth of a 512 MiB array (an OpenMP sum, like a weight-streaming decode step reads its
 * weights once): the CPU roofline for decode, measured in the same run. */
static double measure_read_bandwidth(void)
{
    long n = (512L << 20) / sizeof(float);
    float *a = kv_malloc(sizeof(float) * n);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 1e30, sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = kv_now();
        float s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
        for (long i = 0; i < n; i++) s += a[i];
        double t = kv_now() - t0;
        best = t < best ? t : best; /* the roofline is the best the machine does */
        sink += s;
    }
    free(a);
    if (sink < 0) printf("%g", sink); /* keep the sums observable */
    return sizeof(float) * (double)n / best;
}

static int *bench_prompt(engine *e, const char *file, int n)
{
    int *ids = kv_malloc(sizeof(int) * n);
    const tokenizer *tok = engine_tokenizer(e);
    int *text_ids = NULL, nt = 0;
    if (file && tok) {
        char *text;
        if (kv_read_file(file, &text, NULL) != KV_OK || tokenizer_encode(tok, text, strlen(text), tokenizer_add_bos(tok), &text_ids, &nt)) {
            fprintf(stderr, "kvbench: error: --prompt-file: %s\n", kv_lasterr());
            free(ids);
            return NULL;
        }
        free(text);
    }
    unsigned s = 12345;
    int vocab = engine_config(e)->vocab_size;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        ids[i] = nt > 0 ? text_ids[i % nt] : (int)(100 + (s >> 8) % (unsigned)(vocab / 2));
    }
    free(text_ids);
    return ids;
}

/* Host <-> backend bytes of one prompt (issue 16): with device selection the prefill moves kept
 * sets, not the W x L window rows. */
static void print_transfers(const gen_timing *tm, int n_layers)
{
    printf("host transfers per prompt: prefill+selection %.3f MB to host (%.1f KB per layer), %.3f MB to device; "
           "decode %.3f MB to host, %.3f MB to device\n", tm->prefill_to_host / 1e6,
           tm->prefill_to_host / 1e3 / (n_layers > 0 ? n_layers : 1), tm->prefill_to_device / 1e6,
           tm->decode_to_host / 1e6, tm->decode_to_device / 1e6);
}

/* How idle OpenMP threads wait (harness/cli/wait_policy.c), for the runs' header line. */
static const char *omp_waits(char *buf, size_t cap)
{
    const char *pol = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    snprintf(buf, cap, "OpenMP waits %s%s%s", pol ? pol : "default", spin ? ", spin " : "", spin ? spin : "");
    return buf;
}

/* The weights held, the kernels and activations of decode, the dequantize scratch and the peak RSS. */
static void print_memory(engine *e)
{
    engine_memory mem;
    engine_memory_info(e, &mem);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const long long huge = kv_huge_page_bytes();
    char huge_s[48] = "unknown";
    if (huge >= 0) snprintf(huge_s, sizeof huge_s, "%.1f MB", huge / 1e6);
    printf("memory: weights %.1f MB held (%s; CPU kernels %s, decode activations %s); dequantize scratch peak "
           "%.1f MB (largest matrix in fp32 %.1f MB); peak RSS %.1f MB, on huge pages now %s\n",
           mem.weight_bytes / 1e6, mem.formats, qmm_isa_name(qmm_isa_default()), mem.activations,
           mem.scratch_peak_bytes / 1e6, mem.largest_matrix_f32_bytes / 1e6, ru.ru_maxrss * 1024.0 / 1e6, /* KiB */
           huge_s);
}

/* Where the last run's decode step went (backends that time their kernels): the weight products and
 * the decode attention, each with the multiply-adds it did at least and their rate. Against the byte
 * bound, this says whether a part waits on memory or on arithmetic. what: "batched step", "decode
 * step"; n_decoded sequences a step, kv_tokens the cached tokens their query heads read, summed; tp > 1:
 * this rank's shard of a tensor-parallel group (its layers' matrices and heads split tp ways). */
static void print_step_parts(engine *e, const char *what, const gen_timing *tm, int n_decoded, double kv_tokens,
                             int tp)
{
    if (strcmp(engine_backend_name(e), "cpu") || tp_launch_rank() != 0) return;
    if (tm->decode_steps <= 0 || tm->decode_weights_s <= 0) return;
    const model_config *c = engine_config(e);
    const double steps = tm->decode_steps, w = tm->decode_weights_s / steps, a = tm->decode_attention_s / steps;
    const double w_macs = n_decoded * roofline_decode_macs(c, tp), a_macs = roofline_attention_macs(c, tp, kv_tokens);
    engine_memory mem;
    engine_memory_info(e, &mem);
    char shard[48] = "";
    if (tp > 1) snprintf(shard, sizeof shard, ", rank 0's shard of %d", tp);
    printf("%s parts (the last run%s): weight products %.2f ms (%.1f M multiply-adds, %s activations: %.1f G/s), "
           "decode attention %.2f ms (%.1f M multiply-adds at least: %.1f G/s), the rest %.2f ms\n",
           what, shard, w * 1e3, w_macs / 1e6, mem.activations, w_macs / w / 1e9, a * 1e3, a_macs / 1e6,
           a > 0 ? a_macs / a / 1e9 : 0, (tm->decode_s / steps - w - a) * 1e3);
}

static int bench_single(engine *e, const variant *vp, const int *ids, int L, int gen, int runs, int ea_tp, int shard)
{
    const variant v = *vp;
    gen_params gp = {.max_new_tokens = gen};
    double *pf = kv_malloc(sizeof(double) * runs), *dc = kv_malloc(sizeof(double) * runs);
    double *cs = kv_malloc(sizeof(double) * runs);
    gen_timing tm = {0};
    for (int r = 0; r < runs; r++) {
        gen_result res;
        if (engine_generate(e, ids, L, &v, 1, &gp, &res, &tm) != KV_OK) {
            fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
            return KV_ERR;
        }
        pf[r] = tm.prefill_s;
        cs[r] = tm.compress_s;
        dc[r] = tm.decode_steps ? tm.decode_s / tm.decode_steps : 0;
        gen_result_free(&res);
    }
    double p = kv_median(pf, runs), d = kv_median(dc, runs);
    const model_config *c = engine_config(e);
    double params = roofline_params(c);
    const roofline_device *dev = roofline_device_find(engine_device(e));
    if (tp_launch_rank() == 0) {
        char waits[96];
        printf("model: %s (%.1fM params), backend %s (%s; %s), prompt %d tokens, %d generated, %d runs (medians)\n",
               c->name, params / 1e6, engine_backend_name(e), engine_device(e), omp_waits(waits, sizeof waits), L,
               gen, runs);
        if (shard) printf("shard: 1 of %d (tensor-parallel shapes, %.1fM params on this device, no collectives)\n",
                          ea_tp, roofline_shard_params(c, ea_tp) / 1e6);
        /* a TP group computes the whole model in p; a shard alone its part */
        printf("prefill: %.1f tok/s (%.3f s), %.1f GFLOP/s\n", L / p, p,
               roofline_prefill_flops(c, shard ? ea_tp : 1, L) / p / 1e9);
        printf("decode:  %.2f tok/s, %.2f ms/step\n", d > 0 ? 1.0 / d : 0, d * 1e3);
        if (v.budget > 0) {
            char desc[512];
            variant_describe(&v, desc, sizeof desc);
            double cm = kv_median(cs, runs);
            printf("compression: %s: statistics + selection %.3f s (%.2f ms per layer; prefill + compression %.2f ms "
                   "per layer)\n", desc, cm, cm / c->n_layers * 1e3, (p + cm) / c->n_layers * 1e3);
        }
        long captures, replays;
        engine_graph_counts(e, &captures, &replays);
        if (captures) printf("decode graphs: %ld steps captured, %ld replayed\n", captures, replays);
        print_transfers(&tm, c->n_layers);
    }
    if (tp_launch_rank() == 0) print_memory(e); /* before the bandwidth probe's 512 MiB buffer inflates the RSS */
    if (dev) {
        /* GPU: bf16 weights, fp32 K/V of about L + gen/2 tokens per step, against the device's peaks */
        roofline_point rd = roofline_decode(dev, roofline_decode_bytes(c, ea_tp, 2.0, 1, L + gen / 2.0, 4), d);
        roofline_point rp = roofline_prefill(dev, roofline_prefill_flops(c, ea_tp, L), p);
        if (tp_launch_rank() == 0) {
            printf("roofline (%s): decode %.0f GB/s of %.0f GB/s HBM (%.0f%%), bound %.3f ms/step; prefill %.1f of "
                   "%.0f TFLOP/s bf16 (%.0f%%)\n", dev->name, rd.achieved / 1e9, rd.peak / 1e9, rd.percent,
                   rd.bound_s * 1e3, rp.achieved / 1e12, rp.peak / 1e12, rp.percent);
        }
    } else {
        /* the bytes a step really reads: this rank's matrices in the format they are held in, and the
         * fp32 K/V of about L + gen/2 cached tokens */
        double bw = measure_read_bandwidth();
        engine_memory mem;
        engine_memory_info(e, &mem);
        double kv_bytes = roofline_decode_bytes(c, ea_tp, 0.0, 1, L + gen / 2.0, 4);
        double step_bytes = (double)mem.step_read_bytes + kv_bytes;
        if (tp_launch_rank() == 0)
            printf("roofline: decode reads %.1f MB per step (%.1f MB %s weights + %.1f MB K/V) -> %.2f GB/s achieved "
                   "vs %.2f GB/s measured read bandwidth (%.0f%%); bound %.2f ms/step\n",
                   step_bytes / 1e6, mem.step_read_bytes / 1e6, mem.formats, kv_bytes / 1e6,
                   d > 0 ? step_bytes / d / 1e9 : 0, bw / 1e9, d > 0 ? 100.0 * step_bytes / d / bw : 0,
                   step_bytes / bw * 1e3);
        if (!shard) print_step_parts(e, "decode step", &tm, 1, L + gen / 2.0, ea_tp);
    }
    free(pf), free(dc), free(cs);
    return KV_OK;
}

/* The batched decode step against its bytes (CPU): every weight once for the whole batch, plus each
 * decoded variant's kept K/V (kept_sum: the n_decoded variants' mean kept prompt tokens per head,
 * summed; plus half the generated tail; a twin decoded with another reads nothing) once per KV head — what a step must read at least when the query heads sharing a
 * KV head read its rows once (they do where their views coincide). */
static void print_batched_step(engine *e, int nv, int n_decoded, double kept_sum, int gen, double step_s)
{
    if (strcmp(engine_backend_name(e), "cpu") || tp_launch_rank() != 0) return;
    engine_memory mem;
    engine_memory_info(e, &mem);
    double kv = roofline_decode_bytes(engine_config(e), 1, 0.0, 1, kept_sum + n_decoded * gen / 2.0, 4);
    double bytes = (double)mem.step_read_bytes + kv, bw = measure_read_bandwidth();
    if (n_decoded < nv)
        printf("twins: %d of %d variants keep the same positions as an earlier one and take its tokens (decoded "
               "once)\n", nv - n_decoded, nv);
    printf("batched step: %.2f ms for %d variants (%d decoded); reads at least %.1f MB (%.1f MB %s weights once + %.1f MB "
           "kept K/V) -> %.2f GB/s vs %.2f GB/s measured read bandwidth; byte bound %.2f ms, step %.2fx it\n",
           step_s * 1e3, nv, n_decoded, bytes / 1e6, mem.step_read_bytes / 1e6, mem.formats, kv / 1e6,
           step_s > 0 ? bytes / step_s / 1e9 : 0, bw / 1e9, bytes / bw * 1e3, step_s / (bytes / bw));
}

/* compare: also run the 26 one by one (speed-up and token identity); 0: the batched run alone. */
static int bench_variants(engine *e, const int *ids, int L, int gen, int runs, int compare, int tp)
{
    static const char *const methods[] = {"snapkv", "pyramidkv", "h2o", "streamingllm", "circuitkv"};
    static const int budgets[] = {128, 256, 512, 1024, 2048};
    variant vars[26];
    int nv = 0;
    variant_init(&vars[nv++], method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    for (int m = 0; m < 5; m++)
        for (int b = 0; b < 5; b++) variant_init(&vars[nv++], method_find(methods[m]), budgets[b], PRESET_REFERENCE_HEAD);
    gen_params gp = {.max_new_tokens = gen};
    const int exact = engine_fp32(e);
    double *tb = kv_malloc(sizeof(double) * runs), *ts = kv_malloc(sizeof(double) * runs);
    double *tstep = kv_malloc(sizeof(double) * runs), kept_sum = 0;
    int n_decoded = nv;
    /* variants / tokens whose batched and one-by-one greedy tokens differ, over every run */
    int var_diff = 0, tok_diff = 0, tok_all = 0;
    gen_timing tm = {0};
    for (int r = 0; r < runs; r++) {
        gen_result batched[26], one;
        tm = (gen_timing){0}; /* the last run's, for the transfer line below */
        double t0 = kv_now();
        if (engine_generate(e, ids, L, vars, nv, &gp, batched, &tm) != KV_OK) goto fail;
        tb[r] = kv_now() - t0;
        tstep[r] = tm.decode_steps > 0 ? tm.decode_s / tm.decode_steps : 0;
        kept_sum = 0, n_decoded = 0;
        for (int i = 0; i < nv; i++) /* a variant decoded with its twin reads nothing of its own */
            if (batched[i].decoded_with < 0) kept_sum += batched[i].kept_mean, n_decoded++;
        t0 = kv_now();
        for (int i = 0; i < nv && compare; i++) {
            if (engine_generate(e, ids, L, &vars[i], 1, &gp, &one, NULL) != KV_OK) goto fail;
            int n = one.n_ids > batched[i].n_ids ? one.n_ids : batched[i].n_ids, d = 0;
            for (int t = 0; t < n; t++)
                d += t >= one.n_ids || t >= batched[i].n_ids || one.ids[t] != batched[i].ids[t];
            var_diff += d > 0, tok_diff += d, tok_all += n;
            gen_result_free(&one);
        }
        ts[r] = kv_now() - t0;
        for (int i = 0; i < nv; i++) gen_result_free(&batched[i]);
    }
    double b = kv_median(tb, runs), s = kv_median(ts, runs);
    if (tp_launch_rank() == 0) {
        char waits[96];
        printf("variants: %d (FullKV + 5 methods x budgets 128..2048), prompt %d tokens, %d generated each, "
               "backend %s (%s), %d runs (medians)\n", nv, L, gen, engine_backend_name(e), omp_waits(waits, sizeof waits),
               runs);
        if (compare) printf("one by one (prefill per variant): %.2f s\n", s);
        printf("shared prefill + batched decode:  %.2f s\n", b);
        printf("shared run (the last): prefill %.2f s, statistics + selection %.2f s, decode %.2f s (%d steps)\n",
               tm.prefill_s, tm.compress_s, tm.decode_s, tm.decode_steps);
        if (compare) printf("speed-up: %.1fx\n", s / b);
        print_transfers(&tm, engine_config(e)->n_layers);
        /* Identity is required only where it is exact: fp32 (batched and one-by-one differ in
         * summation order only). bf16 GEMMs of other batch shapes round differently, and a greedy
         * token that flips changes every later one: reported, not failed. */
        if (compare)
            printf("mismatches vs one-by-one: %d of %d variant runs, %d of %d tokens (%s)\n", var_diff, nv * runs,
                   tok_diff, tok_all, exact ? "fp32: identity required" : "not fp32: reported, not required");
    }
    print_batched_step(e, nv, n_decoded, kept_sum, gen, kv_median(tstep, runs));
    print_step_parts(e, "batched step", &tm, n_decoded, kept_sum + n_decoded * gen / 2.0, tp);
    free(tb);
    free(ts);
    free(tstep);
    if (exact && var_diff) {
        fprintf(stderr, "kvbench: error: batched decoding gave other tokens than one-by-one on fp32 (%d variant runs)\n",
                var_diff);
        return KV_ERR;
    }
    return KV_OK;
fail:
    fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
    return KV_ERR;
}

int cmd_bench(int argc, char **argv)
{
    cli_engine_args ea = {0};
    int L = 512, gen = 32, runs = 3, recall = 0;
    const char *prompt_file = NULL, *variants_arg = NULL;
    const cli_opt opts[] = {
        {"--prompt-tokens", "N", OPT_INT, &L, 1, "prompt length (default 512)"},
        {"--prompt-file", "F", OPT_STR, &prompt_file, 0, "take the prompt tokens from this text (repeated to length)"},
        {"--gen", "N", OPT_INT, &gen, 1, "generated tokens per run (default 32)"},
        {"--runs", "R", OPT_INT, &runs, 1, "repetitions; medians are reported (default 3)"},
        {"--variants", "all|batched", OPT_STR, &variants_arg, 0,
         "all: shared prefill + batched decode of 26 variants (FullKV + 5 methods x\n"
         "budgets 128..2048) vs the 26 run one by one; on the CPU also the batched\n"
         "step vs the bytes it must read at the measured read bandwidth.\n"
         "batched: the shared run and its step alone (no one-by-one runs)"},
        {"--attention-recall", NULL, OPT_FLAG, &recall, 0,
         "the cost of attention recall: 9 variants generated with and without it,\ninterleaved (medians)"},
        {"--shard", "T", OPT_INT, &ea.shard, 1,
         "one rank's shard of a T-way tensor-parallel split, alone on this\n"
         "device without the collectives (e.g. --random llama3-70b --shard 8:\n"
         "what each GPU of a TP-8 group computes; FullKV only)"},
        {0},
    };
    cli_opt eng_opts[CLI_ENGINE_N_OPTS + 1];
    cli_engine_options(&ea, eng_opts);
    const cli_spec spec = {
        .name = "bench",
        .usage = "kvbench bench (--model PATH | --random SHAPE) [options]",
        .about = "Engine throughput: prefill tok/s, decode tok/s and ms/step next to the machine's roofline.",
        .opts = opts, .more = eng_opts, .knobs = &ea,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (variants_arg && strcmp(variants_arg, "all") && strcmp(variants_arg, "batched")) {
        fprintf(stderr, "kvbench: error: --variants expects 'all' or 'batched', got '%s'\n", variants_arg);
        return 2;
    }
    int variants = variants_arg != NULL;
    if (ea.shard > 1 && variants) {
        fprintf(stderr, "kvbench: error: --shard runs FullKV only (compression needs every head); drop --variants\n");
        return 2;
    }
    variant v; /* --method/--budget and knobs for the single-variant bench (default FullKV) */
    if (cli_engine_variant(&ea, &v) != KV_OK) return 2;
    engine *e;
    if (cli_engine_open(&ea, &e) != KV_OK) return 1;
    int *ids = bench_prompt(e, prompt_file, L);
    const int tp = ea.shard > 1 ? ea.shard : ea.tp > 0 ? ea.tp : 1;
    int rc = !ids || (recall    ? bench_recall(e, ids, L, gen, runs) != KV_OK
                      : variants ? bench_variants(e, ids, L, gen, runs, strcmp(variants_arg, "batched") != 0, tp)
                                 : bench_single(e, &v, ids, L, gen, runs, tp, ea.shard > 1));
    free(ids);
    cli_engine_close(e);
    return rc ? 1 : 0;
}
