/* model: Llama-architecture config and fp32 weights from an HF safetensors folder or a GGUF file.
 * The weights land in the Hugging Face layout in one arena (model.h documents every shape); GGUF
 * q/k rows are un-permuted at load so the engine always uses transformers' rotate-half RoPE.
 * Tensor-parallel ranks load only their slices: q/k/v/gate/up output rows by heads or features,
 * o/down input columns the same way; embeddings, norms and lm_head stay whole. Every tensor's
 * shape is checked against the config before any byte is read. model_init_random builds the same
 * structs with seeded random weights. */
#include "engine/model.h"

#include "engine/gguf.h"
#include "engine/safetensors.h"
#include "engine/sha256.h"
#include "util/util.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep every size computation below far from overflow. */
#define MODEL_MAX_DIM (1 << 17)
#define MODEL_MAX_LAYERS 1024
#define MODEL_MAX_VOCAB (1 << 22)
/* llama.cpp's rope_freqs.weight must match the Llama-3.1 factors to this relative error */
#define ROPE_FREQS_RTOL 1e-4

static void config_defaults(model_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_seq_len = 2048;
    c->rope_theta = 10000.0;
    c->norm_eps = 1e-6;
    c->bos_id = -1;
    c->eos_id = -1;
    snprintf(c->arch, sizeof c->arch, "llama");
}

static int config_validate(const model_config *c, const char *where)
{
    if (c->dim <= 0 || c->dim > MODEL_MAX_DIM || c->hidden_dim <= 0 ||
        c->hidden_dim > 8 * MODEL_MAX_DIM || c->n_layers <= 0 || c->n_layers > MODEL_MAX_LAYERS ||
        c->vocab_size <= 0 || c->vocab_size > MODEL_MAX_VOCAB) {
        kv_seterr("%s: implausible model config: dim %d, hidden %d, layers %d, vocab %d", where,
                  c->dim, c->hidden_dim, c->n_layers, c->vocab_size);
        return KV_ERR;
    }
    if (c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads > 4096 || c->n_heads % c->n_kv_heads) {
        kv_seterr("%s: num_attention_heads %d must be a positive multiple of num_key_value_heads %d",
                  where, c->n_heads, c->n_kv_heads);
        return KV_ERR;
    }
    if (c->head_dim <= 0 || c->head_dim % 2 || c->head_dim > 4096) {
        kv_seterr("%s: head_dim %d must be positive and even", where, c->head_dim);
        return KV_ERR;
    }
    if (!(c->rope_theta > 0) || !(c->norm_eps > 0)) {
        kv_seterr("%s: rope_theta %g and rms_norm_eps %g must be positive", where, c->rope_theta,
                  c->norm_eps);
        return KV_ERR;
    }
    if (c->rope_llama3 && !(c->rope_factor > 0 && c->rope_high_freq_factor > c->rope_low_freq_factor &&
                            c->rope_original_max_pos > 0)) {
        kv_seterr("%s: llama3 rope_scaling needs factor > 0, high_freq_factor > low_freq_factor "
                  "and original_max_position_embeddings > 0 (got %g, %g, %g, %d)", where,
                  c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                  c->rope_original_max_pos);
        return KV_ERR;
    }
    return KV_OK;
}

/* ---- config.json ---- */

static int json_int_field(json_t *root, const char *key, int *out, int required, const char *where)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) kv_seterr("%s: missing integer field \"%s\"", where, key);
        return required ? KV_ERR : KV_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
        json_integer_value(v) > INT32_MAX) {
        kv_seterr("%s: field \"%s\" must be a 32-bit integer", where, key);
        return KV_ERR;
    }
    *out = (int)json_integer_value(v);
    return KV_OK;
}

static int json_num_field(json_t *root, const char *key, double *out, const char *where)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return KV_OK;
    if (!json_is_number(v)) {
        kv_seterr("%s: field \"%s\" must be a number", where, key);
        return KV_ERR;
    }
    *out = json_number_value(v);
    return KV_OK;
}

/* eos_token_id: one integer or a list of them (the first is eos_id). */
static int json_eos_ids(json_t *root, model_config *c, const char *where)
{
    json_t *eos = json_object_get(root, "eos_token_id");
    if (json_is_integer(eos)) {
        c->eos_ids[c->n_eos_ids++] = (int)json_integer_value(eos);
    } else if (json_is_array(eos)) {
        size_t i;
        json_t *e;
        json_array_foreach(eos, i, e) {
            if (!json_is_integer(e)) {
                kv_seterr("%s: eos_token_id[%zu] must be an integer", where, i);
                return KV_ERR;
            }
            if (c->n_eos_ids < MODEL_MAX_STOP_IDS)
                c->eos_ids[c->n_eos_ids++] = (int)json_integer_value(e);
        }
    } else if (eos && !json_is_null(eos)) {
        kv_seterr("%s: eos_token_id must be an integer or a list of integers", where);
        return KV_ERR;
    }
    if (c->n_eos_ids > 0) c->eos_id = c->eos_ids[0];
    return KV_OK;
}

