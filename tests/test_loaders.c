/* test_loaders: model config and weight loading. A tiny Llama (4 heads, 2 KV heads, head_dim 4 !=
 * dim/heads) is written here as an HF folder (single safetensors file and sharded with an index,
 * F32/F16/BF16 mixed) and as a GGUF file with llama.cpp's q/k row permutation: all must load to the
 * same fp32 weights, and tensor-parallel loads must be exact slices of the full load. Malformed
 * safetensors (truncations, bad header, dtype, shapes, offsets, missing shard) must fail with a
 * message naming the file and tensor. The real demo GGUF is checked against values transformers
 * produced (tests/data/loaders/smollm2_weights.json, from tools/golden_smollm2.py). */
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/safetensors.h"
#include "engine/sha256.h"
#include "util/util.h"
#include "tests/check.h"

#include <jansson.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Loading is a copy / exact conversion: bit equality is expected everywhere. */
#define LOAD_ATOL 0.0
#define LOAD_RTOL 0.0
/* The tiny weights are multiples of 1/16 in [-0.5, 0.5]: exact in F16 and BF16. */

#define DEMO_GGUF "models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define DEMO_WEIGHTS "tests/data/loaders/smollm2_weights.json"
/* an fp32 matrix of the model (model_load holds fp32) */
#define F32(mat) ((const float *)(mat).data)

static char tmpdir[256];

/* ---------- tiny model ---------- */
enum { T_DIM = 8, T_HID = 12, T_LAYERS = 2, T_HEADS = 4, T_KV = 2, T_HD = 4, T_VOCAB = 10 };
#define T_NQ (T_HEADS * T_HD)
#define T_NKV (T_KV * T_HD)

typedef struct {
    char name[64];   /* HF name */
    char gname[64];  /* GGUF name */
    int rows, cols;  /* rows = 1 for vectors */
    int dtype;       /* safetensors dtype used in the HF folder */
    int permute_heads; /* q: T_HEADS, k: T_KV, else 0 */
    float *w;        /* HF layout values */
} tiny_tensor;

static tiny_tensor tiny[64];
static int n_tiny;

static void tiny_add(const char *name, const char *gname, int rows, int cols, int dtype, int ph)
{
    tiny_tensor *t = &tiny[n_tiny];
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->gname, sizeof t->gname, "%s", gname);
    t->rows = rows;
    t->cols = cols;
    t->dtype = dtype;
    t->permute_heads = ph;
    t->w = malloc((size_t)rows * cols * sizeof(float));
    for (int i = 0; i < rows * cols; i++) t->w[i] = (float)(((n_tiny * 131 + i * 7) % 17) - 8) / 16;
    n_tiny++;
}

static void tiny_build(void)
{
    tiny_add("model.embed_tokens.weight", "token_embd.weight", T_VOCAB, T_DIM, SAFETENSORS_F32, 0);
    tiny_add("model.norm.weight", "output_norm.weight", 1, T_DIM, SAFETENSORS_F32, 0);
    tiny_add("lm_head.weight", "output.weight", T_VOCAB, T_DIM, SAFETENSORS_BF16, 0);
    for (int l = 0; l < T_LAYERS; l++) {
        char h[64], g[64];
        struct {
            const char *hf, *gg;
            int rows, cols, dtype, ph;
        } L[] = {{"input_layernorm.weight", "attn_norm.weight", 1, T_DIM, SAFETENSORS_F32, 0},
                 {"self_attn.q_proj.weight", "attn_q.weight", T_NQ, T_DIM, SAFETENSORS_F16, T_HEADS},
                 {"self_attn.k_proj.weight", "attn_k.weight", T_NKV, T_DIM, SAFETENSORS_BF16, T_KV},
                 {"self_attn.v_proj.weight", "attn_v.weight", T_NKV, T_DIM, SAFETENSORS_F32, 0},
                 {"self_attn.o_proj.weight", "attn_output.weight", T_DIM, T_NQ, SAFETENSORS_F16, 0},
                 {"post_attention_layernorm.weight", "ffn_norm.weight", 1, T_DIM, SAFETENSORS_F32, 0},
                 {"mlp.gate_proj.weight", "ffn_gate.weight", T_HID, T_DIM, SAFETENSORS_F32, 0},
                 {"mlp.up_proj.weight", "ffn_up.weight", T_HID, T_DIM, SAFETENSORS_BF16, 0},
                 {"mlp.down_proj.weight", "ffn_down.weight", T_DIM, T_HID, SAFETENSORS_F16, 0}};
        for (size_t k = 0; k < sizeof L / sizeof *L; k++) {
            snprintf(h, sizeof h, "model.layers.%d.%s", l, L[k].hf);
            snprintf(g, sizeof g, "blk.%d.%s", l, L[k].gg);
            tiny_add(h, g, L[k].rows, L[k].cols, L[k].dtype, L[k].ph);
        }
    }
}

