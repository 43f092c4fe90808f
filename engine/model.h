/* model: the three plain structs of a Llama-architecture model (config, weights, and the loader's
 * bookkeeping) and the loaders from an HF safetensors folder or a GGUF file. Weights are fp32 in
 * host memory in the Hugging Face layout (GGUF q/k rows are un-permuted at load), so RoPE is always
 * the rotate-half form of transformers. */
#ifndef KV_MODEL_H
#define KV_MODEL_H

#include <stddef.h>

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
 * are this rank's local counts (model.n_heads_local, ...); dim, vocab_size and the norms are full. */
typedef struct {
    float *tok_embeddings; /* (vocab_size, dim) */
    float *attn_norm;      /* (n_layers, dim) */
    float *wq;             /* (n_layers, n_heads*head_dim, dim) */
    float *wk;             /* (n_layers, n_kv_heads*head_dim, dim) */
    float *wv;             /* (n_layers, n_kv_heads*head_dim, dim) */
    float *wo;             /* (n_layers, dim, n_heads*head_dim) */
    float *ffn_norm;       /* (n_layers, dim) */
    float *w_gate;         /* (n_layers, hidden_dim, dim) */
    float *w_up;           /* (n_layers, hidden_dim, dim) */
    float *w_down;         /* (n_layers, dim, hidden_dim) */
    float *out_norm;       /* (dim) */
    float *lm_head;        /* (vocab_size, dim); == tok_embeddings when tied */
    float *arena;          /* the one allocation the pointers above are carved from */
    size_t arena_floats;
} model_weights;

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
/* Config and weights. path: HF folder (model.safetensors or sharded index) or .gguf file. */
int model_load(const char *path, const model_shard *shard, model *m);
void model_free(model *m);
/* Random weights of a named shape ("smollm2-135m", "llama3-8b", "llama3-70b"), N(0, 0.02). */
int model_init_random(const char *shape, unsigned seed, const model_shard *shard, model *m);

#endif