/* rope_scaling: absent, null, "default", or "llama3" with its four parameters. */
static int json_rope_scaling(json_t *root, model_config *c, const char *where)
{
    json_t *rs = json_object_get(root, "rope_scaling");
    if (!rs || json_is_null(rs)) return KV_OK;
    json_t *type = json_object_get(rs, "rope_type");
    if (!type) type = json_object_get(rs, "type");
    if (!json_is_object(rs) || !json_is_string(type)) {
        kv_seterr("%s: rope_scaling must be an object with a string rope_type", where);
        return KV_ERR;
    }
    if (strcmp(json_string_value(type), "llama3") == 0) {
        c->rope_llama3 = 1;
        if (json_num_field(rs, "factor", &c->rope_factor, where) ||
            json_num_field(rs, "low_freq_factor", &c->rope_low_freq_factor, where) ||
            json_num_field(rs, "high_freq_factor", &c->rope_high_freq_factor, where) ||
            json_int_field(rs, "original_max_position_embeddings", &c->rope_original_max_pos,
                           1, where))
            return KV_ERR;
    } else if (strcmp(json_string_value(type), "default") != 0) {
        kv_seterr("%s: rope_scaling.rope_type \"%s\" is not supported (expected \"llama3\")",
                  where, json_string_value(type));
        return KV_ERR;
    }
    return KV_OK;
}

static int config_from_json(const char *dir, model_config *c)
{
    char where[1100];
    snprintf(where, sizeof where, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(where, 0, &jerr);
    if (!root) {
        kv_seterr("%s:%d:%d: cannot parse JSON: %s", where, jerr.line, jerr.column, jerr.text);
        return KV_ERR;
    }
    int rc = KV_ERR;
    if (!json_is_object(root)) {
        kv_seterr("%s: expected a JSON object", where);
        goto done;
    }
    config_defaults(c);
    json_t *mt = json_object_get(root, "model_type");
    if (json_is_string(mt) && strcmp(json_string_value(mt), "llama") != 0) {
        kv_seterr("%s: model_type \"%s\" is not supported (expected \"llama\")", where,
                  json_string_value(mt));
        goto done;
    }
    c->head_dim = 0;
    if (json_int_field(root, "hidden_size", &c->dim, 1, where) ||
        json_int_field(root, "intermediate_size", &c->hidden_dim, 1, where) ||
        json_int_field(root, "num_hidden_layers", &c->n_layers, 1, where) ||
        json_int_field(root, "num_attention_heads", &c->n_heads, 1, where) ||
        json_int_field(root, "vocab_size", &c->vocab_size, 1, where) ||
        json_int_field(root, "head_dim", &c->head_dim, 0, where) ||
        json_int_field(root, "max_position_embeddings", &c->max_seq_len, 0, where) ||
        json_int_field(root, "bos_token_id", &c->bos_id, 0, where) ||
        json_num_field(root, "rope_theta", &c->rope_theta, where) ||
        json_num_field(root, "rms_norm_eps", &c->norm_eps, where))
        goto done;
    c->n_kv_heads = c->n_heads;
    if (json_int_field(root, "num_key_value_heads", &c->n_kv_heads, 0, where)) goto done;
    if (c->head_dim == 0 && c->n_heads > 0) c->head_dim = c->dim / c->n_heads;
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    c->tied_embeddings = json_is_true(tie);
    if (json_eos_ids(root, c, where) || json_rope_scaling(root, c, where)) goto done;
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    snprintf(c->name, sizeof c->name, "%s", base);
    rc = config_validate(c, where);
done:
    json_decref(root);
    return rc;
}

/* ---- GGUF metadata ---- */

static int gguf_int_key(const gguf_file *g, const char *arch, const char *suffix, int *out,
                        int required)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!gguf_has_key(g, key)) {
        if (required) kv_seterr("%s: missing GGUF key %s", gguf_path(g), key);
        return required ? KV_ERR : KV_OK;
    }
    int64_t v;
    if (gguf_get_int(g, key, &v)) return KV_ERR;
    if (v < 0 || v > INT32_MAX) {
        kv_seterr("%s: GGUF key %s = %lld out of range", gguf_path(g), key, (long long)v);
        return KV_ERR;
    }
    *out = (int)v;
    return KV_OK;
}

static int gguf_float_key(const gguf_file *g, const char *arch, const char *suffix, double *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!gguf_has_key(g, key)) return KV_OK;
    return gguf_get_float(g, key, out);
}

/* llama.cpp stores Llama-3.1 rope scaling as a rope_freqs tensor of per-frequency divisors rather
 * than as keys. The parameters are not recoverable in general, so accept the tensor only if it is
 * exactly the Llama-3.1 rule (factor 8, low 1, high 4, original 8192) and use that rule. */
static int gguf_rope_freqs(const gguf_file *g, model_config *c)
{
    const gguf_tensor *t = gguf_find_tensor(g, "rope_freqs.weight");
    if (!t) return KV_OK;
    int half = c->head_dim / 2;
    if (t->dims[0] != half || t->n_dims != 1) {
        kv_seterr("%s: tensor rope_freqs.weight: shape %lld, expected (%d)", gguf_path(g),
                  (long long)t->dims[0], half);
        return KV_ERR;
    }
    float *f = kv_malloc((size_t)half * sizeof *f);
    if (gguf_tensor_to_f32(g, t, f)) {
        free(f);
        return KV_ERR;
    }
    const double factor = 8, low = 1, high = 4, orig = 8192;
    for (int i = 0; i < half; i++) {
        double freq = pow(c->rope_theta, -2.0 * i / c->head_dim);
        double wavelen = 2 * M_PI / freq, want;
        if (wavelen < orig / high) {
            want = 1;
        } else if (wavelen > orig / low) {
            want = factor;
        } else {
            double smooth = (orig / wavelen - low) / (high - low);
            want = 1.0 / ((1 - smooth) / factor + smooth);
        }
        if (fabs(f[i] - want) > ROPE_FREQS_RTOL * want) {
            kv_seterr("%s: tensor rope_freqs.weight[%d] = %g, expected %g for Llama-3.1 rope "
                      "scaling (factor 8, low 1, high 4, original 8192); other scalings are not "
                      "supported", gguf_path(g), i, f[i], want);
            free(f);
            return KV_ERR;
        }
    }
    free(f);
    c->rope_llama3 = 1;
    c->rope_factor = factor;
    c->rope_low_freq_factor = low;
    c->rope_high_freq_factor = high;
    c->rope_original_max_pos = (int)orig;
    return KV_OK;
}

