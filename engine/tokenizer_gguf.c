/* tokenizer_gguf: builds the tokenizer a GGUF file describes in its tokenizer.ggml.* metadata.
 * Only byte-level BPE (tokenizer.ggml.model "gpt2") is supported. It follows transformers' GGUF
 * loader (integrations/gguf/gguf_tokenizer_mapping.py) for the vocab spelling and the added tokens
 * (type 3 CONTROL -> special, type 4 USER_DEFINED -> added, not special), and llama.cpp's
 * tokenizer.ggml.pre table for the pre-tokenizer, which for "smollm" & co. is also what the
 * models' own tokenizer.json says (Digits(individual_digits) then ByteLevel(use_regex)); plain
 * transformers would drop the Digits step there (see tools/golden_smollm2_tokenizer.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer_impl.h"
#include "util/util.h"

enum { GGUF_TOKEN_CONTROL = 3, GGUF_TOKEN_USER_DEFINED = 4 };

/* Every character of s is one of the 256 byte-level alphabet characters. */
static int in_alphabet(const char *s, size_t n)
{
    static int is_alpha_cp[512];
    static int ready;
    if (!ready) {
        for (int b = 0; b < 256; b++) is_alpha_cp[tok_byte_to_cp((unsigned char)b)] = 1;
        ready = 1;
    }
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp;
        size_t k;
        if (c < 0x80) cp = c, k = 1;
        else if ((c & 0xE0) == 0xC0 && i + 1 < n) cp = ((c & 0x1Fu) << 6) | ((unsigned char)s[i + 1] & 0x3Fu), k = 2;
        else return 0; /* every alphabet character is below U+0800 */
        if (cp >= 512 || !is_alpha_cp[cp]) return 0;
        i += k;
    }
    return 1;
}

typedef enum { PRE_GPT2, PRE_LLAMA3, PRE_QWEN2, PRE_DIGITS_GPT2 } pre_family;

