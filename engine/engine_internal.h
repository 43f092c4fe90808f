/* engine_internal: the engine's run state, shared by engine.c (open/close), forward.c (prefill and
 * batched decode steps) and generate.c (variants, greedy loop). Not part of the public API. */
#ifndef KV_ENGINE_INTERNAL_H
#define KV_ENGINE_INTERNAL_H

#include "engine/backend.h"
#include "engine/compress.h"
#include "engine/engine.h"
#include "engine/comm.h"

/* Weights as the backend stores them (CPU: pointers into the model arena). Shapes are the local
 * (tensor-parallel) ones: H = n_heads/tp query heads, Hkv = n_kv_heads/tp, F = hidden_dim/tp. */
typedef struct {
    void *emb;        /* (vocab, dim) */
    void *lm_head;    /* (vocab, dim) */
    void **wq;        /* per layer (H*hd, dim) */
    void **wk, **wv;  /* per layer (Hkv*hd, dim) */
    void **wo;        /* per layer (dim, H*hd) */
    void **w_gate, **w_up; /* per layer (F, dim) */
    void **w_down;    /* per layer (dim, F) */
    float *attn_norm; /* (n_layers, dim) backend memory */
    float *ffn_norm;  /* (n_layers, dim) */
    float *out_norm;  /* (dim) */
    float *inv_freq;  /* (hd/2) */
} engine_weights;

/* The prompt's full post-RoPE K/V for every layer: what every variant's view indexes. */
typedef struct {
    int L;
    float *k, *v;     /* (n_layers, L, Hkv*hd) backend memory */
} prefix_store;

struct engine {
    model m;
    tokenizer *tok;
    backend be;
    engine_weights w;
    int H, Hkv, hd, dim, F, vocab, n_layers; /* local shapes */
    comm *tp;         /* tensor-parallel group (&tp_comm), NULL without TP */
    comm tp_comm;     /* opened by engine_open after the backend, closed by engine_close */
    int tp_size, tp_rank;
    char backend_name[16];
    char activations[16]; /* decode's activations: "f32", "q8 (vnni)", "q8 (avx2)" or "q8 (c)" */
    double compress_s; /* last prefill: compression statistics, their transfers and the selection */
    int decode_graphs; /* record decode steps as CUDA graphs (backend has them, KVBENCH_CUDA_GRAPHS != 0) */
    long graph_captures, graph_replays; /* decode steps recorded and replayed since engine_open */
    int recall;        /* decode batches built now compute attention recall (engine/recall.c) */
};

/* Prefill ids[0..L-1]: fills ps (allocated here; prefix_store_free), runs compression per layer
 * when cc != NULL, writes the last position's logits (vocab floats, host). */
int forward_prefill(engine *e, const int *ids, int L, prefix_store *ps, compress_ctx *cc, float *logits);
void prefix_store_free(engine *e, prefix_store *ps);

/* One sequence of a decode batch: its view of a prefix store and its tail of generated tokens.
 * forward_decode advances per layer by the strides given. The new K/V of each step is written to
 * k_tail/v_tail + layer*tail_cap*Hkv*hd + n_tail*Hkv*hd. */
typedef struct {
    const float *k_prefix, *v_prefix; /* layer 0 of the sequence's prefix store */
    long prefix_layer_stride;        /* floats between layers of the prefix store (L*Hkv*hd) */
    const int *pos, *len;            /* view on the backend: (n_layers, H, cap) and (n_layers, H) */
    int cap;
    float *k_tail, *v_tail;          /* (n_layers, tail_cap, Hkv*hd) backend memory */
    int tail_cap;
    int n_tail;                      /* generated tokens already stored (forward_decode only) */
    int position;                    /* absolute position of the token being fed (forward_decode only) */
} decode_state;

/* A decode batch: the step's buffers, allocated once for a fixed set of sequences, and the step
 * itself recorded as a CUDA graph on backends that have graphs. What changes from step to step —
 * tokens, positions, tail lengths — lives in backend buffers refreshed before each launch, so the
 * step is captured once and replayed until the set of sequences changes (a finished sequence leaves
 * the batch: a new batch, a new capture). */
typedef struct decode_batch decode_batch;

decode_batch *decode_batch_new(engine *e, const decode_state *seqs, int B);
/* One step: tokens[b] at positions[b], n_tail[b] generated tokens already stored for sequence b.
 * logits: (B, vocab) host, or NULL; next: (B) host, the greedy token of each row (the backend's
 * argmax, so only B ints come to the host), or NULL. Status. */
int decode_batch_step(engine *e, decode_batch *db, const int *tokens, const int *positions, const int *n_tail,
                      float *logits, int *next);
void decode_batch_free(engine *e, decode_batch *db);
/* The last step's attention recall (n_layers, B, H) into host memory; only for a batch built while
 * e->recall was set. */
void decode_batch_recall(engine *e, decode_batch *db, float *host);

/* Attention recall during generation (engine/recall.c). The descriptors of a batch's recall op, one
 * per (layer, sequence) from its decode descriptors ds (n_layers, B) and its states; the caller frees. */
recall_seq *recall_seqs_new(const engine *e, const decode_seq *ds, const decode_state *seqs, int B);
/* Per-sequence sums over decode steps, for ns sequences of at most max_steps steps. */
typedef struct recall_acc recall_acc;
recall_acc *recall_acc_new(const engine *e, int ns, int max_steps);
/* Adds the step just run by db: batch row a is sequence alive[a]. */
void recall_acc_step(engine *e, decode_batch *db, recall_acc *ra, const int *alive, int n_alive);
/* Means into out[s].recall, recall_layer, recall_step; frees ra. */
void recall_acc_finish(recall_acc *ra, gen_result *out);

/* A single step with a batch of its own (tests): seqs[b].n_tail and .position give the step. */
int forward_decode(engine *e, decode_state *seqs, const int *tokens, int B, float *logits);

#endif