static int config_from_gguf(const gguf_file *g, model_config *c)
{
    const char *path = gguf_path(g);
    config_defaults(c);
    const char *s;
    size_t n;
    if (gguf_get_string(g, "general.architecture", &s, &n)) return KV_ERR;
    if (n != 5 || memcmp(s, "llama", 5) != 0) {
        kv_seterr("%s: general.architecture \"%.*s\" is not supported (expected \"llama\")", path,
                  (int)(n < 64 ? n : 64), s);
        return KV_ERR;
    }
    const char *a = "llama";
    c->head_dim = 0;
    if (gguf_int_key(g, a, "embedding_length", &c->dim, 1) ||
        gguf_int_key(g, a, "feed_forward_length", &c->hidden_dim, 1) ||
        gguf_int_key(g, a, "block_count", &c->n_layers, 1) ||
        gguf_int_key(g, a, "attention.head_count", &c->n_heads, 1) ||
        gguf_int_key(g, a, "context_length", &c->max_seq_len, 0) ||
        gguf_int_key(g, a, "attention.key_length", &c->head_dim, 0) ||
        gguf_float_key(g, a, "rope.freq_base", &c->rope_theta) ||
        gguf_float_key(g, a, "attention.layer_norm_rms_epsilon", &c->norm_eps))
        return KV_ERR;
    c->n_kv_heads = c->n_heads;
    if (gguf_int_key(g, a, "attention.head_count_kv", &c->n_kv_heads, 0)) return KV_ERR;
    if (c->head_dim == 0 && c->n_heads > 0) c->head_dim = c->dim / c->n_heads;
    /* vocab: the explicit key, else the tokenizer's token list, else token_embd's rows */
    if (gguf_int_key(g, a, "vocab_size", &c->vocab_size, 0)) return KV_ERR;
    if (c->vocab_size == 0) {
        int et;
        const gguf_tensor *te = gguf_find_tensor(g, "token_embd.weight");
        if (gguf_has_key(g, "tokenizer.ggml.tokens")) {
            if (gguf_get_array_info(g, "tokenizer.ggml.tokens", &et, &n)) return KV_ERR;
            c->vocab_size = n > INT32_MAX ? -1 : (int)n;
        } else if (te && te->n_dims == 2) {
            c->vocab_size = te->dims[1] > INT32_MAX ? -1 : (int)te->dims[1];
        }
    }
    int64_t v;
    if (gguf_has_key(g, "tokenizer.ggml.bos_token_id")) {
        if (gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v)) return KV_ERR;
        c->bos_id = (int)v;
    }
    if (gguf_has_key(g, "tokenizer.ggml.eos_token_id")) {
        if (gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v)) return KV_ERR;
        c->eos_id = (int)v;
        c->eos_ids[c->n_eos_ids++] = c->eos_id;
    }
    char key[64];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_has_key(g, key)) {
        if (gguf_get_string(g, key, &s, &n)) return KV_ERR;
        if (!(n == 4 && memcmp(s, "none", 4) == 0) && !(n == 6 && memcmp(s, "llama3", 6) == 0)) {
            kv_seterr("%s: %s \"%.*s\" is not supported (expected none or llama3)", path, key,
                      (int)(n < 32 ? n : 32), s);
            return KV_ERR;
        }
    }
    c->tied_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    if (gguf_has_key(g, "general.name")) {
        if (gguf_get_string(g, "general.name", &s, &n)) return KV_ERR;
        snprintf(c->name, sizeof c->name, "%.*s", (int)(n < 127 ? n : 127), s);
    } else {
        const char *base = strrchr(path, '/');
        snprintf(c->name, sizeof c->name, "%s", base ? base + 1 : path);
    }
    if (config_validate(c, path)) return KV_ERR;
    return gguf_rope_freqs(g, c);
}

static int path_is_gguf(const char *path)
{
    size_t n = strlen(path);
    return !kv_is_dir(path) && n >= 5 && strcmp(path + n - 5, ".gguf") == 0;
}

int model_config_load(const char *path, model_config *cfg)
{
    if (kv_is_dir(path)) return config_from_json(path, cfg);
    if (!kv_file_exists(path)) {
        kv_seterr("%s: no such file or folder (expected an HF model folder or a .gguf file)", path);
        return KV_ERR;
    }
    gguf_file *g;
    if (gguf_open(path, &g)) return KV_ERR;
    int rc = config_from_gguf(g, cfg);
    gguf_close(g);
    return rc;
}

/* ---- weights ---- */

/* Where tensors come from: exactly one of g / st is set. */
typedef struct {
    gguf_file *g;
    safetensors *st;
    const char *path;
} weight_source;

/* Load the window rows [r0, r0+nr) x cols [c0, c0+nc) of a tensor whose full HF shape must be
 * (rows, cols) (rows = 1 for vectors) into out. GGUF names use ggml dim order (dims[0] = cols). */