static const tiny_tensor *tiny_find(const char *name)
{
    for (int i = 0; i < n_tiny; i++)
        if (strcmp(tiny[i].name, name) == 0) return &tiny[i];
    return NULL;
}

/* ---------- writers ---------- */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { buf_put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { buf_put(b, &v, 8); }
static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    buf_put(b, s, strlen(s));
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(p, 1, n, f);
    fclose(f);
    return 0;
}

static uint16_t f32_to_f16(float x) /* exact for our multiples of 1/16 */
{
    uint32_t b;
    memcpy(&b, &x, 4);
    uint32_t sign = (b >> 16) & 0x8000;
    if ((b & 0x7fffffff) == 0) return (uint16_t)sign;
    int exp = (int)((b >> 23) & 0xff) - 127 + 15;
    return (uint16_t)(sign | (uint32_t)exp << 10 | ((b >> 13) & 0x3ff));
}

static void put_values(buf *d, const float *w, int n, int dtype)
{
    for (int i = 0; i < n; i++) {
        if (dtype == SAFETENSORS_F32) {
            buf_put(d, &w[i], 4);
        } else {
            uint32_t bits;
            memcpy(&bits, &w[i], 4);
            uint16_t h = dtype == SAFETENSORS_F16 ? f32_to_f16(w[i]) : (uint16_t)(bits >> 16);
            buf_put(d, &h, 2);
        }
    }
}

/* Write tensors [from, to) of the tiny model to a safetensors file. */
static void write_safetensors(const char *path, int from, int to)
{
    static const char *dt[] = {"F32", "F16", "BF16"};
    buf data = {0};
    json_t *hdr = json_object();
    json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
    for (int i = from; i < to; i++) {
        const tiny_tensor *t = &tiny[i];
        size_t begin = data.n;
        put_values(&data, t->w, t->rows * t->cols, t->dtype);
        json_t *shape = t->rows == 1 ? json_pack("[i]", t->cols) : json_pack("[i,i]", t->rows, t->cols);
        json_object_set_new(hdr, t->name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", dt[t->dtype], "shape", shape,
                                      "data_offsets", (json_int_t)begin, (json_int_t)data.n));
    }
    char *js = json_dumps(hdr, JSON_COMPACT);
    buf f = {0};
    put_u64(&f, strlen(js));
    buf_put(&f, js, strlen(js));
    buf_put(&f, data.p, data.n);
    write_bytes(path, f.p, f.n);
    free(js);
    json_decref(hdr);
    free(data.p);
    free(f.p);
}

static void write_config(const char *dir, int tied)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *c = json_pack(
        "{s:s,s:[s],s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:b,s:i,s:[i,i],"
        "s:{s:s,s:f,s:f,s:f,s:i}}",
        "model_type", "llama", "architectures", "LlamaForCausalLM", "hidden_size", T_DIM,
        "intermediate_size", T_HID, "num_hidden_layers", T_LAYERS, "num_attention_heads", T_HEADS,
        "num_key_value_heads", T_KV, "head_dim", T_HD, "vocab_size", T_VOCAB,
        "max_position_embeddings", 4096, "rope_theta", 500000.0, "rms_norm_eps", 1e-5,
        "tie_word_embeddings", tied, "bos_token_id", 7, "eos_token_id", 8, 9, "rope_scaling",
        "rope_type", "llama3", "factor", 8.0, "low_freq_factor", 1.0, "high_freq_factor", 4.0,
        "original_max_position_embeddings", 8192);
    json_dump_file(c, path, JSON_INDENT(1));
    json_decref(c);
}

