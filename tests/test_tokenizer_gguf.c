/* test_tokenizer_gguf: the tokenizer built from GGUF metadata.
 *  - SmolLM2-135M-Instruct (models/, from ./setup.sh): exact ids, decodes and ChatML wrapping
 *    against tests/data/smollm2_tokenizer_golden.jsonl, made by tools/golden_smollm2_tokenizer.py
 *    with transformers (news, Unicode, CJK, emoji, code, digit and whitespace runs, contractions,
 *    special tokens inside text, apply_chat_template of one user message).
 *  - Small GGUF files written here: a minimal gpt2 vocab with a control and a user-defined token,
 *    and the ways a GGUF tokenizer can be unsupported or broken (must fail with a message). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/chat.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "util/util.h"
#include "tests/check.h"

#define SMOLLM2_GGUF "models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define SMOLLM2_GOLDEN "tests/data/smollm2_tokenizer_golden.jsonl"

static int ids_equal(const int *a, int na, json_t *ref)
{
    if ((size_t)na != json_array_size(ref)) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != json_integer_value(json_array_get(ref, (size_t)i))) return 0;
    return 1;
}

static int *json_ids(json_t *arr, int *n)
{
    *n = (int)json_array_size(arr);
    int *ids = kv_malloc((size_t)(*n + 1) * sizeof *ids);
    for (int i = 0; i < *n; i++) ids[i] = (int)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}

static void test_smollm2(void)
{
    tokenizer *t = NULL;
    int rc = tokenizer_load(SMOLLM2_GGUF, &t);
    CHECK(rc == KV_OK, "load %s (run ./setup.sh to extract it): %s", SMOLLM2_GGUF, kv_lasterr());
    if (rc) return;
    CHECK(tokenizer_vocab_size(t) == 49152, "vocab %d", tokenizer_vocab_size(t));
    CHECK(tokenizer_bos_id(t) == 1 && tokenizer_eos_id(t) == 2, "bos %d eos %d", tokenizer_bos_id(t),
          tokenizer_eos_id(t));
    CHECK(tokenizer_is_special(t, 0) && tokenizer_is_special(t, 2) && tokenizer_is_special(t, 16) &&
              !tokenizer_is_special(t, 17),
          "control tokens 0..16 are special");
    CHECK(tokenizer_token_id(t, "<|im_end|>") == 2, "token lookup");
    CHECK(!tokenizer_add_bos(t) && strstr(tokenizer_add_bos_source(t), "tokenizer.ggml.add_bos_token"),
          "SmolLM2 adds no BOS (GGUF add_bos_token false, as its tokenizer.json): %s", tokenizer_add_bos_source(t));
    CHECK(tokenizer_cleanup_default(t) == 0, "no clean-up by default for a GGUF (transformers' default)");
    CHECK(tokenizer_chat_template(t) && strstr(tokenizer_chat_template(t), "named SmolLM"), "chat template");
    CHECK(chat_detect(t) == CHAT_CHATML, "chat_detect: ChatML");

    FILE *f = fopen(SMOLLM2_GOLDEN, "r");
    CHECK(f != NULL, "open %s", SMOLLM2_GOLDEN);
    char *line = NULL;
    size_t cap = 0;
    int n_enc = 0, n_dec = 0, n_chat = 0, lineno = 0;
    while (f && getline(&line, &cap, f) > 0) {
        lineno++;
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        CHECK(o != NULL, "golden line %d: %s", lineno, err.text);
        json_t *text = json_object_get(o, "text"), *prompt = json_object_get(o, "chat_prompt");
        if (text) {
            int *ids = NULL, n = 0;
            rc = tokenizer_encode(t, json_string_value(text), json_string_length(text), 0, &ids, &n);
            CHECK(rc == KV_OK && ids_equal(ids, n, json_object_get(o, "ids")), "line %d: ids differ for '%s'",
                  lineno, json_string_value(text));
            char *back = NULL;
            size_t len;
            tokenizer_decode(t, ids, n, 0, 0, &back, &len);
            CHECK(back && len == json_string_length(text) && !memcmp(back, json_string_value(text), len),
                  "line %d: decode(encode(x)) != x", lineno);
            free(back);
            free(ids);
            n_enc++;
        } else if (prompt) {
            const char *want = json_string_value(json_object_get(o, "chat_text"));
            char *w = chat_wrap(CHAT_CHATML, json_string_value(prompt));
            CHECK(want && !strcmp(w, want), "line %d: ChatML wrapping differs:\n%s\n---\n%s", lineno, w, want);
            int *ids = NULL, n = 0;
            rc = tokenizer_encode(t, w, strlen(w), 0, &ids, &n);
            CHECK(rc == KV_OK && ids_equal(ids, n, json_object_get(o, "chat_ids")), "line %d: chat ids differ",
                  lineno);
            free(ids);
            free(w);
            n_chat++;
        } else {
            int n;
            int *ids = json_ids(json_object_get(o, "ids"), &n);
            char *plain = NULL, *clean = NULL;
            size_t len;
            tokenizer_decode(t, ids, n, 0, 0, &plain, &len);
            tokenizer_decode(t, ids, n, 1, 1, &clean, &len);
            CHECK(plain && !strcmp(plain, json_string_value(json_object_get(o, "decode"))), "line %d: decode '%s'",
                  lineno, plain);
            CHECK(clean && !strcmp(clean, json_string_value(json_object_get(o, "decode_skip_clean"))),
                  "line %d: decode with skip_special + clean-up '%s'", lineno, clean);
            free(plain);
            free(clean);
            free(ids);
            n_dec++;
        }
        json_decref(o);
    }
    free(line);
    if (f) fclose(f);
    CHECK(n_enc >= 19 && n_dec >= 5 && n_chat >= 2, "golden lines: %d encode, %d decode, %d chat", n_enc, n_dec,
          n_chat);
    tokenizer_free(t);
}

/* ------------------------------------------------------------------ hand-written GGUF files */