/* llama.cpp's tokenizer.ggml.pre names, grouped by the pre-tokenizer they stand for. */
static int pre_lookup(const char *pre, size_t n, pre_family *fam, int *ignore_merges)
{
    static const struct {
        const char *name;
        pre_family fam;
        int ignore_merges;
    } table[] = {
        {"gpt2", PRE_GPT2, 0},         {"default", PRE_GPT2, 0},         {"llama3", PRE_LLAMA3, 1},
        {"llama-v3", PRE_LLAMA3, 1},    {"llama-bpe", PRE_LLAMA3, 1},     {"falcon3", PRE_LLAMA3, 1},
        {"falcon-h1", PRE_LLAMA3, 1},   {"pixtral", PRE_LLAMA3, 1},       {"midm-2.0", PRE_LLAMA3, 1},
        {"lfm2", PRE_LLAMA3, 1},        {"dbrx", PRE_LLAMA3, 0},          {"smaug-bpe", PRE_LLAMA3, 0},
        {"qwen2", PRE_QWEN2, 0},        {"deepseek-r1-qwen", PRE_QWEN2, 0}, {"megrez", PRE_QWEN2, 0},
        {"smollm", PRE_DIGITS_GPT2, 0}, {"starcoder", PRE_DIGITS_GPT2, 0}, {"refact", PRE_DIGITS_GPT2, 0},
        {"command-r", PRE_DIGITS_GPT2, 0}, {"codeshell", PRE_DIGITS_GPT2, 0}, {"exaone", PRE_DIGITS_GPT2, 0},
        {"minerva-7b", PRE_DIGITS_GPT2, 0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strlen(table[i].name) == n && !memcmp(table[i].name, pre, n)) {
            *fam = table[i].fam;
            *ignore_merges = table[i].ignore_merges;
            return 1;
        }
    return 0;
}

static int array_of(const gguf_file *g, const char *key, int want, size_t *n)
{
    int type;
    if (gguf_get_array_info(g, key, &type, n)) return KV_ERR;
    if (type != want) {
        kv_seterr("%s: %s is an array of type %d, expected %d", gguf_path(g), key, type, want);
        return KV_ERR;
    }
    return KV_OK;
}

/* The keys a byte-level BPE GGUF tokenizer needs, checked: model gpt2, a known pre-tokenizer, the
 * token and merge string arrays, token types (one per token) when present. */
static int gguf_tok_check(const gguf_file *g, pre_family *fam, int *ignore_merges, size_t *n_tokens,
                          size_t *n_merges, size_t *n_types)
{
    const char *path = gguf_path(g), *s;
    size_t len;
    if (!gguf_has_key(g, "tokenizer.ggml.model")) {
        kv_seterr("%s: no tokenizer.ggml.model key: this GGUF carries no tokenizer", path);
        return KV_ERR;
    }
    if (gguf_get_string(g, "tokenizer.ggml.model", &s, &len)) return KV_ERR;
    if (len != 4 || memcmp(s, "gpt2", 4)) {
        kv_seterr("%s: tokenizer.ggml.model '%.*s' is not supported (only 'gpt2', byte-level BPE)", path, (int)len,
                  s);
        return KV_ERR;
    }
    *fam = PRE_GPT2;
    *ignore_merges = 0;
    if (gguf_has_key(g, "tokenizer.ggml.pre")) {
        if (gguf_get_string(g, "tokenizer.ggml.pre", &s, &len)) return KV_ERR;
        if (!pre_lookup(s, len, fam, ignore_merges)) {
            kv_seterr("%s: tokenizer.ggml.pre '%.*s' is not supported (known: gpt2, llama-bpe/llama3, qwen2, "
                      "smollm/starcoder and their aliases)",
                      path, (int)len, s);
            return KV_ERR;
        }
    }
    if (array_of(g, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, n_tokens)) return KV_ERR;
    if (!gguf_has_key(g, "tokenizer.ggml.merges")) {
        kv_seterr("%s: tokenizer.ggml.merges is missing (a gpt2 tokenizer needs its merges)", path);
        return KV_ERR;
    }
    if (array_of(g, "tokenizer.ggml.merges", GGUF_TYPE_STRING, n_merges)) return KV_ERR;
    *n_types = 0;
    if (gguf_has_key(g, "tokenizer.ggml.token_type")) {
        int type;
        if (gguf_get_array_info(g, "tokenizer.ggml.token_type", &type, n_types)) return KV_ERR;
        if (*n_types != *n_tokens) {
            kv_seterr("%s: tokenizer.ggml.token_type has %zu entries for %zu tokens", path, *n_types, *n_tokens);
            return KV_ERR;
        }
    }
    if (*n_tokens == 0 || *n_tokens >= (1u << 30)) {
        kv_seterr("%s: tokenizer.ggml.tokens has %zu entries", path, *n_tokens);
        return KV_ERR;
    }
    return KV_OK;
}

/* The vocabulary: transformers re-spells a token written outside the byte alphabet in it. */
static int gguf_tok_vocab(const gguf_file *g, tokenizer *t, size_t n_tokens)
{
    const char *s;
    size_t len;
    char *spell = NULL;
    size_t spell_cap = 0;
    int rc = KV_OK;
    for (size_t i = 0; i < n_tokens && rc == KV_OK; i++) {
        if (gguf_get_array_string(g, "tokenizer.ggml.tokens", i, &s, &len)) {
            rc = KV_ERR;
        } else if (in_alphabet(s, len)) {
            rc = tok_set_vocab(t, (int)i, s, len);
        } else {
            if (spell_cap < 2 * len + 1) spell = kv_realloc(spell, spell_cap = 2 * len + 1);
            size_t k = tok_bytes_spell((const unsigned char *)s, len, spell);
            rc = tok_set_vocab(t, (int)i, spell, k);
        }
    }
    free(spell);
    return rc ? KV_ERR : KV_OK;
}

/* The merges ("left right", rank = index), then the control and user-defined tokens. */
static int gguf_tok_merges_added(const gguf_file *g, tokenizer *t, size_t n_merges, size_t n_types)
{
    const char *path = gguf_path(g), *s;
    size_t len;
    for (size_t i = 0; i < n_merges; i++) {
        if (gguf_get_array_string(g, "tokenizer.ggml.merges", i, &s, &len)) return KV_ERR;
        const char *sp = memchr(s, ' ', len);
        if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s))) {
            kv_seterr("%s: tokenizer.ggml.merges[%zu] '%.*s' is not two tokens separated by one space", path, i,
                      (int)len, s);
            return KV_ERR;
        }
        if (tok_add_merge(t, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp + 1 - s), (int)i)) return KV_ERR;
    }
    for (size_t i = 0; i < n_types; i++) {
        int64_t type;
        if (gguf_get_array_int(g, "tokenizer.ggml.token_type", i, &type)) return KV_ERR;
        if (type != GGUF_TOKEN_CONTROL && type != GGUF_TOKEN_USER_DEFINED) continue;
        if (gguf_get_array_string(g, "tokenizer.ggml.tokens", i, &s, &len)) return KV_ERR;
        /* A control token spelled outside the alphabet is a llama.cpp mislabel transformers skips;
         * a user-defined one is only added when its spelling is a vocab key. */
        if (!in_alphabet(s, len)) continue;
        if (tok_add_added(t, (int)i, s, len, type == GGUF_TOKEN_CONTROL, 0, 0, 0, 0)) return KV_ERR;
    }
    return KV_OK;
}