/* The tiny model as a GGUF (all F32), q/k rows permuted the way llama.cpp's converter does. */
static void write_tiny_gguf(const char *path)
{
    buf b = {0}, data = {0};
    buf_put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, (uint64_t)n_tiny);
    put_u64(&b, 12);
    struct { const char *k; uint32_t v; } ints[] = {
        {"llama.embedding_length", T_DIM}, {"llama.feed_forward_length", T_HID},
        {"llama.block_count", T_LAYERS}, {"llama.attention.head_count", T_HEADS},
        {"llama.attention.head_count_kv", T_KV}, {"llama.attention.key_length", T_HD},
        {"llama.context_length", 4096}, {"tokenizer.ggml.bos_token_id", 7},
        {"tokenizer.ggml.eos_token_id", 8}};
    put_str(&b, "general.architecture");
    put_u32(&b, 8);
    put_str(&b, "llama");
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        put_str(&b, ints[i].k);
        put_u32(&b, 4);
        put_u32(&b, ints[i].v);
    }
    float theta = 500000.0f, eps = 1e-5f;
    put_str(&b, "llama.rope.freq_base");
    put_u32(&b, 6);
    buf_put(&b, &theta, 4);
    put_str(&b, "llama.attention.layer_norm_rms_epsilon");
    put_u32(&b, 6);
    buf_put(&b, &eps, 4);
    for (int i = 0; i < n_tiny; i++) {
        const tiny_tensor *t = &tiny[i];
        while (data.n % 32) buf_put(&data, "", 1);
        size_t off = data.n;
        for (int r = 0; r < t->rows; r++) {
            int src = r;
            if (t->permute_heads) { /* gguf row h*d + 2i + j holds hf row h*d + j*d/2 + i */
                int h = r / T_HD, rr = r % T_HD, i2 = rr / 2, j = rr % 2;
                src = h * T_HD + j * (T_HD / 2) + i2;
            }
            buf_put(&data, t->w + (size_t)src * t->cols, (size_t)t->cols * 4);
        }
        put_str(&b, t->gname);
        put_u32(&b, t->rows == 1 ? 1 : 2);
        put_u64(&b, (uint64_t)t->cols);
        if (t->rows > 1) put_u64(&b, (uint64_t)t->rows);
        put_u32(&b, 0);
        put_u64(&b, off);
    }
    while (b.n % 32) buf_put(&b, "", 1);
    buf_put(&b, data.p, data.n);
    write_bytes(path, b.p, b.n);
    free(b.p);
    free(data.p);
}

/* ---------- checks ---------- */

/* The same checkpoint held as stored: every matrix dequantizes to exactly the fp32 load's rows
 * (F16/BF16 tensors stay 16-bit; GGUF q/k rows are un-permuted on the stored bytes). n16 counts
 * the matrices kept in a 16-bit format. */
static int as_stored_matches(const model *f, const char *src, const model_shard *sh, int *n16)
{
    model a;
    if (model_load_as(src, sh, MODEL_WEIGHTS_AS_STORED, &a) != KV_OK) return 0;
    int ok = 1, L = f->cfg.n_layers;
    *n16 = 0;
    for (int i = -2; i < 7 * L; i++) {
        const qmatrix *mf = i == -2 ? &f->w.tok_embeddings : i == -1 ? &f->w.lm_head : &f->w.layer_mats[i];
        const qmatrix *ma = i == -2 ? &a.w.tok_embeddings : i == -1 ? &a.w.lm_head : &a.w.layer_mats[i];
        *n16 += ma->type == QTYPE_F16 || ma->type == QTYPE_BF16;
        float *row = malloc(sizeof(float) * (size_t)mf->cols);
        for (int64_t r = 0; r < mf->rows && ok; r++) {
            qtype_dequant_row(ma->type, (const char *)ma->data + r * ma->row_bytes, row, ma->cols);
            ok &= ma->rows == mf->rows && ma->cols == mf->cols &&
                  !memcmp(row, (const float *)mf->data + r * mf->cols, sizeof(float) * (size_t)mf->cols);
        }
        free(row);
    }
    model_free(&a);
    return ok;
}

/* The model's weights equal the tiny model's (sliced for its shard). */
static int tiny_matches(const model *m)
{
    const model_weights *w = &m->w;
    int ok = 1, lq = m->n_heads_local * T_HD, lkv = m->n_kv_heads_local * T_HD;
    int q0 = m->head0 * T_HD, kv0 = m->kv_head0 * T_HD, lh = m->hidden_dim_local, h0 = m->hidden0;
    struct { const char *name; const float *dst; int r0, nr, c0, nc; } whole[] = {
        {"model.embed_tokens.weight", F32(w->tok_embeddings), 0, T_VOCAB, 0, T_DIM},
        {"model.norm.weight", w->out_norm, 0, 1, 0, T_DIM},
        {"lm_head.weight", F32(w->lm_head), 0, T_VOCAB, 0, T_DIM}};
    for (int k = 0; k < 3; k++) {
        const tiny_tensor *t = tiny_find(whole[k].name);
        if (memcmp(t->w, whole[k].dst, (size_t)t->rows * t->cols * 4)) {
            fprintf(stderr, "mismatch in %s\n", t->name);
            ok = 0;
        }
    }
    for (int l = 0; l < T_LAYERS; l++) {
        struct { const char *suffix; const float *dst; int r0, nr, c0, nc; } s[] = {
            {"input_layernorm.weight", w->attn_norm + l * T_DIM, 0, 1, 0, T_DIM},
            {"self_attn.q_proj.weight", F32(w->wq[l]), q0, lq, 0, T_DIM},
            {"self_attn.k_proj.weight", F32(w->wk[l]), kv0, lkv, 0, T_DIM},
            {"self_attn.v_proj.weight", F32(w->wv[l]), kv0, lkv, 0, T_DIM},
            {"self_attn.o_proj.weight", F32(w->wo[l]), 0, T_DIM, q0, lq},
            {"post_attention_layernorm.weight", w->ffn_norm + l * T_DIM, 0, 1, 0, T_DIM},
            {"mlp.gate_proj.weight", F32(w->w_gate[l]), h0, lh, 0, T_DIM},
            {"mlp.up_proj.weight", F32(w->w_up[l]), h0, lh, 0, T_DIM},
            {"mlp.down_proj.weight", F32(w->w_down[l]), 0, T_DIM, h0, lh}};
        for (size_t k = 0; k < sizeof s / sizeof *s; k++) {
            char name[96];
            snprintf(name, sizeof name, "model.layers.%d.%s", l, s[k].suffix);
            const tiny_tensor *t = tiny_find(name);
            for (int r = 0; r < s[k].nr; r++)
                for (int c = 0; c < s[k].nc; c++) {
                    float want = t->w[(size_t)(s[k].r0 + r) * t->cols + s[k].c0 + c];
                    float got = s[k].dst[(size_t)r * s[k].nc + c];
                    if (!check_close(got, want, LOAD_ATOL, LOAD_RTOL)) {
                        if (ok) fprintf(stderr, "%s[%d][%d]: got %g want %g\n", name, s[k].r0 + r,
                                        s[k].c0 + c, got, want);
                        ok = 0;
                    }
                }
        }
    }
    return ok;
}