static int source_load(const weight_source *src, const char *name, int64_t rows, int64_t cols,
                       int64_t r0, int64_t nr, int64_t c0, int64_t nc, float *out);

/* The stored format (qtype) and bytes of tensor `name`, after the same lookup and shape checks as
 * source_load. Random weights (no source) are fp32. */
static int source_find(const weight_source *src, const char *name, int64_t rows, int64_t cols, int *qt,
                       const uint8_t **data)
{
    *data = NULL;
    *qt = QTYPE_F32;
    if (!src) return KV_OK;
    /* source_load with an empty window runs every check and reads nothing */
    if (source_load(src, name, rows, cols, 0, 0, 0, 0, NULL)) return KV_ERR;
    if (src->st) {
        const safetensors_tensor *t = safetensors_find(src->st, name);
        *qt = t->dtype == SAFETENSORS_F16 ? QTYPE_F16 : t->dtype == SAFETENSORS_BF16 ? QTYPE_BF16 : QTYPE_F32;
        *data = t->data;
        return KV_OK;
    }
    const gguf_tensor *t = gguf_find_tensor(src->g, name);
    switch (t->type) {
    case GGML_TYPE_F16: *qt = QTYPE_F16; break;
    case GGML_TYPE_BF16: *qt = QTYPE_BF16; break;
    case GGML_TYPE_Q8_0: *qt = QTYPE_Q8_0; break;
    case GGML_TYPE_Q4_0: *qt = QTYPE_Q4_0; break;
    case GGML_TYPE_Q4_1: *qt = QTYPE_Q4_1; break;
    default: *qt = QTYPE_F32; break;
    }
    *data = t->data;
    return KV_OK;
}

static int source_load(const weight_source *src, const char *name, int64_t rows, int64_t cols,
                       int64_t r0, int64_t nr, int64_t c0, int64_t nc, float *out)
{
    if (src->st) {
        const safetensors_tensor *t = safetensors_find(src->st, name);
        if (!t) {
            kv_seterr("%s: tensor %s not found", src->path, name);
            return KV_ERR;
        }
        int ok = rows == 1 ? (t->n_dims == 1 && t->shape[0] == cols)
                           : (t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols);
        if (!ok) {
            char got[96] = "";
            for (int d = 0; d < t->n_dims && d < 4; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                         (long long)t->shape[d]);
            if (rows == 1)
                kv_seterr("%s: tensor %s: shape (%s), expected (%lld)", src->path, name, got,
                          (long long)cols);
            else
                kv_seterr("%s: tensor %s: shape (%s), expected (%lld, %lld)", src->path, name, got,
                          (long long)rows, (long long)cols);
            return KV_ERR;
        }
        if (nr == 0 || nc == 0) return KV_OK;
        return safetensors_slice_to_f32(src->st, t, r0, nr, c0, nc, out);
    }
    const gguf_tensor *t = gguf_find_tensor(src->g, name);
    if (!t) {
        kv_seterr("%s: tensor %s not found", src->path, name);
        return KV_ERR;
    }
    int ok = rows == 1 ? (t->n_dims == 1 && t->dims[0] == cols)
                       : (t->n_dims == 2 && t->dims[0] == cols && t->dims[1] == rows);
    if (!ok) {
        kv_seterr("%s: tensor %s: ggml dims [%lld, %lld, %lld] (n_dims %d), expected [%lld, %lld]",
                  src->path, name, (long long)t->dims[0], (long long)t->dims[1],
                  (long long)t->dims[2], t->n_dims, (long long)cols, (long long)rows);
        return KV_ERR;
    }
    if (nr == 0 || nc == 0) return KV_OK;
    if (c0 == 0 && nc == cols) return gguf_tensor_rows_to_f32(src->g, t, r0, nr, out);
    /* column window: dequantize each needed row whole (blocks span columns), keep the window */
    float *row = kv_malloc((size_t)cols * sizeof *row);
    int rc = KV_OK;
    for (int64_t r = 0; r < nr && rc == KV_OK; r++) {
        rc = gguf_tensor_rows_to_f32(src->g, t, r0 + r, 1, row);
        memcpy(out + r * nc, row + c0, (size_t)nc * sizeof *out);
    }
    free(row);
    return rc;
}

/* llama.cpp's converter reorders each head's q/k rows for its interleaved RoPE:
 * gguf row h*d + 2*i + j  <-  hf row h*d + j*(d/2) + i  (i < d/2, j < 2). Undo it in place; rows
 * are row_bytes each, so this works on any storage format. */
static void unpermute_heads(void *w, int n_heads, int head_dim, size_t row_bytes)
{
    int half = head_dim / 2;
    size_t head_bytes = (size_t)head_dim * row_bytes;
    uint8_t *tmp = kv_malloc(head_bytes);
    for (int h = 0; h < n_heads; h++) {
        uint8_t *hw = (uint8_t *)w + h * head_bytes;
        for (int i = 0; i < half; i++)
            for (int j = 0; j < 2; j++)
                memcpy(tmp + (size_t)(j * half + i) * row_bytes, hw + (size_t)(2 * i + j) * row_bytes, row_bytes);
        memcpy(hw, tmp, head_bytes);
    }
    free(tmp);
}