typedef struct {
    FILE *f;
    int n_kv;
} gguf_writer;

static void w_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void w_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void w_str(FILE *f, const char *s)
{
    w_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}
static void kv_string(FILE *f, const char *key, const char *v)
{
    w_str(f, key);
    w_u32(f, GGUF_TYPE_STRING);
    w_str(f, v);
}
static void kv_u32(FILE *f, const char *key, uint32_t v)
{
    w_str(f, key);
    w_u32(f, GGUF_TYPE_UINT32);
    w_u32(f, v);
}
static void kv_strings(FILE *f, const char *key, const char **v, int n)
{
    w_str(f, key);
    w_u32(f, GGUF_TYPE_ARRAY);
    w_u32(f, GGUF_TYPE_STRING);
    w_u64(f, (uint64_t)n);
    for (int i = 0; i < n; i++) w_str(f, v[i]);
}
static void kv_ints(FILE *f, const char *key, const int32_t *v, int n)
{
    w_str(f, key);
    w_u32(f, GGUF_TYPE_ARRAY);
    w_u32(f, GGUF_TYPE_INT32);
    w_u64(f, (uint64_t)n);
    fwrite(v, 4, (size_t)n, f);
}

/* GPT-2 bytes_to_unicode spelling of byte b. */
static void byte_spell(int b, char out[3])
{
    int cp, n = 0;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) cp = b;
    else {
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) n++;
        cp = 256 + n;
    }
    memset(out, 0, 3);
    if (cp < 0x80) out[0] = (char)cp;
    else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
    }
}

/* A tokenizer-only GGUF: tokens = 256 bytes (id = byte), "ab" 256, "<ctl>" 257 (control),
 * "<usr>" 258 (user-defined); merges "a b" (+ `extra_merge` if given). */
static void kv_bool(FILE *f, const char *key, int v)
{
    w_str(f, key);
    w_u32(f, GGUF_TYPE_BOOL);
    fputc(v ? 1 : 0, f);
}

/* add_bos: -1 leaves tokenizer.ggml.add_bos_token out, 0/1 writes it. */
static const char *write_tiny_gguf_bos(const char *path, const char *model, const char *pre, const char *extra_merge,
                                       int add_bos)
{
    static char spelled[256][3];
    const char *tokens[259];
    int32_t types[259];
    for (int b = 0; b < 256; b++) {
        byte_spell(b, spelled[b]);
        tokens[b] = spelled[b];
        types[b] = 6; /* BYTE */
    }
    tokens[256] = "ab", types[256] = 1;
    tokens[257] = "<ctl>", types[257] = 3;
    tokens[258] = "<usr>", types[258] = 4;
    const char *merges[2] = {"a b", extra_merge};
    FILE *f = fopen(path, "wb");
    fwrite("GGUF", 1, 4, f);
    w_u32(f, 3);
    w_u64(f, 0); /* tensors */
    w_u64(f, (uint64_t)(7 + (pre != NULL) + (add_bos >= 0)));
    kv_string(f, "general.architecture", "llama");
    kv_string(f, "tokenizer.ggml.model", model);
    if (pre) kv_string(f, "tokenizer.ggml.pre", pre);
    kv_strings(f, "tokenizer.ggml.tokens", tokens, 259);
    kv_ints(f, "tokenizer.ggml.token_type", types, 259);
    kv_strings(f, "tokenizer.ggml.merges", merges, extra_merge ? 2 : 1);
    kv_u32(f, "tokenizer.ggml.bos_token_id", 257);
    kv_u32(f, "tokenizer.ggml.eos_token_id", 258);
    if (add_bos >= 0) kv_bool(f, "tokenizer.ggml.add_bos_token", add_bos);
    for (long pad = (32 - ftell(f) % 32) % 32; pad > 0; pad--) fputc(0, f); /* data section alignment */
    fclose(f);
    return path;
}

static const char *write_tiny_gguf(const char *path, const char *model, const char *pre, const char *extra_merge)
{
    return write_tiny_gguf_bos(path, model, pre, extra_merge, -1);
}

static int encode_is(const tokenizer *t, const char *text, const int *want, int nwant)
{
    int *ids, n;
    if (tokenizer_encode(t, text, strlen(text), 0, &ids, &n)) return 0;
    int ok = n == nwant && !memcmp(ids, want, (size_t)n * sizeof *ids);
    if (!ok) {
        fprintf(stderr, "encode('%s') =", text);
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fputc('\n', stderr);
    }
    free(ids);
    return ok;
}