static void test_tiny_folders(void)
{
    char single[300], sharded[300], path[400], gg[300];
    snprintf(single, sizeof single, "%s/single", tmpdir);
    snprintf(sharded, sizeof sharded, "%s/sharded", tmpdir);
    mkdir(single, 0755);
    mkdir(sharded, 0755);
    write_config(single, 0);
    write_config(sharded, 0);
    snprintf(path, sizeof path, "%s/model.safetensors", single);
    write_safetensors(path, 0, n_tiny);
    /* shards split in the middle of layer 0 */
    int cut = 7;
    json_t *wm = json_object();
    for (int i = 0; i < n_tiny; i++)
        json_object_set_new(wm, tiny[i].name, json_string(i < cut ? "model-00001-of-00002.safetensors"
                                                                  : "model-00002-of-00002.safetensors"));
    json_t *index = json_pack("{s:{s:i},s:o}", "metadata", "total_size", 0, "weight_map", wm);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", sharded);
    json_dump_file(index, path, 0);
    json_decref(index);
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", sharded);
    write_safetensors(path, 0, cut);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", sharded);
    write_safetensors(path, cut, n_tiny);
    snprintf(gg, sizeof gg, "%s/tiny.gguf", tmpdir);
    write_tiny_gguf(gg);

    model_config c;
    CHECK(model_config_load(single, &c) == KV_OK, "config.json: %s", kv_lasterr());
    CHECK(c.dim == T_DIM && c.hidden_dim == T_HID && c.n_layers == T_LAYERS &&
              c.n_heads == T_HEADS && c.n_kv_heads == T_KV && c.head_dim == T_HD &&
              c.vocab_size == T_VOCAB && c.max_seq_len == 4096 && c.rope_theta == 500000.0 &&
              c.norm_eps == 1e-5 && !c.tied_embeddings, "config.json fields");
    CHECK(c.rope_llama3 && c.rope_factor == 8 && c.rope_low_freq_factor == 1 &&
              c.rope_high_freq_factor == 4 && c.rope_original_max_pos == 8192, "rope_scaling");
    CHECK(c.bos_id == 7 && c.eos_id == 8 && c.n_eos_ids == 2 && c.eos_ids[1] == 9,
          "bos %d eos %d (%d ids)", c.bos_id, c.eos_id, c.n_eos_ids);
    CHECK(strcmp(c.name, "single") == 0 && strcmp(c.arch, "llama") == 0, "name %s", c.name);
    CHECK(model_config_load(gg, &c) == KV_OK, "gguf config: %s", kv_lasterr());
    CHECK(c.dim == T_DIM && c.head_dim == T_HD && c.n_kv_heads == T_KV && c.vocab_size == T_VOCAB &&
              c.bos_id == 7 && c.eos_id == 8 && !c.tied_embeddings && c.rope_theta == 500000.0,
          "gguf config fields (vocab from token_embd)");

    const char *srcs[3] = {single, sharded, gg};
    const char *labels[3] = {"single safetensors", "sharded safetensors", "gguf (permuted q/k)"};
    for (int s = 0; s < 3; s++) {
        for (int tp = 1; tp <= 2; tp++)
            for (int rank = 0; rank < tp; rank++) {
                model m;
                model_shard sh = {tp, rank};
                int rc = model_load(srcs[s], &sh, &m);
                CHECK(rc == KV_OK, "%s tp %d: %s", labels[s], tp, kv_lasterr());
                if (rc) continue;
                CHECK(m.n_heads_local == T_HEADS / tp && m.n_kv_heads_local == T_KV / tp &&
                          m.hidden_dim_local == T_HID / tp && m.head0 == rank * T_HEADS / tp,
                      "%s local counts", labels[s]);
                CHECK(m.cfg.n_heads == T_HEADS, "config stays the full model's");
                CHECK(tiny_matches(&m), "%s tp %d rank %d: weights equal the written ones",
                      labels[s], tp, rank);
                int n16 = 0;
                CHECK(as_stored_matches(&m, srcs[s], &sh, &n16) && (s == 2 || n16 > 0),
                      "%s tp %d rank %d: held as stored (%d 16-bit matrices), dequantized = the fp32 load",
                      labels[s], tp, rank, n16);
                CHECK(strlen(m.hash) == 64, "hash");
                model_free(&m);
            }
    }
    model m;
    model_shard bad = {3, 0};
    CHECK(model_load(single, &bad, &m) == KV_ERR && strstr(kv_lasterr(), "tp = 3"),
          "tp not dividing heads: %s", kv_lasterr());
    bad = (model_shard){2, 2};
    CHECK(model_load(single, &bad, &m) == KV_ERR, "rank out of range");

    /* shape mismatch against the config names the tensor, expected and actual */
    write_config(single, 0);
    snprintf(path, sizeof path, "%s/config.json", single);
    json_t *cfg = json_load_file(path, 0, NULL);
    json_object_set_new(cfg, "intermediate_size", json_integer(16));
    json_dump_file(cfg, path, 0);
    json_decref(cfg);
    CHECK(model_load(single, NULL, &m) == KV_ERR &&
              strstr(kv_lasterr(), "model.layers.0.mlp.gate_proj.weight") &&
              strstr(kv_lasterr(), "(12, 8)") && strstr(kv_lasterr(), "(16, 8)"),
          "shape mismatch message: %s", kv_lasterr());
    write_config(single, 1); /* tied but lm_head present: fine, lm_head ignored */
    CHECK(model_load(single, NULL, &m) == KV_OK && m.w.lm_head.data == m.w.tok_embeddings.data,
          "tied: lm_head aliases the embeddings: %s", kv_lasterr());
    model_free(&m);
    write_config(single, 0);

    /* a missing shard, a tensor the index places in the wrong shard */
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", sharded);
    char moved[420];
    snprintf(moved, sizeof moved, "%s.moved", path);
    rename(path, moved);
    CHECK(model_load(sharded, NULL, &m) == KV_ERR && strstr(kv_lasterr(), "model-00002-of-00002"),
          "missing shard: %s", kv_lasterr());
    rename(moved, path);
    write_safetensors(path, cut + 1, n_tiny);
    CHECK(model_load(sharded, NULL, &m) == KV_ERR && strstr(kv_lasterr(), tiny[cut].name),
          "tensor missing from its shard: %s", kv_lasterr());
}