static int shard_check(const model_config *c, const model_shard *shard, model *m)
{
    int tp = shard ? shard->tp : 1, rank = shard ? shard->tp_rank : 0;
    if (tp < 1 || rank < 0 || rank >= tp) {
        kv_seterr("tensor parallel shard: rank %d of tp %d is invalid (need 0 <= rank < tp)", rank,
                  tp);
        return KV_ERR;
    }
    if (c->n_heads % tp || c->n_kv_heads % tp || c->hidden_dim % tp) {
        kv_seterr("tensor parallel: tp = %d must divide num_attention_heads %d, "
                  "num_key_value_heads %d and intermediate_size %d; choose tp among the common "
                  "divisors", tp, c->n_heads, c->n_kv_heads, c->hidden_dim);
        return KV_ERR;
    }
    m->shard.tp = tp;
    m->shard.tp_rank = rank;
    m->n_heads_local = c->n_heads / tp;
    m->n_kv_heads_local = c->n_kv_heads / tp;
    m->hidden_dim_local = c->hidden_dim / tp;
    m->head0 = rank * m->n_heads_local;
    m->kv_head0 = rank * m->n_kv_heads_local;
    m->hidden0 = rank * m->hidden_dim_local;
    return KV_OK;
}

static const char *const wformat_names[] = {"as-stored", "f32", "bf16", "q8_0"};

int model_wformat_parse(const char *str, int *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(str, wformat_names[i])) {
            *out = i;
            return KV_OK;
        }
    kv_seterr("unknown weight format '%s' (expected as-stored, f32, bf16 or q8_0)", str);
    return KV_ERR;
}

const char *model_wformat_name(int f) { return f >= 0 && f < 4 ? wformat_names[f] : "?"; }

/* Per-layer tensor names: GGUF suffix after "blk.N.", HF suffix after "model.layers.N.". */
enum { T_ATTN_NORM, T_Q, T_K, T_V, T_O, T_FFN_NORM, T_GATE, T_UP, T_DOWN, T_COUNT };
static const char *gguf_layer_names[T_COUNT] = {
    "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
    "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};
static const char *hf_layer_names[T_COUNT] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};

/* One weight matrix: tensor name, full HF shape (rows, cols), this rank's window, the random
 * stream that fills it without a file, where it goes, and the GGUF q/k heads to un-permute. */
typedef struct {
    char name[128];
    int64_t rows, cols, r0, nr, c0, nc;
    uint64_t key;
    qmatrix *dst;
    int unpermute;
} matrix_spec;

static uint64_t tensor_key(unsigned seed, int layer, int which);

/* The matrices of the local shapes of model.h, in arena order. n: 2 + 7 * n_layers at most. */
static int matrix_specs(model *m, int is_gguf, unsigned seed, matrix_spec *sp)
{
    const model_config *c = &m->cfg;
    model_weights *w = &m->w;
    int64_t d = c->dim, hd = c->head_dim, V = c->vocab_size;
    int64_t nq = (int64_t)c->n_heads * hd, nkv = (int64_t)c->n_kv_heads * hd;
    int64_t lq = (int64_t)m->n_heads_local * hd, lkv = (int64_t)m->n_kv_heads_local * hd;
    int64_t q0 = (int64_t)m->head0 * hd, kv0 = (int64_t)m->kv_head0 * hd;
    int64_t hid = c->hidden_dim, lh = m->hidden_dim_local, h0 = m->hidden0;
    int n = 0;
    sp[n] = (matrix_spec){.rows = V, .cols = d, .nr = V, .nc = d, .key = tensor_key(seed, -1, 0),
                          .dst = &w->tok_embeddings};
    snprintf(sp[n++].name, sizeof sp->name, "%s", is_gguf ? "token_embd.weight" : "model.embed_tokens.weight");
    if (!c->tied_embeddings) {
        sp[n] = (matrix_spec){.rows = V, .cols = d, .nr = V, .nc = d, .key = tensor_key(seed, -1, 1),
                              .dst = &w->lm_head};
        snprintf(sp[n++].name, sizeof sp->name, "%s", is_gguf ? "output.weight" : "lm_head.weight");
    }
    for (int l = 0; l < c->n_layers; l++) {
        /* tensor, full shape (rows, cols), window (r0, nr, c0, nc), random stream, destination */
        struct {
            int t;
            int64_t rows, cols, r0, nr, c0, nc;
            int which;
            qmatrix *dst;
            int unpermute;
        } lay[7] = {
            {T_Q, nq, d, q0, lq, 0, d, 1, &w->wq[l], is_gguf ? m->n_heads_local : 0},
            {T_K, nkv, d, kv0, lkv, 0, d, 2, &w->wk[l], is_gguf ? m->n_kv_heads_local : 0},
            {T_V, nkv, d, kv0, lkv, 0, d, 3, &w->wv[l], 0},
            {T_O, d, nq, 0, d, q0, lq, 4, &w->wo[l], 0},
            {T_GATE, hid, d, h0, lh, 0, d, 5, &w->w_gate[l], 0},
            {T_UP, hid, d, h0, lh, 0, d, 6, &w->w_up[l], 0},
            {T_DOWN, d, hid, 0, d, h0, lh, 7, &w->w_down[l], 0},
        };
        for (int k = 0; k < 7; k++) {
            sp[n] = (matrix_spec){.rows = lay[k].rows, .cols = lay[k].cols, .r0 = lay[k].r0, .nr = lay[k].nr,
                                  .c0 = lay[k].c0, .nc = lay[k].nc, .key = tensor_key(seed, l, lay[k].which),
                                  .dst = lay[k].dst, .unpermute = lay[k].unpermute};
            if (is_gguf)
                snprintf(sp[n].name, sizeof sp->name, "blk.%d.%s", l, gguf_layer_names[lay[k].t]);
            else
                snprintf(sp[n].name, sizeof sp->name, "model.layers.%d.%s", l, hf_layer_names[lay[k].t]);
            n++;
        }
    }
    return n;
}

