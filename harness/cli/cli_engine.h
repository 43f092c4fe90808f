/* cli_engine: the engine options shared by every command that runs the model (--model, --random,
 * --backend, --threads, --tensor-parallel) and the method/budget/knob flags that build a variant. */
#ifndef KV_CLI_ENGINE_H
#define KV_CLI_ENGINE_H

#include "engine/engine.h"
#include "harness/cli/options.h"

typedef struct cli_engine_args {
    const char *model;
    const char *random_shape;
    const char *backend;
    const char *dtype;  /* --dtype: the GPU compute dtype (engine_opts.dtype) */
    int threads;
    const char *weights; /* --weights as-stored|f32|bf16|q8_0 (engine_opts.weights) */
    const char *activations; /* --activations f32|q8 (engine_opts.activations) */
    int tp;
    int shard;          /* bench --shard T: shard 0 of a T-way split alone (engine_opts.tp_shard_only) */
    const char *method;
    int budget;
    const char *preset;
    /* knob flags seen on the command line, applied once the method is known */
    const char *knob_name[METHOD_MAX_KNOBS];
    const char *knob_value[METHOD_MAX_KNOBS];
    int n_knobs;
} cli_engine_args;

/* The engine and method options of generate and bench, as an option table (options.h) writing
 * into a; `out` has room for CLI_ENGINE_N_OPTS entries plus the terminator. */
enum { CLI_ENGINE_N_OPTS = 11 };
void cli_engine_options(cli_engine_args *a, cli_opt *out);
/* The --help line of the method knobs (--KNOB VALUE), shown by commands that take knobs. */
extern const cli_opt cli_engine_knob_help[];
/* Build the variant named by --method/--budget/--preset/knobs (FullKV when no --method). */
int cli_engine_variant(const cli_engine_args *a, variant *v);
/* Open the engine (with MPI tensor parallelism when --tensor-parallel > 1). Prints the error. */
int cli_engine_open(const cli_engine_args *a, engine **e);
void cli_engine_close(engine *e);

#endif