/* ---------- malformed safetensors ---------- */

static void st_expect_fail(const char *label, const char *header, const void *data, size_t n,
                           const char *needle)
{
    char path[400];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    buf f = {0};
    put_u64(&f, strlen(header));
    buf_put(&f, header, strlen(header));
    buf_put(&f, data, n);
    write_bytes(path, f.p, f.n);
    free(f.p);
    safetensors *st = NULL;
    int rc = safetensors_open(path, &st);
    CHECK(rc == KV_ERR && strstr(kv_lasterr(), path), "%s: expected an error naming the file: %s",
          label, kv_lasterr());
    if (needle)
        CHECK(strstr(kv_lasterr(), needle) != NULL, "%s: message lacks \"%s\": %s", label, needle,
              kv_lasterr());
    if (rc == KV_OK) safetensors_close(st);
}

static void test_malformed_safetensors(void)
{
    float z[16] = {0};
    st_expect_fail("bad JSON", "{\"a\": {\"dtype\": \"F32\",", z, sizeof z, "JSON");
    st_expect_fail("not an object", "[1, 2]", z, sizeof z, "object");
    st_expect_fail("wrong dtype", "{\"w\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                   z, sizeof z, "w");
    st_expect_fail("shape mismatch",
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", z, sizeof z,
                   "w");
    st_expect_fail("offsets out of range",
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[32],\"data_offsets\":[0,128]}}", z, sizeof z,
                   "w");
    st_expect_fail("offsets reversed",
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", z, sizeof z,
                   "w");
    st_expect_fail("negative dim",
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", z, sizeof z,
                   "w");
    st_expect_fail("huge dims",
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                   "\"data_offsets\":[0,16]}}", z, sizeof z, "w");
    st_expect_fail("overlap",
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", z, sizeof z,
                   "overlap");
    st_expect_fail("missing fields", "{\"w\":{\"dtype\":\"F32\"}}", z, sizeof z, "w");

    char path[400];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    uint64_t huge = (uint64_t)1 << 62;
    buf f = {0};
    put_u64(&f, huge);
    buf_put(&f, "{}", 2);
    write_bytes(path, f.p, f.n);
    free(f.p);
    safetensors *st;
    CHECK(safetensors_open(path, &st) == KV_ERR && strstr(kv_lasterr(), "header length"),
          "huge header length: %s", kv_lasterr());

    /* every truncation of a valid file fails (or, cut only in trailing padding, never crashes) */
    char single[400];
    snprintf(single, sizeof single, "%s/single/model.safetensors", tmpdir);
    char *data;
    size_t n;
    if (kv_read_file(single, &data, &n) != KV_OK) {
        CHECK(0, "read %s: %s", single, kv_lasterr());
        return;
    }
    int ok = 1;
    for (size_t cut = 0; cut < n; cut += (cut < 600 ? 1 : 7)) {
        write_bytes(path, data, cut);
        if (safetensors_open(path, &st) == KV_OK) {
            fprintf(stderr, "truncated at %zu of %zu opened\n", cut, n);
            safetensors_close(st);
            ok = 0;
        } else if (!strstr(kv_lasterr(), path)) {
            ok = 0;
        }
    }
    CHECK(ok, "every truncation of a %zu-byte safetensors file is rejected naming the file", n);
    free(data);
    CHECK(safetensors_open(tmpdir, &st) == KV_ERR && strstr(kv_lasterr(), "model.safetensors"),
          "folder without weights: %s", kv_lasterr());
}

/* ---------- GGUF models ---------- */

static void test_gguf_model_errors(void)
{
    model m;
    CHECK(model_load("/nonexistent/model.gguf", NULL, &m) == KV_ERR &&
              strstr(kv_lasterr(), "/nonexistent/model.gguf"), "missing model: %s", kv_lasterr());
    /* a tiny GGUF whose ffn_up has the wrong row count */
    char gg[400];
    snprintf(gg, sizeof gg, "%s/badshape.gguf", tmpdir);
    tiny_tensor *t = NULL;
    for (int i = 0; i < n_tiny; i++)
        if (strcmp(tiny[i].gname, "blk.1.ffn_up.weight") == 0) t = &tiny[i];
    t->rows = T_HID - 4;
    write_tiny_gguf(gg);
    t->rows = T_HID;
    CHECK(model_load(gg, NULL, &m) == KV_ERR && strstr(kv_lasterr(), "blk.1.ffn_up.weight") &&
              strstr(kv_lasterr(), "[8, 12]") && strstr(kv_lasterr(), "[8, 8"),
          "gguf shape mismatch message: %s", kv_lasterr());
}

static double json_num(json_t *v) { return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v); }

