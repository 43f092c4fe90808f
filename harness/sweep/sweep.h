/* sweep: the YAML sweep file of DESIGN §6 (libyaml) and its expansion into variants. A sweep names
 * a preset, the data folder, tasks, sample selection, budgets, methods with knob overrides, models
 * and engine options. Every error names file:line:column and what was expected. String values
 * may use ${VAR} or ${VAR:-default} so that model and data paths come from the user's environment. */
#ifndef KV_SWEEP_H
#define KV_SWEEP_H

#include <stdint.h>

#include "engine/method.h"
#include "util/hash.h"

#define SWEEP_MAX_KNOBS METHOD_MAX_KNOBS
#define SWEEP_MAX_STOP_IDS 8

typedef struct {
    char *key[SWEEP_MAX_KNOBS];   /* knob overrides as written in the sweep */
    char *value[SWEEP_MAX_KNOBS];
    int n_knobs;
    char *name;                   /* method name as written */
    const method_desc *desc;      /* resolved by sweep_load */
    char where[512];              /* file:line:column of the entry, for later errors */
} sweep_method;

typedef struct {
    char *name;              /* short id used in paths and tables ("Llama-3-8B-Instruct") */
    char *path;              /* HF folder or .gguf file */
    char *family;            /* "llama3", "llama3.1", "llama3.3", "smollm2", "other" */
    char *chat;              /* "none", "llama3", "chatml", "native" or NULL = preset's rule */
    char *dtype;             /* "fp32", "bf16", "fp16" (engine precision; recorded) */
    int weights;             /* model_wformat: as stored (default) or converted at load (CPU backend) */
    int max_prompt_tokens;   /* 0 = the family's reference value */
    int tensor_parallel;     /* ranks per copy of the model (1 = no TP) */
    int stop_ids[SWEEP_MAX_STOP_IDS];
    int n_stop_ids;          /* extra stop ids after the tokenizer's eos id (0: eos only) */
    /* Filled by sweep_check_models (config only, no weights). */
    int n_layers, n_heads, n_kv_heads, dim, hidden_dim, vocab_size, head_dim;
    char where[512];
} sweep_model;

/* Sample selection: half-open ranges [lo, hi); hi < 0 means "to the end of the file". */
typedef struct {
    int lo, hi;
} sweep_range;

typedef struct {
    char *backend;           /* "cpu", "cuda", "auto" */
    int threads;             /* 0 = OpenMP default */
    int activations;         /* ENGINE_ACTS_F32 (default) or ENGINE_ACTS_Q8: decode's activations (CPU backend) */
    int max_new_tokens;      /* 0 = the task's value; > 0 caps it (demo and tests only) */
    int samples_per_item;    /* samples per work item (one prefill each, decoded together) */
    int fake;                /* TEST SEAM: deterministic fake predictions, no model (never real numbers) */
    double fake_ms_per_ktok; /* fake executor: simulated milliseconds per 1000 prompt tokens */
    int drop_on_signal;      /* 1: drop the item in flight on SIGTERM/SIGUSR1; 0: finish it */
    int attention_recall;    /* measure attention recall while decoding (item /analysis, issue 18) */
    int store_kept;          /* store every variant's kept sets (item /kept) and per-step recall */
} sweep_engine;

/* The needle-in-a-haystack grid (`needle:`; harness/longbench/needle.h): task "needle", one sample
 * per (length, depth), sample index lb_needle_sample_index(length, depth). */
#define SWEEP_MAX_DEPTHS 101
typedef struct {
    int on;                  /* the sweep has a needle section */
    char *haystack;          /* text file or LongBench .jsonl (default: <data>/multi_news.jsonl) */
    char *needle, *question;
    int *lengths;            /* context lengths in tokens of the model's tokenizer, ascending */
    int n_lengths;
    int depths[SWEEP_MAX_DEPTHS]; /* percents, round(linspace(0, 100, n_depths)) */
    int n_depths;
    int buffer;              /* tokens kept free for template, question and answer (200) */
} sweep_needle;

typedef struct {
    char *file;              /* path of the YAML file */
    char *name;
    char *output;            /* default output folder (--output overrides) */
    kv_preset preset;
    char *data_dir;
    char **tasks;            /* task names in table order */
    int n_tasks;
    sweep_range *samples;
    int n_samples;
    int *budgets;
    int n_budgets;
    sweep_method *methods;
    int n_methods;
    sweep_model *models;
    int n_models;
    sweep_engine engine;
    sweep_needle needle;
    uint64_t hash;           /* FNV-1a of the file bytes */
} sweep;

/* One (method-with-knobs, budget): FullKV appears once with budget 0. */
typedef struct {
    variant v;
    char key[512];           /* variant_describe: every knob; the identity used by resume and the reducer */
    char label[128];         /* table row label: the display name, plus knobs when a method repeats */
    int method_index;        /* into sweep.methods */
    int budget;              /* 0 for FullKV */
} sweep_variant;

/* Parse and validate (YAML shape, types, known tasks and methods, knob values, budgets against
 * each method's check, data files present). Models are checked by sweep_check_models. */
int sweep_load(const char *path, sweep *s);
void sweep_free(sweep *s);

/* Read every model's config (no weights): file present, tensor_parallel divides the heads, and
 * every variant passes its method's check against that model. */
int sweep_check_models(sweep *s);

/* The variants of the sweep in table order (method order of the registry, then budget); the caller
 * frees *out. Fails if a knob value or budget is impossible. */
int sweep_variants(const sweep *s, sweep_variant **out, int *n);

/* Path of a task's JSONL file under data_dir (the haystack file for the needle task). */
void sweep_task_path(const sweep *s, const char *task, char *buf, int n);

/* The model's prompt cap: max_prompt_tokens when the sweep sets it, else the reference value of its
 * family (lb_max_prompt_tokens); 0 = no limit. The one definition of the default (the executors,
 * the planner's cost estimate and `plan` all ask here). */
int sweep_model_max_prompt_tokens(const sweep_model *m);

/* Whether sample index i (0-based, file order) is selected. */
int sweep_sample_selected(const sweep *s, int i);

/* Whether a task name is the needle task. */
int sweep_task_is_needle(const char *task);


#endif
