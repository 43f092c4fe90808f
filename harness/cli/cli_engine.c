/* cli_engine: parsing of the engine and method flags shared by generate and bench. */
#include "harness/cli/cli_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/sweep/tp_launch.h"

void cli_engine_options(cli_engine_args *a, cli_opt *out)
{
    const cli_opt o[CLI_ENGINE_N_OPTS + 1] = {
        {"--model", "PATH", OPT_STR, &a->model, 0, "HF model folder or .gguf file"},
        {"--random", "SHAPE", OPT_STR, &a->random_shape, 0,
         "random weights of a real shape: smollm2-135m, llama3-8b, llama3-70b"},
        {"--backend", "NAME", OPT_STR, &a->backend, 0, "cpu, cuda or auto (default auto: cuda when built with it and a GPU exists)"},
        {"--threads", "N", OPT_INT, &a->threads, 0, "CPU threads (default: all cores)"},
        {"--weights", "FORMAT", OPT_STR, &a->weights, 0,
         "as-stored (default: the file's f32/f16/bf16/q8_0/q4_0/q4_1), or converted at load: f32 (the fp32 "
         "oracle), bf16, q8_0"},
        {"--activations", "A", OPT_STR, &a->activations, 0,
         "decode's activations on the CPU with Q8_0/Q4_0/Q4_1 weights: f32 (default, the oracle's numerics) or\n"
         "q8 (8 bits per 32-value block and integer dot products, as llama.cpp: faster, not bit-compatible)"},
        {"--dtype", "T", OPT_STR, &a->dtype, 0, "GPU compute dtype fp16, bf16 or fp32 (default fp16; the CPU computes in fp32)"},
        {"--tensor-parallel", "T", OPT_INT, &a->tp, 0, "split heads over T ranks (run under mpirun -np T)"},
        {"--method", "NAME", OPT_STR, &a->method, 0,
         "fullkv (default), snapkv, pyramidkv, h2o, streamingllm, circuitkv,\n"
         "random, knorm, tova, keydiff, expected_attention, adakv"},
        {"--budget", "C", OPT_BUDGET, &a->budget, 1,
         "kept prompt tokens per layer and head (window included), or a fraction in (0,1) such as 0.25:\n"
         "that share of each prompt"},
        {"--preset", "NAME", OPT_STR, &a->preset, 0, "reference-head (default) or reference-2026-01: the method defaults"},
        {0},
    };
    memcpy(out, o, sizeof o);
}

const cli_opt cli_engine_knob_help[] = {
    {"--KNOB", "VALUE", OPT_STR, NULL, 0, "any knob of the method, e.g. --window 32 --kernel 7 --pooling avg --mode causal"},
    {0},
};

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
        fprintf(stderr, "kvbench: error: unknown preset '%s' (expected %s)\n", a->preset, preset_choices());
        return KV_ERR;
    }
    if (m->compresses && a->budget <= 0) {
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
    if (a->weights && model_wformat_parse(a->weights, &o.weights) != KV_OK) {
        fprintf(stderr, "kvbench: error: --weights: %s\n", kv_lasterr());
        return KV_ERR;
    }
    if (a->activations && engine_activations_parse(a->activations, &o.activations) != KV_OK) {
        fprintf(stderr, "kvbench: error: --activations: %s\n", kv_lasterr());
        return KV_ERR;
    }
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
