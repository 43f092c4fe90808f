/* model: the three plain structs of a Llama-architecture model (config, weights, and the loader's
 * bookkeeping) and the loaders from an HF safetensors folder or a GGUF file. The weight matrices are
 * held in host memory in the Hugging Face layout (GGUF q/k rows are un-permuted at load), so RoPE is
 * always the rotate-half form of transformers, and in the format asked at load: as stored in the
 * file (F32, F16, BF16, Q8_0, Q4_0, Q4_1; kernels/qtype.h) or converted to f32, bf16 or q8_0.
 * Norms are always fp32. */
#ifndef KV_MODEL_H
#define KV_MODEL_H

#include <stddef.h>

#include "kernels/qtype.h"

#define MODEL_MAX_STOP_IDS 8

typedef struct {
    int dim;              /* hidden size */
    int hidden_dim;       /* MLP intermediate size */
    int n_layers;
    int n_heads;          /* query heads */
    int n_kv_heads;
    int head_dim;         /* dim / n_heads unless the config says otherwise */
    int vocab_size;
    int max_seq_len;      /* max_position_embeddings */
    double rope_theta;
    double norm_eps;      /* rms_norm_eps */
    int rope_llama3;      /* rope_scaling.rope_type == "llama3" */
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_pos;
    int tied_embeddings;
    int bos_id, eos_id;   /* from config / GGUF; -1 if unknown (eos_id: the first of a list) */
    int eos_ids[MODEL_MAX_STOP_IDS]; /* every eos_token_id of config.json (a list there), else eos_id */
    int n_eos_ids;
    char name[128];       /* general.name or the folder name */
    char arch[32];        /* "llama" */
} model_config;

/* With tensor parallelism (model.shard.tp > 1) n_heads, n_kv_heads and hidden_dim in the shapes below
 * are this rank's local counts (model.n_heads_local, ...); dim, vocab_size and the norms are full.
 * Each matrix has its own storage format (qmatrix.type): a GGUF file may mix them. */
typedef struct {
    qmatrix tok_embeddings; /* (vocab_size, dim) */
    float *attn_norm;       /* (n_layers, dim) */
    qmatrix *wq;            /* n_layers matrices (n_heads*head_dim, dim) */
    qmatrix *wk;            /* n_layers x (n_kv_heads*head_dim, dim) */
    qmatrix *wv;            /* n_layers x (n_kv_heads*head_dim, dim) */
    qmatrix *wo;            /* n_layers x (dim, n_heads*head_dim) */
    float *ffn_norm;        /* (n_layers, dim) */
    qmatrix *w_gate;        /* n_layers x (hidden_dim, dim) */
    qmatrix *w_up;          /* n_layers x (hidden_dim, dim) */
    qmatrix *w_down;        /* n_layers x (dim, hidden_dim) */
    float *out_norm;        /* (dim) */
    qmatrix lm_head;        /* (vocab_size, dim); the same bytes as tok_embeddings when tied */
    int format;             /* model_wformat asked at load */
    unsigned char *arena;   /* the one allocation every matrix and norm is carved from */
    size_t arena_bytes;
    qmatrix *layer_mats;    /* the 7 * n_layers headers wq..w_down point into */
} model_weights;

/* How the weight matrices are held: as stored in the file (default; random weights: f32), or
 * converted at load to fp32 (the oracle: bit-identical to the engine before compact weights),
 * bf16 (round to nearest even) or q8_0 (ggml's quantizer; matrices whose rows are not a multiple
 * of 32 stay bf16). */
typedef enum { MODEL_WEIGHTS_AS_STORED, MODEL_WEIGHTS_F32, MODEL_WEIGHTS_BF16, MODEL_WEIGHTS_Q8_0 } model_wformat;
/* "as-stored", "f32", "bf16", "q8_0" -> model_wformat; status (the message lists the choices). */
int model_wformat_parse(const char *s, int *out);
const char *model_wformat_name(int f);

/* Tensor-parallel shard request: rank `tp_rank` of `tp` loads only its slices (see DESIGN §7 /
 * issue 7). tp = 1 loads everything. */
typedef struct {
    int tp, tp_rank;
} model_shard;

typedef struct {
    model_config cfg;
    model_weights w;
    model_shard shard;
    /* this rank's slice: query heads [head0, head0+n_heads_local), KV heads
     * [kv_head0, kv_head0+n_kv_heads_local), MLP features [hidden0, hidden0+hidden_dim_local);
     * equal to the full counts (and 0) when tp = 1 */
    int n_heads_local, n_kv_heads_local, hidden_dim_local;
    int head0, kv_head0, hidden0;
    char path[1024];
    char hash[65];        /* hex SHA-256 of the header/metadata bytes, for provenance */
} model;

/* Config only (cheap; no weights): from config.json in an HF folder or GGUF metadata. */
int model_config_load(const char *path, model_config *cfg);
/* Config and weights. path: HF folder (model.safetensors or sharded index) or .gguf file.
 * model_load holds fp32 weights (MODEL_WEIGHTS_F32); model_load_as takes the format. */
int model_load(const char *path, const model_shard *shard, model *m);
int model_load_as(const char *path, const model_shard *shard, int wformat, model *m);
void model_free(model *m);
/* Random weights of a named shape ("smollm2-135m", "llama3-8b", "llama3-70b"), N(0, 0.02). */
int model_init_random(const char *shape, unsigned seed, const model_shard *shard, model *m);
/* The same in a format (as-stored and f32: fp32; bf16 and q8_0 built row block by row block, never
 * the whole fp32 model). */
int model_init_random_as(const char *shape, unsigned seed, const model_shard *shard, int wformat, model *m);
/* Bytes of the weight matrices as held (norms included), and the largest single matrix in fp32. */
size_t model_weight_bytes(const model *m);
size_t model_largest_matrix_f32_bytes(const model *m);

#endif