/* The demo model: config and weights against transformers' load of the same file. */
static void test_demo_gguf(void)
{
    if (!kv_file_exists(DEMO_GGUF)) {
        CHECK(0, "%s missing: run ./setup.sh", DEMO_GGUF);
        return;
    }
    model_config c;
    CHECK(model_config_load(DEMO_GGUF, &c) == KV_OK, "demo config: %s", kv_lasterr());
    CHECK(c.n_layers == 30 && c.n_heads == 9 && c.n_kv_heads == 3 && c.dim == 576 &&
              c.hidden_dim == 1536 && c.vocab_size == 49152 && c.tied_embeddings &&
              c.head_dim == 64 && c.rope_theta == 100000.0 && fabs(c.norm_eps - 1e-5) < 1e-12 &&
              !c.rope_llama3 && c.max_seq_len == 8192 && c.bos_id == 1 && c.eos_id == 2,
          "SmolLM2 config");
    model m;
    double t0 = kv_now();
    if (model_load(DEMO_GGUF, NULL, &m) != KV_OK) {
        CHECK(0, "demo load: %s", kv_lasterr());
        return;
    }
    printf("demo GGUF loaded in %.2f s (%.1f M floats)\n", kv_now() - t0, m.w.arena_bytes / 4e6);
    CHECK(m.w.lm_head.data == m.w.tok_embeddings.data, "tied lm_head");
    json_t *root = json_load_file(DEMO_WEIGHTS, 0, NULL);
    CHECK(root != NULL, "%s readable", DEMO_WEIGHTS);
    json_t *ts = json_object_get(root, "tensors"), *t;
    size_t i;
    const long d = 576, nq = 576, hid = 1536;
    int n_checked = 0;
    json_array_foreach(ts, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        json_t *rows = json_object_get(t, "rows"), *cols = json_object_get(t, "cols");
        json_t *vals = json_object_get(t, "values");
        const char *lp = strstr(name, "layers.");
        long l = lp ? atol(lp + 7) : 0;
        const float *base = NULL;
        long stride = d;
        if (strstr(name, "embed_tokens")) base = F32(m.w.tok_embeddings);
        else if (strstr(name, "q_proj")) base = F32(m.w.wq[l]);
        else if (strstr(name, "k_proj")) base = F32(m.w.wk[l]);
        else if (strstr(name, "v_proj")) base = F32(m.w.wv[l]);
        else if (strstr(name, "o_proj")) { base = F32(m.w.wo[l]); stride = nq; }
        else if (strstr(name, "gate_proj")) base = F32(m.w.w_gate[l]);
        else if (strstr(name, "up_proj")) base = F32(m.w.w_up[l]);
        else if (strstr(name, "down_proj")) { base = F32(m.w.w_down[l]); stride = hid; }
        else if (strstr(name, "input_layernorm")) base = m.w.attn_norm + l * d;
        else if (strstr(name, "post_attention_layernorm")) base = m.w.ffn_norm + l * d;
        else if (strcmp(name, "model.norm.weight") == 0) base = m.w.out_norm;
        CHECK(base != NULL, "known tensor %s", name);
        if (!base) continue;
        double max_err = 0;
        int ok = 1;
        for (size_t a = 0; a < json_array_size(vals); a++)
            for (size_t b = 0; b < json_array_size(cols); b++) {
                long r = json_is_null(rows) ? 0 : (long)json_integer_value(json_array_get(rows, a));
                long col = (long)json_integer_value(json_array_get(cols, b));
                double want = json_num(json_array_get(json_array_get(vals, a), b));
                double got = base[r * stride + col];
                if (!check_close(got, want, LOAD_ATOL, LOAD_RTOL)) ok = 0;
                if (fabs(got - want) > max_err) max_err = fabs(got - want);
                n_checked++;
            }
        CHECK(ok, "%s matches transformers (max err %g)", name, max_err);
    }
    CHECK(n_checked > 100, "spot values checked: %d", n_checked);
    /* raw GGUF rows (ggml order, q/k still permuted) against gguf-python's dequantize */
    gguf_file *g;
    if (gguf_open(DEMO_GGUF, &g) == KV_OK) {
        json_array_foreach(json_object_get(root, "gguf_tensors"), i, t) {
            const char *name = json_string_value(json_object_get(t, "name"));
            const gguf_tensor *gt = gguf_find_tensor(g, name);
            json_t *rows = json_object_get(t, "rows"), *cols = json_object_get(t, "cols");
            json_t *vals = json_object_get(t, "values");
            CHECK(gt != NULL, "GGUF tensor %s", name);
            if (!gt) continue;
            float *row = malloc((size_t)gt->dims[0] * sizeof *row);
            int ok = 1;
            for (size_t a = 0; a < json_array_size(rows); a++) {
                long r = (long)json_integer_value(json_array_get(rows, a));
                ok &= gguf_tensor_rows_to_f32(g, gt, r, 1, row) == KV_OK;
                for (size_t b = 0; b < json_array_size(cols); b++) {
                    long col = (long)json_integer_value(json_array_get(cols, b));
                    ok &= check_close(row[col], json_num(json_array_get(json_array_get(vals, a), b)),
                                      LOAD_ATOL, LOAD_RTOL);
                }
            }
            CHECK(ok, "%s (%s) dequantizes like gguf-python", name, gguf_type_str(gt->type));
            free(row);
        }
        gguf_close(g);
    } else {
        CHECK(0, "gguf_open demo: %s", kv_lasterr());
    }
    json_decref(root);

    /* tp = 3: every rank's slices are exactly the tp = 1 load's */
    const long hd = 64;
    for (int rank = 0; rank < 3; rank++) {
        model s;
        model_shard sh = {3, rank};
        if (model_load(DEMO_GGUF, &sh, &s) != KV_OK) {
            CHECK(0, "tp 3 rank %d: %s", rank, kv_lasterr());
            continue;
        }
        long lq = s.n_heads_local * hd, lkv = s.n_kv_heads_local * hd, lh = s.hidden_dim_local;
        long q0 = s.head0 * hd, kv0 = s.kv_head0 * hd, h0 = s.hidden0;
        int ok = lq == 192 && lkv == 64 && lh == 512 &&
                 !memcmp(s.w.tok_embeddings.data, m.w.tok_embeddings.data, 49152 * d * 4) &&
                 !memcmp(s.w.attn_norm, m.w.attn_norm, 30 * d * 4) &&
                 !memcmp(s.w.out_norm, m.w.out_norm, d * 4);
        for (long l = 0; l < 30 && ok; l++) {
            ok &= !memcmp(F32(s.w.wq[l]), F32(m.w.wq[l]) + q0 * d, lq * d * 4);
            ok &= !memcmp(F32(s.w.wk[l]), F32(m.w.wk[l]) + kv0 * d, lkv * d * 4);
            ok &= !memcmp(F32(s.w.wv[l]), F32(m.w.wv[l]) + kv0 * d, lkv * d * 4);
            ok &= !memcmp(F32(s.w.w_gate[l]), F32(m.w.w_gate[l]) + h0 * d, lh * d * 4);
            ok &= !memcmp(F32(s.w.w_up[l]), F32(m.w.w_up[l]) + h0 * d, lh * d * 4);
            for (long r = 0; r < d; r++) {
                ok &= !memcmp(F32(s.w.wo[l]) + r * lq, F32(m.w.wo[l]) + r * nq + q0, lq * 4);
                ok &= !memcmp(F32(s.w.w_down[l]) + r * lh, F32(m.w.w_down[l]) + r * hid + h0, lh * 4);
            }
        }
        CHECK(ok, "demo tp 3 rank %d = slices of the tp 1 load", rank);
        model_free(&s);
    }
    model_shard sh4 = {4, 0};
    model s4;
    CHECK(model_load(DEMO_GGUF, &sh4, &s4) == KV_ERR && strstr(kv_lasterr(), "tp = 4"),
          "tp 4 does not divide 9 heads: %s", kv_lasterr());
    model_free(&m);
}

