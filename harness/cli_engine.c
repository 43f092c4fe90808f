/* cli_engine: parsing of the engine and method flags shared by generate and bench. */
#include "harness/cli_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "harness/tp_launch.h"

const char cli_engine_help[] =
    "  --model PATH           HF model folder or .gguf file\n"
    "  --backend NAME         cpu, cuda or auto (default auto: cuda when built with it and a GPU exists)\n"
    "  --threads N            CPU threads (default: all cores)\n"
    "  --dtype T              GPU compute dtype fp16, bf16 or fp32 (default bf16; the CPU computes in fp32)\n"
    "  --tensor-parallel T    split heads over T ranks (run under mpirun -np T)\n"
    "  --method NAME          fullkv (default), snapkv, pyramidkv, h2o, streamingllm, circuitkv,\n"
    "                         random, knorm, tova, keydiff, expected_attention, adakv\n"
    "  --budget C             kept prompt tokens per layer and head (window included), or a\n"
    "                         fraction in (0,1) such as 0.25: that share of each prompt\n"
    "  --preset NAME          reference-head (default) or reference-2026-01: the method defaults\n"
    "  --KNOB VALUE           any knob of the method, e.g. --window 32 --kernel 7 --pooling avg --mode causal\n";

static int parse_int(const char *flag, const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1 << 30) {
        fprintf(stderr, "kvbench: error: %s expects a non-negative integer, got '%s'\n", flag, s);
        return -1;
    }
    *out = (int)v;
    return 1;
}

int cli_engine_flag(cli_engine_args *a, int argc, char **argv, int *i)
{
    const char *f = argv[*i];
    if (strncmp(f, "--", 2) || !strcmp(f, "--help")) return 0;
    if (*i + 1 >= argc) return 0;
    const char *val = argv[*i + 1];
    int r = 1;
    if (!strcmp(f, "--model")) a->model = val;
    else if (!strcmp(f, "--random")) a->random_shape = val;
    else if (!strcmp(f, "--backend")) a->backend = val;
    else if (!strcmp(f, "--threads")) r = parse_int(f, val, &a->threads);
    else if (!strcmp(f, "--dtype")) a->dtype = val;
    else if (!strcmp(f, "--tensor-parallel")) r = parse_int(f, val, &a->tp);
    else if (!strcmp(f, "--method")) a->method = val;
    else if (!strcmp(f, "--budget")) {
        r = budget_parse(val, &a->budget) == KV_OK ? 1 : -1; /* tokens, or a fraction of the prompt */
        if (r < 0) fprintf(stderr, "kvbench: error: --budget: %s\n", kv_lasterr());
    }
    else if (!strcmp(f, "--preset")) a->preset = val;
    else return 0;
    if (r == 1) *i += 1;
    return r;
}

int cli_engine_variant(const cli_engine_args *a, variant *v)
{
    const method_desc *m = method_find(a->method ? a->method : "fullkv");
    if (!m) {
        fprintf(stderr, "kvbench: error: unknown method '%s' (expected one of:", a->method);
        for (int i = 0; method_registry[i]; i++) fprintf(stderr, " %s", method_registry[i]->name);
        fprintf(stderr, ")\n");
        return KV_ERR;
    }
    kv_preset preset = PRESET_REFERENCE_HEAD;
    if (a->preset && preset_parse(a->preset, &preset) != KV_OK) {
        fprintf(stderr, "kvbench: error: unknown preset '%s' (expected reference-head or reference-2026-01)\n",
                a->preset);
        return KV_ERR;
    }
    if (strcmp(m->name, "fullkv") && a->budget <= 0) {
        fprintf(stderr, "kvbench: error: --method %s needs --budget C (kept prompt tokens per layer and head)\n",
                m->name);
        return KV_ERR;
    }
    variant_init(v, m, a->budget, preset);
    for (int k = 0; k < a->n_knobs; k++) {
        if (variant_set_knob(v, a->knob_name[k], a->knob_value[k]) != KV_OK) {
            fprintf(stderr, "kvbench: error: --%s: %s\n", a->knob_name[k], kv_lasterr());
            return KV_ERR;
        }
    }
    return KV_OK;
}

int cli_engine_open(const cli_engine_args *a, engine **e)
{
    if (!a->model && !a->random_shape) {
        fprintf(stderr, "kvbench: error: --model PATH is required (an HF model folder or a .gguf file)\n");
        return KV_ERR;
    }
    engine_opts o = {.backend = a->backend, .threads = a->threads, .dtype = a->dtype, .tp = a->tp > 0 ? a->tp : 1,
                     .random_shape = a->random_shape};
    if (a->shard > 1) {
        if (o.tp > 1) {
            fprintf(stderr, "kvbench: error: --shard and --tensor-parallel exclude each other (--shard runs one "
                            "shard alone, --tensor-parallel the whole group)\n");
            return KV_ERR;
        }
        o.tp = a->shard, o.tp_shard_only = 1;
    }
    if (!o.tp_shard_only && o.tp > 1 && tp_launch_join(o.tp, &o.tp_rank, &o.tp_mpi_comm) != KV_OK) {
        fprintf(stderr, "kvbench: error: --tensor-parallel %d: %s\n", o.tp, kv_lasterr());
        return KV_ERR;
    }
    if (engine_open(a->model, &o, e) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        if (o.tp > 1 && !o.tp_shard_only) tp_launch_abort(1);
        return KV_ERR;
    }
    return KV_OK;
}

void cli_engine_close(engine *e)
{
    engine_close(e);
    tp_launch_finish();
}