static void test_tiny_gguf(const char *dir)
{
    char path[512];
    tokenizer *t = NULL;
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    int rc = tokenizer_load(write_tiny_gguf(path, "gpt2", "smollm", NULL), &t);
    CHECK(rc == KV_OK, "tiny gguf: %s", kv_lasterr());
    if (!rc) {
        /* Digits(individual) then the GPT-2 regex: " 12" is " ", "1", "2"; "ab" merges. */
        CHECK(encode_is(t, "ab 12<ctl>x<usr>", (int[]){256, 32, 49, 50, 257, 120, 258}, 7), "tiny gguf encode");
        CHECK(tokenizer_is_special(t, 257) && !tokenizer_is_special(t, 258), "control special, user-defined not");
        CHECK(tokenizer_bos_id(t) == 257 && tokenizer_eos_id(t) == 258, "bos/eos ids");
        char *s = NULL;
        size_t len;
        tokenizer_decode(t, (int[]){256, 257, 258}, 3, 1, 0, &s, &len);
        CHECK(s && !strcmp(s, "ab<usr>"), "skip_special drops only the control token: '%s'", s);
        free(s);
        tokenizer_free(t);
    }
    snprintf(path, sizeof path, "%s/tiny_gpt2.gguf", dir);
    rc = tokenizer_load(write_tiny_gguf(path, "gpt2", NULL, NULL), &t);
    CHECK(rc == KV_OK && encode_is(t, "ab 12", (int[]){256, 32, 49, 50}, 4), "no pre key: GPT-2 ByteLevel");
    if (!rc) tokenizer_free(t);

    static const struct {
        const char *name, *model, *pre, *merge, *want;
    } bad[] = {
        {"spm.gguf", "llama", "default", NULL, "tokenizer.ggml.model 'llama' is not supported"},
        {"bert.gguf", "bert", NULL, NULL, "'bert' is not supported"},
        {"pre.gguf", "gpt2", "deepseek-coder", NULL, "tokenizer.ggml.pre 'deepseek-coder' is not supported"},
        {"merge.gguf", "gpt2", "gpt2", "q zz", "token 'zz' that is not in the vocab"},
        {"merge2.gguf", "gpt2", "gpt2", "abab", "not two tokens"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, bad[i].name);
        t = (tokenizer *)1;
        rc = tokenizer_load(write_tiny_gguf(path, bad[i].model, bad[i].pre, bad[i].merge), &t);
        CHECK(rc == KV_ERR && t == NULL && strstr(kv_lasterr(), bad[i].want) && strstr(kv_lasterr(), bad[i].name),
              "%s: '%s'", bad[i].name, kv_lasterr());
    }
    /* BOS follows tokenizer.ggml.add_bos_token when present, else llama.cpp's default (Llama-3
     * pre-tokenizers add it, other byte-level BPE vocabularies do not). */
    static const struct {
        const char *pre;
        int key, want;
        const char *source;
    } bos[] = {
        {"smollm", 1, 1, "GGUF tokenizer.ggml.add_bos_token"}, {"llama-bpe", 0, 0, "GGUF tokenizer.ggml.add_bos_token"},
        {"llama-bpe", -1, 1, "default"},                       {"smollm", -1, 0, "default"},
    };
    for (size_t i = 0; i < sizeof bos / sizeof bos[0]; i++) {
        snprintf(path, sizeof path, "%s/bos%zu.gguf", dir, i);
        rc = tokenizer_load(write_tiny_gguf_bos(path, "gpt2", bos[i].pre, NULL, bos[i].key), &t);
        CHECK(rc == KV_OK, "bos case %zu: %s", i, kv_lasterr());
        if (rc) continue;
        int *ids = NULL, n = 0;
        tokenizer_encode(t, "ab", 2, tokenizer_add_bos(t), &ids, &n);
        CHECK(tokenizer_add_bos(t) == bos[i].want && strstr(tokenizer_add_bos_source(t), bos[i].source) &&
                  n == 1 + bos[i].want && ids[0] == (bos[i].want ? 257 : 256),
              "pre %s, add_bos_token %d: add_bos %d (%s)", bos[i].pre, bos[i].key, tokenizer_add_bos(t),
              tokenizer_add_bos_source(t));
        free(ids);
        tokenizer_free(t);
    }
    /* Truncated file: the GGUF reader's error comes through. */
    snprintf(path, sizeof path, "%s/cut.gguf", dir);
    write_tiny_gguf(path, "gpt2", "smollm", NULL);
    CHECK(truncate(path, 200) == 0, "truncate");
    t = (tokenizer *)1;
    CHECK(tokenizer_load(path, &t) == KV_ERR && t == NULL && strstr(kv_lasterr(), "cut.gguf"), "truncated gguf: %s",
          kv_lasterr());
}

int main(void)
{
    char dir[] = "/tmp/kvbench_tokg_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_smollm2();
    test_tiny_gguf(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return check_report("test_tokenizer_gguf");
}