/* The format a matrix is held in: as stored unless converted; a block format whose column window
 * does not fall on block boundaries (a tensor-parallel slice) is held in fp32. */
static int matrix_target_type(int wformat, int stored, int64_t c0, int64_t nc)
{
    switch (wformat) {
    case MODEL_WEIGHTS_F32: return QTYPE_F32;
    case MODEL_WEIGHTS_BF16: return QTYPE_BF16;
    case MODEL_WEIGHTS_Q8_0: return nc % QTYPE_BLOCK ? QTYPE_BF16 : QTYPE_Q8_0;
    default: return qtype_is_block(stored) && (c0 % QTYPE_BLOCK || nc % QTYPE_BLOCK) ? QTYPE_F32 : stored;
    }
}

#define ARENA_ALIGN 64
static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

/* Choose every matrix's format (checking each tensor's presence and shape), then carve the arena:
 * norms first, then the matrices, each 64-byte aligned. */
static int weights_alloc(model *m, const weight_source *src, int wformat, matrix_spec *sp, int n)
{
    const model_config *c = &m->cfg;
    model_weights *w = &m->w;
    size_t L = (size_t)c->n_layers, d = (size_t)c->dim;
    size_t total = align_up(L * d * 4) * 2 + align_up(d * 4);
    for (int i = 0; i < n; i++) {
        int stored;
        const uint8_t *data;
        if (source_find(src, sp[i].name, sp[i].rows, sp[i].cols, &stored, &data)) return KV_ERR;
        qmatrix *q = sp[i].dst;
        q->type = matrix_target_type(wformat, stored, sp[i].c0, sp[i].nc);
        q->rows = sp[i].nr;
        q->cols = sp[i].nc;
        q->row_bytes = qtype_row_bytes(q->type, q->cols);
        total += align_up((size_t)q->rows * q->row_bytes);
    }
    w->format = wformat;
    w->arena = kv_malloc(total);
    w->arena_bytes = total;
    uint8_t *p = w->arena;
    w->attn_norm = (float *)p, p += align_up(L * d * 4);
    w->ffn_norm = (float *)p, p += align_up(L * d * 4);
    w->out_norm = (float *)p, p += align_up(d * 4);
    for (int i = 0; i < n; i++) {
        sp[i].dst->data = p;
        p += align_up((size_t)sp[i].dst->rows * sp[i].dst->row_bytes);
    }
    if (c->tied_embeddings) w->lm_head = w->tok_embeddings;
    return KV_OK;
}

/* Headers of the per-layer matrices (before matrix_specs, which points into them). */
static void weights_headers(model *m)
{
    model_weights *w = &m->w;
    int L = m->cfg.n_layers;
    w->layer_mats = kv_calloc((size_t)7 * L, sizeof(qmatrix));
    qmatrix **ptrs[7] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
    for (int i = 0; i < 7; i++) *ptrs[i] = w->layer_mats + (size_t)i * L;
}

/* Rows [0, nr) of a matrix from the tensor's window through fp32 in blocks of rows (the whole
 * matrix in fp32 never exists): the file's rows via source_load, or the random stream. */
static void random_fill(float *out, uint64_t key, int64_t cols, int64_t r0, int64_t nr, int64_t c0, int64_t nc);

static int matrix_fill_converted(const weight_source *src, const matrix_spec *s)
{
    qmatrix *q = s->dst;
    if (q->type == QTYPE_F32) {
        if (!src) {
            random_fill(q->data, s->key, s->cols, s->r0, s->nr, s->c0, s->nc);
            return KV_OK;
        }
        return source_load(src, s->name, s->rows, s->cols, s->r0, s->nr, s->c0, s->nc, q->data);
    }
    int64_t chunk = (1 << 20) / s->nc;
    if (chunk < 1) chunk = 1;
    if (chunk > s->nr) chunk = s->nr;
    float *tmp = kv_malloc((size_t)chunk * s->nc * sizeof *tmp);
    int rc = KV_OK;
    for (int64_t r = 0; r < s->nr && rc == KV_OK; r += chunk) {
        int64_t nr = s->nr - r < chunk ? s->nr - r : chunk;
        if (!src)
            random_fill(tmp, s->key, s->cols, s->r0 + r, nr, s->c0, s->nc);
        else
            rc = source_load(src, s->name, s->rows, s->cols, s->r0 + r, nr, s->c0, s->nc, tmp);
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < nr; i++)
            qtype_quantize_row(q->type, tmp + i * s->nc, (uint8_t *)q->data + (size_t)(r + i) * q->row_bytes, s->nc);
    }
    free(tmp);
    return rc;
}