/* ---------- random weights ---------- */

static void test_random(void)
{
    model a, b;
    CHECK(model_init_random("nope", 1, NULL, &a) == KV_ERR && strstr(kv_lasterr(), "nope"),
          "unknown shape");
    CHECK(model_init_random("smollm2-135m", 42, NULL, &a) == KV_OK, "random smollm2");
    CHECK(a.cfg.dim == 576 && a.cfg.n_layers == 30 && a.cfg.n_kv_heads == 3 &&
              a.cfg.tied_embeddings && a.cfg.rope_theta == 100000.0, "random config");
    double s = 0, s2 = 0;
    long per = (long)a.cfg.hidden_dim * a.cfg.dim, n = (long)a.cfg.n_layers * per;
    for (long i = 0; i < n; i++) {
        float x = F32(a.w.w_up[i / per])[i % per];
        s += x;
        s2 += (double)x * x;
    }
    double mean = s / n, sd = sqrt(s2 / n - mean * mean);
    /* 26.5M samples: the standard error of the mean is 4e-6, of the std well below 1e-4 */
    CHECK(fabs(mean) < 1e-4 && fabs(sd - 0.02) < 1e-4, "N(0, 0.02): mean %g std %g", mean, sd);
    CHECK(a.w.attn_norm[0] == 1.0f && a.w.out_norm[575] == 1.0f, "norms are 1");
    /* same seed, other thread count -> same bytes; other seed -> different */
    int threads = omp_get_max_threads();
    omp_set_num_threads(threads > 1 ? 1 : 3);
    CHECK(model_init_random("smollm2-135m", 42, NULL, &b) == KV_OK &&
              !memcmp(a.w.arena, b.w.arena, a.w.arena_bytes),
          "deterministic across thread counts (%d vs %d)", threads, threads > 1 ? 1 : 3);
    omp_set_num_threads(threads);
    model_free(&b);
    CHECK(model_init_random("smollm2-135m", 43, NULL, &b) == KV_OK &&
              memcmp(a.w.wq[0].data, b.w.wq[0].data, 4096) != 0, "seed changes weights");
    model_free(&b);
    model_shard sh = {3, 1};
    CHECK(model_init_random("smollm2-135m", 42, &sh, &b) == KV_OK, "random tp 3");
    long d = 576, lq = 192, lh = 512, hid = 1536;
    int ok = !memcmp(F32(b.w.wq[2]), F32(a.w.wq[2]) + lq * d, lq * d * 4) &&
             !memcmp(F32(b.w.w_up[5]), F32(a.w.w_up[5]) + lh * d, lh * d * 4);
    for (long r = 0; r < d; r++)
        ok &= !memcmp(F32(b.w.w_down[7]) + r * lh, F32(a.w.w_down[7]) + r * hid + lh, lh * 4);
    CHECK(ok, "random tp slices equal the full model's");
    model_free(&b);
    model_free(&a);
}

static void test_sha256(void)
{
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('')");
    sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc)");
    const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(s, strlen(s), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256 448 bits");
    sha256_ctx c;
    sha256_init(&c);
    char a[1000];
    memset(a, 'a', sizeof a);
    for (int i = 0; i < 1000; i++) sha256_update(&c, a, sizeof a);
    sha256_hex_final(&c, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256 1M a");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kvbench_loaders_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    tiny_build();
    test_sha256();
    test_tiny_folders();
    test_malformed_safetensors();
    test_gguf_model_errors();
    test_demo_gguf();
    test_random();
    for (int i = 0; i < n_tiny; i++) free(tiny[i].w);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report("test_loaders");
}
