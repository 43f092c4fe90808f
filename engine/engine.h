/* engine: a loaded model with its tokenizer on one backend, and generation of many KV-cache
 * variants of one prompt from a single shared prefill (DESIGN §3): prefill once keeping the full
 * post-RoPE K/V, derive each variant's view per layer, then decode all variants as one batch. */
#ifndef KV_ENGINE_H
#define KV_ENGINE_H

#include "engine/kvview.h"
#include "engine/method.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

typedef struct engine engine;

enum { ENGINE_ACTS_F32, ENGINE_ACTS_Q8 }; /* engine_opts.activations */
/* "f32"/"q8" -> ENGINE_ACTS_*; KV_ERR with kv_lasterr naming the choices otherwise. */
int engine_activations_parse(const char *name, int *out);

typedef struct {
    const char *backend;   /* "cpu", "cuda" or "auto" (NULL = auto: cuda when compiled in and a device exists) */
    int threads;           /* 0 = OpenMP default */
    const char *dtype;     /* GPU compute dtype "fp16", "bf16", "fp32" (NULL: the backend's default) */
    int tp, tp_rank;       /* tensor parallel group size and rank (1, 0 without TP) */
    /* MPI_Comm * of the TP group (consecutive ranks of one node), NULL when tp == 1. The engine
     * opens its communicator on it after the backend (NCCL on CUDA, MPI on the CPU) and closes it
     * in engine_close; the caller keeps the MPI communicator alive until then. engine_open is
     * collective over the group. */
    const void *tp_mpi_comm;
    const char *random_shape; /* non-NULL: random weights of this shape instead of model_path */
    /* How the weight matrices are held (model_wformat): MODEL_WEIGHTS_AS_STORED (0, the default:
     * the file's F32/F16/BF16/Q8_0/Q4_0/Q4_1, computed on directly by the CPU backend), or converted
     * at load to F32 (the fp32 oracle), BF16 or Q8_0. The CUDA backend uploads its own format from
     * any of them. */
    int weights;
    /* Activations of decode's linear layers (CPU backend, Q8_0/Q4_0/Q4_1 weights): ENGINE_ACTS_F32 (0,
     * the default: fp32, the oracle's numerics) or ENGINE_ACTS_Q8 (quantized to 8 bits per 32-value
     * block as llama.cpp does, integer dot products: faster, not bit-compatible with fp32). */
    int activations;
    /* 1: build shard tp_rank of a tp-way split alone, with no group and no collectives — one GPU's
     * part of a TP group, for benchmarking the shard shapes on one device (kvbench bench --shard).
     * Its outputs are not the model's; only FullKV runs (compression needs every head). */
    int tp_shard_only;
} engine_opts;

/* Load config, weights and tokenizer. Status; kv_lasterr() says what failed. */
int engine_open(const char *model_path, const engine_opts *opts, engine **out);
void engine_close(engine *e);
const model_config *engine_config(const engine *e);
const tokenizer *engine_tokenizer(const engine *e);   /* NULL for random weights */
const char *engine_backend_name(const engine *e);
const char *engine_device(const engine *e);     /* human-readable device, for provenance and rooflines */
const char *engine_dtype(const engine *e);      /* the compute dtype the backend really uses (CPU: fp32) */
int engine_fp32(const engine *e);               /* the backend's fp32 flag (engine/backend.h) */
int engine_host_memory(const engine *e);        /* the backend's host_memory flag (0: a device, simulated or not) */
/* Decode steps recorded as CUDA graphs and replayed since engine_open (both 0 without graphs). */
void engine_graph_counts(const engine *e, long *captures, long *replays);
const char *engine_model_hash(const engine *e);
/* Memory the engine holds for weights: the host copy in its format (weight_bytes) and the
 * backend's peak fp32 scratch for dequantized matrices (prefill sgemm on compact weights). Also
 * the bytes one decode step of one token reads from the weight matrices (embedding row excluded). */
typedef struct {
    size_t weight_bytes, scratch_peak_bytes, step_read_bytes, largest_matrix_f32_bytes;
    char formats[64];      /* the matrices' formats, e.g. "q4_1+q8_0" */
    char activations[16];  /* decode's activations: "f32", or "q8 (vnni)", "q8 (avx2)" / "q8 (c)" */
} engine_memory;
void engine_memory_info(const engine *e, engine_memory *out);