static int matrix_fill(const weight_source *src, const matrix_spec *s)
{
    qmatrix *q = s->dst;
    int stored;
    const uint8_t *data;
    if (source_find(src, s->name, s->rows, s->cols, &stored, &data)) return KV_ERR;
    int rc = KV_OK;
    if (src && stored == q->type && q->type != QTYPE_F32) {
        /* kept as stored: copy the window's bytes (block formats: whole blocks, checked above) */
        size_t src_row = qtype_row_bytes(stored, s->cols), off = qtype_row_bytes(stored, s->c0);
        #pragma omp parallel for schedule(static) if (s->nr * s->nc > (1 << 16))
        for (int64_t r = 0; r < s->nr; r++)
            memcpy((uint8_t *)q->data + (size_t)r * q->row_bytes, data + (size_t)(s->r0 + r) * src_row + off,
                   q->row_bytes);
    } else {
        rc = matrix_fill_converted(src, s);
    }
    if (rc == KV_OK && s->unpermute) unpermute_heads(q->data, s->unpermute, (int)(q->rows / s->unpermute), q->row_bytes);
    return rc;
}

/* Allocate and fill every weight: from src, or random (src NULL) with seed. */
static int weights_build(model *m, const weight_source *src, int wformat, unsigned seed)
{
    const model_config *c = &m->cfg;
    model_weights *w = &m->w;
    weights_headers(m);
    matrix_spec *sp = kv_malloc(sizeof *sp * (2 + 7 * (size_t)c->n_layers));
    int n = matrix_specs(m, src && src->g, seed, sp);
    int rc = weights_alloc(m, src, wformat, sp, n);
    int64_t d = c->dim;
    if (rc == KV_OK && src) {
        int is_gguf = src->g != NULL;
        rc = source_load(src, is_gguf ? "output_norm.weight" : "model.norm.weight", 1, d, 0, 1, 0, d, w->out_norm);
        for (int l = 0; l < c->n_layers && rc == KV_OK; l++) {
            char name[128];
            for (int k = 0; k < 2 && rc == KV_OK; k++) {
                int t = k ? T_FFN_NORM : T_ATTN_NORM;
                if (is_gguf)
                    snprintf(name, sizeof name, "blk.%d.%s", l, gguf_layer_names[t]);
                else
                    snprintf(name, sizeof name, "model.layers.%d.%s", l, hf_layer_names[t]);
                rc = source_load(src, name, 1, d, 0, 1, 0, d, (k ? w->ffn_norm : w->attn_norm) + l * d);
            }
        }
    } else if (rc == KV_OK) { /* random: norms are 1 */
        for (int64_t i = 0; i < d; i++) w->out_norm[i] = 1.0f;
        for (int64_t i = 0; i < (int64_t)c->n_layers * d; i++) w->attn_norm[i] = w->ffn_norm[i] = 1.0f;
    }
    for (int i = 0; i < n && rc == KV_OK; i++) rc = matrix_fill(src, &sp[i]);
    free(sp);
    return rc;
}

size_t model_weight_bytes(const model *m) { return m->w.arena_bytes; }

size_t model_largest_matrix_f32_bytes(const model *m)
{
    const model_weights *w = &m->w;
    size_t best = (size_t)(w->tok_embeddings.rows * w->tok_embeddings.cols) * 4;
    size_t lm = (size_t)(w->lm_head.rows * w->lm_head.cols) * 4;
    if (lm > best) best = lm;
    for (int i = 0; w->layer_mats && i < 7 * m->cfg.n_layers; i++) {
        size_t b = (size_t)(w->layer_mats[i].rows * w->layer_mats[i].cols) * 4;
        if (b > best) best = b;
    }
    return best;
}

void model_free(model *m)
{
    if (!m) return;
    free(m->w.arena);
    free(m->w.layer_mats);
    memset(&m->w, 0, sizeof m->w);
}

int model_load(const char *path, const model_shard *shard, model *m)
{
    return model_load_as(path, shard, MODEL_WEIGHTS_F32, m);
}

int model_load_as(const char *path, const model_shard *shard, int wformat, model *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    weight_source src = {.path = path};
    int rc = KV_ERR;
    if (kv_is_dir(path)) {
        if (config_from_json(path, &m->cfg) || safetensors_open(path, &src.st)) goto done;
        sha256_ctx h;
        char st_hash[65], cfg_path[1100];
        safetensors_header_hash(src.st, st_hash);
        sha256_init(&h);
        sha256_update(&h, st_hash, 64);
        char *cfg_text;
        size_t cfg_len;
        snprintf(cfg_path, sizeof cfg_path, "%s/config.json", path);
        if (kv_read_file(cfg_path, &cfg_text, &cfg_len)) goto done;
        sha256_update(&h, cfg_text, cfg_len);
        free(cfg_text);
        sha256_hex_final(&h, m->hash);
        /* a checkpoint without lm_head.weight ties it even if config.json does not say so */
        if (!m->cfg.tied_embeddings && !safetensors_find(src.st, "lm_head.weight")) {
            kv_seterr("%s: tensor lm_head.weight not found and tie_word_embeddings is false in "
                      "config.json", path);
            goto done;
        }
    } else if (path_is_gguf(path) || kv_file_exists(path)) {
        if (gguf_open(path, &src.g) || config_from_gguf(src.g, &m->cfg)) goto done;
        const void *hp;
        size_t hn;
        gguf_header_span(src.g, &hp, &hn);
        sha256_hex(hp, hn, m->hash);
    } else {
        kv_seterr("%s: no such file or folder (expected an HF model folder or a .gguf file)", path);
        goto done;
    }
    if (shard_check(&m->cfg, shard, m)) goto done;
    rc = weights_build(m, &src, wformat, 0);
done:
    if (src.g) gguf_close(src.g);
    if (src.st) safetensors_close(src.st);
    if (rc != KV_OK) model_free(m);
    return rc;
}

