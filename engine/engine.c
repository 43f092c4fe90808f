/* engine: opening a model on a backend — weights uploaded once in the backend's format, RoPE
 * frequencies, the tokenizer, the tensor-parallel group — and the accessors of engine.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "util/util.h"
#include "kernels/rope.h"

static float *upload_f32(backend *be, const float *src, long n)
{
    float *d = be->alloc(be->ctx, sizeof(float) * n);
    be->to_device(be->ctx, d, src, sizeof(float) * n);
    return d;
}

/* Upload per-layer matrices (one header per layer in the model). */
static void **upload_layers(backend *be, const qmatrix *mats, int n_layers)
{
    void **w = kv_malloc(sizeof(void *) * n_layers);
    for (int l = 0; l < n_layers; l++) w[l] = be->weight_upload(be->ctx, &mats[l]);
    return w;
}

static void free_layers(backend *be, void **w, int n_layers)
{
    if (!w) return;
    for (int l = 0; l < n_layers; l++) be->weight_free(be->ctx, w[l]);
    free(w);
}

static int engine_upload(engine *e)
{
    backend *be = &e->be;
    const model_config *cfg = &e->m.cfg;
    const model_weights *mw = &e->m.w;
    int T = e->tp_size;
    e->n_layers = cfg->n_layers;
    e->dim = cfg->dim;
    e->hd = cfg->head_dim;
    e->vocab = cfg->vocab_size;
    e->H = cfg->n_heads / T;
    e->Hkv = cfg->n_kv_heads / T;
    e->F = cfg->hidden_dim / T;
    const long dim = e->dim;
    engine_weights *w = &e->w;
    w->emb = be->weight_upload(be->ctx, &mw->tok_embeddings);
    w->lm_head = mw->lm_head.data == mw->tok_embeddings.data ? w->emb : be->weight_upload(be->ctx, &mw->lm_head);
    w->wq = upload_layers(be, mw->wq, e->n_layers);
    w->wk = upload_layers(be, mw->wk, e->n_layers);
    w->wv = upload_layers(be, mw->wv, e->n_layers);
    w->wo = upload_layers(be, mw->wo, e->n_layers);
    w->w_gate = upload_layers(be, mw->w_gate, e->n_layers);
    w->w_up = upload_layers(be, mw->w_up, e->n_layers);
    w->w_down = upload_layers(be, mw->w_down, e->n_layers);
    w->attn_norm = upload_f32(be, mw->attn_norm, (long)e->n_layers * dim);
    w->ffn_norm = upload_f32(be, mw->ffn_norm, (long)e->n_layers * dim);
    w->out_norm = upload_f32(be, mw->out_norm, dim);
    float *inv = kv_malloc(sizeof(float) * e->hd / 2);
    rope_inv_freq(inv, e->hd, cfg->rope_theta, cfg->rope_llama3, cfg->rope_factor, cfg->rope_low_freq_factor,
                  cfg->rope_high_freq_factor, cfg->rope_original_max_pos);
    w->inv_freq = upload_f32(be, inv, e->hd / 2);
    free(inv);
    return KV_OK;
}

int engine_open(const char *model_path, const engine_opts *opts, engine **out)
{
    engine_opts o = {0};
    if (opts) o = *opts;
    if (o.tp < 1) o.tp = 1;
    engine *e = kv_calloc(1, sizeof *e);
    e->tp_size = o.tp;
    e->tp_rank = o.tp_rank;
    if (o.tp > 1 && !o.tp_mpi_comm && !o.tp_shard_only) {
        kv_seterr("tensor parallel %d needs the MPI communicator of its group (engine_opts.tp_mpi_comm)", o.tp);
        free(e);
        return KV_ERR;
    }
    /* The backend first: asking for a GPU that is not there fails before gigabytes of weights load. */
    if (backend_open(o.backend, o.threads, o.dtype, &e->be) != KV_OK) {
        free(e);
        return KV_ERR;
    }
    snprintf(e->activations, sizeof e->activations, "f32");
    if (o.activations == ENGINE_ACTS_Q8) {
        if (!e->be.set_q8_activations) {
            kv_seterr("activations q8 are a CPU backend option (backend %s computes in %s)", e->be.name, e->be.dtype);
            backend_close(&e->be);
            free(e);
            return KV_ERR;
        }
        snprintf(e->activations, sizeof e->activations, "q8 (%s)", e->be.set_q8_activations(e->be.ctx, 1));
    }
    model_shard shard = {.tp = o.tp, .tp_rank = o.tp_rank};
    int st = o.random_shape ? model_init_random_as(o.random_shape, 1234, &shard, o.weights, &e->m)
                            : model_load_as(model_path, &shard, o.weights, &e->m);
    if (st != KV_OK) {
        backend_close(&e->be);
        free(e);
        return KV_ERR;
    }
    const model_config *cfg = &e->m.cfg;
    if (cfg->n_heads % o.tp || cfg->n_kv_heads % o.tp || cfg->hidden_dim % o.tp) {
        kv_seterr("tensor parallel %d does not divide the model's %d query heads, %d KV heads and hidden size %d "
                  "(choose a common divisor)", o.tp, cfg->n_heads, cfg->n_kv_heads, cfg->hidden_dim);
        engine_close(e);
        return KV_ERR;
    }
    if (!o.random_shape && tokenizer_load(model_path, &e->tok) != KV_OK) {
        engine_close(e);
        return KV_ERR;
    }
    snprintf(e->backend_name, sizeof e->backend_name, "%s", e->be.name);
    if (o.tp > 1 && !o.tp_shard_only) {
        if (backend_comm_open(&e->be, o.tp_mpi_comm, &e->tp_comm) != KV_OK) {
            engine_close(e);
            return KV_ERR;
        }
        e->tp = &e->tp_comm;
    }
    /* Decode steps as CUDA graphs where the backend records them and the collectives can be recorded
     * too; KVBENCH_CUDA_GRAPHS=0 turns them off (to compare, or to profile kernel by kernel). */
    const char *graphs = getenv("KVBENCH_CUDA_GRAPHS");
    e->decode_graphs = e->be.graph_begin && e->be.graph_replay && (!e->tp || e->tp->graph_safe) &&
                       !(graphs && !strcmp(graphs, "0"));
    engine_upload(e);
    *out = e;
    return KV_OK;
}