typedef struct {
    int max_new_tokens;
    const int *stop_ids;   /* generation stops after emitting one of these (not included in ids) */
    int n_stop_ids;
    int mask_first;        /* mask stop ids at the first step (at least one token) */
    /* Attention recall (kernels/recall.h) of every decode step of every variant, through the
     * backend's attention_recall op: fills gen_result.recall*. Single-group runs only (tp == 1). */
    int attention_recall;
    int keep_views;        /* hand each variant's kept positions back in gen_result.view */
} gen_params;

typedef struct {
    int *ids;              /* generated ids, stop id excluded (malloc'd; gen_result_free) */
    int n_ids;
    int stopped;           /* 1 if a stop id ended it, 0 if max_new_tokens did */
    double kept_mean;      /* mean kept prompt tokens per layer and query head */
    int kept_min, kept_max;
    int kept_expected;     /* the method's promised kept length for layer 0 (expected_kept), -1: none */
    kv_view view;          /* with gen_params.keep_views: the variant's view (else len == NULL) */
    int decoded_with;      /* the earlier variant of the same prompt whose identical view was decoded for this
                            * one (its tokens copied: the same computation), or -1 when decoded itself */
    /* With gen_params.attention_recall (else recall is NAN and the arrays NULL): the mean recall over
     * decode steps, layers and query heads; per layer (n_layers, mean over steps and heads); per
     * decode step (n_recall_steps, mean over layers and heads). NAN when no decode step ran. */
    double recall;
    double *recall_layer;
    float *recall_step;
    int n_recall_steps;
} gen_result;

typedef struct {
    double prefill_s, compress_s, decode_s;
    int prompt_tokens, decode_steps;
    /* of decode_s: the weight products and the decode attention (backend kernel_seconds; both 0 where
     * the backend cannot time its kernels) */
    double decode_weights_s, decode_attention_s;
    /* bytes copied device→host and host→device (backend_traffic): the prefill with the statistics
     * and selection of this prompt, and its equal share of the batched decode */
    unsigned long long prefill_to_host, prefill_to_device, decode_to_host, decode_to_device;
    /* bytes of statistics the prefill's selection all-gathered over the tensor-parallel group (this
     * rank; device to device, not host traffic): 0 when every variant selects per head */
    unsigned long long prefill_tp_gather;
} gen_timing;

/* Greedy generation of nv variants of one prompt (ids, BOS included by the caller). One prefill,
 * one view per variant, one batched decode; results equal running each variant alone. A violated
 * method invariant is KV_ERR. out[nv] is filled; timing may be NULL. */
int engine_generate(engine *e, const int *prompt, int L, const variant *vars, int nv,
                    const gen_params *gp, gen_result *out, gen_timing *timing);
/* The same for np prompts decoded together (several samples of a work item when memory allows: every
 * prompt's prefix store stays resident). out[p*nv + i] is prompt p, variant i; timing[p] per prompt
 * (the shared decode time is split equally). */
int engine_generate_batch(engine *e, const int *const *prompts, const int *lens, int np, const variant *vars,
                          int nv, const gen_params *gp, gen_result *out, gen_timing *timing);
void gen_result_free(gen_result *r);

/* Backend memory one prompt of L tokens and its nv variants hold during engine_generate_batch: the
 * prefix store (every layer's K and V of the prompt), each variant's K/V tail of max_new_tokens and
 * its packed view, in bytes. A caller sums it over prompts to size a batch. */
size_t engine_batch_bytes(const engine *e, int L, int nv, int max_new_tokens);
/* Backend memory a batch may take beyond the loaded weights: half the host's available memory for a
 * host-memory backend (MemAvailable; KVBENCH_CPU_MEM_BYTES when set); on a device (and the simulated
 * one) the free memory less the reserve (engine/memplan.h mem_plan_reserve); 0 when the backend
 * cannot say (one prompt at a time). */
size_t engine_batch_budget(const engine *e);
/* The peak backend bytes of one sample of L tokens with nv variants (engine/memplan.h: prefix
 * store, prefill activations, statistics and selection scratch, views and tails). */
size_t engine_sample_peak(const engine *e, int L, const variant *vars, int nv, int max_new_tokens, size_t *prefix,
                          size_t *stats, size_t *per_variant);

/* Last-position logits of a full prefill (vocab_size floats, caller-provided), for tests. */
int engine_prefill_logits(engine *e, const int *prompt, int L, float *logits);

#endif