/* ---- random weights ----
 * Models of the real shapes with random weights, for benchmarks and tests that need the size of a
 * checkpoint but not its values. Weights are N(0, 0.02) from a counter-based generator keyed by
 * (seed, tensor, element index in the FULL tensor), so the values do not depend on the thread
 * count and a tensor-parallel rank's slice equals the same slice of the tp = 1 model. Norms are 1. */

#define RANDOM_WEIGHT_STD 0.02

typedef struct {
    const char *name;
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len, tied;
    double theta, eps;
    int llama3;
    int bos_id, eos_ids[3], n_eos;
} random_shape;

static const random_shape random_shapes[] = {
    {"smollm2-135m", 576, 1536, 30, 9, 3, 49152, 8192, 1, 100000.0, 1e-5, 0, 1, {2}, 1},
    /* Llama-3.1-8B-Instruct: rope scaling factor 8, low 1, high 4, original 8192 */
    {"llama3-8b", 4096, 14336, 32, 32, 8, 128256, 131072, 0, 500000.0, 1e-5, 1, 128000,
     {128001, 128008, 128009}, 3},
    {"llama3-70b", 8192, 28672, 80, 64, 8, 128256, 131072, 0, 500000.0, 1e-5, 1, 128000,
     {128001, 128008, 128009}, 3},
};

/* splitmix64: a good 64-bit mix of a counter (Steele et al.), the core of the generator */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Standard normals for elements 2p and 2p+1 of stream `key`: Box-Muller on two 32-bit uniforms
 * of one hash of the pair index p gives both (cos and sin branches). */
static void random_normal_pair(uint64_t key, uint64_t p, float *z0, float *z1)
{
    uint64_t r = splitmix64(key ^ splitmix64(p));
    double u1 = ((double)(r >> 32) + 1.0) / 4294967297.0; /* (0, 1): log stays finite */
    double u2 = (double)(r & 0xffffffffu) / 4294967296.0;
    double rad = sqrt(-2.0 * log(u1));
    *z0 = (float)(rad * cos(2.0 * M_PI * u2));
    *z1 = (float)(rad * sin(2.0 * M_PI * u2));
}

/* Fill the window rows [r0, r0+nr) x cols [c0, c0+nc) of a full (rows x cols) random tensor. */
static void random_fill(float *out, uint64_t key, int64_t cols, int64_t r0, int64_t nr, int64_t c0, int64_t nc)
{
    const float std = (float)RANDOM_WEIGHT_STD;
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nr; r++) {
        uint64_t base = (uint64_t)(r0 + r) * (uint64_t)cols + (uint64_t)c0;
        float *o = out + r * nc;
        for (int64_t c = 0; c < nc;) {
            uint64_t idx = base + (uint64_t)c;
            float z0, z1;
            random_normal_pair(key, idx / 2, &z0, &z1);
            if (idx % 2 == 0) {
                o[c++] = std * z0;
                if (c < nc) o[c++] = std * z1;
            } else {
                o[c++] = std * z1;
            }
        }
    }
}

static uint64_t tensor_key(unsigned seed, int layer, int which)
{
    return splitmix64(((uint64_t)seed << 32) ^ ((uint64_t)(layer + 1) << 8) ^ (uint64_t)which);
}

int model_init_random(const char *shape, unsigned seed, const model_shard *shard, model *m)
{
    return model_init_random_as(shape, seed, shard, MODEL_WEIGHTS_F32, m);
}

int model_init_random_as(const char *shape, unsigned seed, const model_shard *shard, int wformat, model *m)
{
    memset(m, 0, sizeof *m);
    const random_shape *s = NULL;
    for (size_t i = 0; i < sizeof random_shapes / sizeof *random_shapes; i++)
        if (strcmp(random_shapes[i].name, shape) == 0) s = &random_shapes[i];
    if (!s) {
        kv_seterr("unknown random model shape \"%s\" (expected smollm2-135m, llama3-8b or "
                  "llama3-70b)", shape);
        return KV_ERR;
    }
    model_config *c = &m->cfg;
    c->dim = s->dim;
    c->hidden_dim = s->hidden_dim;
    c->n_layers = s->n_layers;
    c->n_heads = s->n_heads;
    c->n_kv_heads = s->n_kv_heads;
    c->head_dim = s->dim / s->n_heads;
    c->vocab_size = s->vocab_size;
    c->max_seq_len = s->max_seq_len;
    c->rope_theta = s->theta;
    c->norm_eps = s->eps;
    c->rope_llama3 = s->llama3;
    if (s->llama3) {
        c->rope_factor = 8;
        c->rope_low_freq_factor = 1;
        c->rope_high_freq_factor = 4;
        c->rope_original_max_pos = 8192;
    }
    c->tied_embeddings = s->tied;
    c->bos_id = s->bos_id;
    c->n_eos_ids = s->n_eos;
    memcpy(c->eos_ids, s->eos_ids, sizeof s->eos_ids);
    c->eos_id = s->eos_ids[0];
    snprintf(c->name, sizeof c->name, "random:%s", shape);
    snprintf(c->arch, sizeof c->arch, "llama");
    snprintf(m->path, sizeof m->path, "random:%s:%u", shape, seed);
    sha256_hex(m->path, strlen(m->path), m->hash);
    if (shard_check(c, shard, m)) return KV_ERR;
    if (weights_build(m, NULL, wformat, seed)) {
        model_free(m);
        return KV_ERR;
    }
    return KV_OK;
}