/* The pre-tokenizer pipeline of the family. */
static int gguf_tok_pretokenizer(const gguf_file *g, tokenizer *t, pre_family fam)
{
    switch (fam) {
    case PRE_GPT2: {
        int prefix = 0;
        if (gguf_has_key(g, "tokenizer.ggml.add_space_prefix") &&
            gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &prefix))
            return KV_ERR;
        return tok_add_bytelevel(t, prefix, 1);
    }
    case PRE_LLAMA3:
        return tok_add_split(t, TOK_LLAMA3_REGEX, 0, SPLIT_ISOLATED) || tok_add_bytelevel(t, 0, 0);
    case PRE_QWEN2:
        return tok_add_split(t, TOK_QWEN2_REGEX, 0, SPLIT_ISOLATED) || tok_add_bytelevel(t, 0, 0);
    case PRE_DIGITS_GPT2:
        return tok_add_digits(t, 1) || tok_add_bytelevel(t, 0, 1);
    }
    return KV_OK;
}

/* BOS and EOS ids (-1 when outside the vocabulary), whether to add BOS, the chat template. */
static int gguf_tok_special(const gguf_file *g, tokenizer *t, pre_family fam, int ignore_merges, size_t n_tokens)
{
    const char *s;
    size_t len;
    int64_t id;
    if (gguf_has_key(g, "tokenizer.ggml.bos_token_id")) {
        if (gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id)) return KV_ERR;
        t->bos_id = id >= 0 && id < (int64_t)n_tokens ? (int)id : -1;
    }
    /* add_bos_token when the file says; else llama.cpp's default (BOS for the Llama-3
     * pre-tokenizer family, none for other byte-level BPE vocabularies). */
    if (gguf_has_key(g, "tokenizer.ggml.add_bos_token")) {
        if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos)) return KV_ERR;
        snprintf(t->add_bos_source, sizeof t->add_bos_source, "GGUF tokenizer.ggml.add_bos_token");
    } else {
        t->add_bos = fam == PRE_LLAMA3 && ignore_merges;
        snprintf(t->add_bos_source, sizeof t->add_bos_source, "llama.cpp's default for this GGUF (no add_bos_token)");
    }
    if (gguf_has_key(g, "tokenizer.ggml.eos_token_id")) {
        if (gguf_get_int(g, "tokenizer.ggml.eos_token_id", &id)) return KV_ERR;
        t->eos_id = id >= 0 && id < (int64_t)n_tokens ? (int)id : -1;
    }
    if (gguf_has_key(g, "tokenizer.chat_template")) {
        if (gguf_get_string(g, "tokenizer.chat_template", &s, &len)) return KV_ERR;
        t->chat_template = kv_malloc(len + 1);
        memcpy(t->chat_template, s, len);
        t->chat_template[len] = 0;
    }
    return KV_OK;
}

int tokenizer_load_gguf(const gguf_file *g, tokenizer **out)
{
    *out = NULL;
    pre_family fam;
    int ignore_merges;
    size_t n_tokens, n_merges, n_types;
    if (gguf_tok_check(g, &fam, &ignore_merges, &n_tokens, &n_merges, &n_types)) return KV_ERR;
    tokenizer *t = tok_create(gguf_path(g), (int)n_tokens);
    t->ignore_merges = ignore_merges;
    if (gguf_tok_vocab(g, t, n_tokens) || gguf_tok_merges_added(g, t, n_merges, n_types) ||
        gguf_tok_pretokenizer(g, t, fam) || gguf_tok_special(g, t, fam, ignore_merges, n_tokens) || tok_finish(t)) {
        tokenizer_free(t);
        return KV_ERR;
    }
    *out = t;
    return KV_OK;
}