void engine_close(engine *e)
{
    if (!e) return;
    backend *be = &e->be;
    if (be->ctx || be->name) {
        engine_weights *w = &e->w;
        if (w->lm_head && w->lm_head != w->emb) be->weight_free(be->ctx, w->lm_head);
        if (w->emb) be->weight_free(be->ctx, w->emb);
        free_layers(be, w->wq, e->n_layers), free_layers(be, w->wk, e->n_layers);
        free_layers(be, w->wv, e->n_layers), free_layers(be, w->wo, e->n_layers);
        free_layers(be, w->w_gate, e->n_layers), free_layers(be, w->w_up, e->n_layers);
        free_layers(be, w->w_down, e->n_layers);
        if (w->attn_norm) be->free(be->ctx, w->attn_norm), be->free(be->ctx, w->ffn_norm);
        if (w->out_norm) be->free(be->ctx, w->out_norm), be->free(be->ctx, w->inv_freq);
        if (e->tp) e->tp->close(e->tp->ctx);
        backend_close(be);
    }
    if (e->tok) tokenizer_free(e->tok);
    model_free(&e->m);
    free(e);
}

const model_config *engine_config(const engine *e) { return &e->m.cfg; }
const tokenizer *engine_tokenizer(const engine *e) { return e->tok; }
const char *engine_backend_name(const engine *e) { return e->backend_name; }
const char *engine_model_hash(const engine *e) { return e->m.hash; }
const char *engine_device(const engine *e) { return e->be.device; }
const char *engine_dtype(const engine *e) { return e->be.dtype; }
int engine_fp32(const engine *e) { return e->be.fp32; }
int engine_host_memory(const engine *e) { return e->be.host_memory; }

void engine_graph_counts(const engine *e, long *captures, long *replays)
{
    *captures = e->graph_captures;
    *replays = e->graph_replays;
}

int engine_activations_parse(const char *name, int *out)
{
    if (!strcmp(name, "f32")) *out = ENGINE_ACTS_F32;
    else if (!strcmp(name, "q8")) *out = ENGINE_ACTS_Q8;
    else return kv_seterr("unknown activations '%s' (expected f32 or q8)", name), KV_ERR;
    return KV_OK;
}

void engine_memory_info(const engine *e, engine_memory *out)
{
    memset(out, 0, sizeof *out);
    const model_weights *w = &e->m.w;
    out->weight_bytes = model_weight_bytes(&e->m);
    out->largest_matrix_f32_bytes = model_largest_matrix_f32_bytes(&e->m);
    out->scratch_peak_bytes = e->be.scratch_peak ? e->be.scratch_peak(e->be.ctx) : 0;
    snprintf(out->activations, sizeof out->activations, "%s", e->activations);
    int seen[QTYPE_COUNT] = {0};
    size_t read = (size_t)w->lm_head.rows * w->lm_head.row_bytes;
    seen[w->lm_head.type] = 1;
    for (int i = 0; i < 7 * e->n_layers; i++) {
        const qmatrix *q = &w->layer_mats[i];
        read += (size_t)q->rows * q->row_bytes;
        seen[q->type] = 1;
    }
    out->step_read_bytes = read;
    for (int t = 0; t < QTYPE_COUNT; t++)
        if (seen[t])
            snprintf(out->formats + strlen(out->formats), sizeof out->formats - strlen(out->formats), "%s%s",
                     out->formats[0] ? "+" : "", qtype_name(t));
}
