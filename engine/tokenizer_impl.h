/* tokenizer_impl: the tokenizer's private state and the small builder API its two loaders
 * (tokenizer_json.c for Hugging Face tokenizer.json, tokenizer_gguf.c for GGUF metadata) use to
 * fill it. Only engine/tokenizer*.c include this; everyone else sees the opaque handle of
 * engine/tokenizer.h. */
#ifndef KV_TOKENIZER_IMPL_H
#define KV_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

/* Per-id flags. */
enum { TOK_IN_VOCAB = 1, TOK_ADDED = 2, TOK_SPECIAL = 4 };

/* One added token (tokenizer.json "added_tokens", or a GGUF control/user-defined token). */
typedef struct {
    const char *content; /* points into tokenizer.tokens[id] */
    int len, id;
    int special, lstrip, rstrip, single_word, normalized;
} tok_added;

/* A pre-tokenizer step. Each one only splits pieces (ByteLevel may also prepend a space); the
 * byte-to-unicode mapping of ByteLevel is folded into the BPE step. */
typedef enum { PRETOK_SPLIT, PRETOK_BYTELEVEL } pretok_kind;
typedef enum { SPLIT_ISOLATED, SPLIT_REMOVED } split_behavior;
typedef struct {
    pretok_kind kind;
    pcre2_code *re;          /* SPLIT, and BYTELEVEL with use_regex (the GPT-2 regex); else NULL */
    split_behavior behavior; /* SPLIT */
    int add_prefix_space;    /* BYTELEVEL */
} pretok_step;

/* Merge table slot: key = (left id << 32) | right id; empty when rank < 0. */
typedef struct {
    uint64_t key;
    int32_t rank, merged;
} tok_merge_slot;

struct tokenizer {
    char *source;         /* the file it came from, for messages */
    int n_vocab;          /* max id + 1 over vocab and added tokens */
    char **tokens;        /* (n_vocab) token text as stored (byte-level spelling), NUL-terminated; NULL for holes */
    int *token_len;       /* (n_vocab) */
    unsigned char *flags; /* (n_vocab) TOK_* */

    int32_t *vocab_slots; /* open-addressing hash of the model vocab: id or -1 */
    size_t vocab_cap;     /* power of two */
    tok_merge_slot *merges;
    size_t merge_cap;     /* power of two */
    int n_merges;
    int ignore_merges;    /* a pre-token already in the vocab maps straight to its id */
    int byte_ids[256];    /* id of the one-character token of each byte, -1 where the vocab has none */
    int unk_id;           /* model.unk_token, -1 if none */
    int fuse_unk;         /* consecutive unknown bytes become one unk_token */

    tok_added *added;     /* (n_added) sorted by length, longest first */
    int n_added;
    int added_cap;
    int *added_by_byte[256]; /* indices into added[] starting with that byte, longest first, -1 ended */

    pcre2_code *word_re;     /* letter-or-number test for single_word tokens; NULL if none */
    pretok_step steps[8];
    int n_steps;

    int bos_id, eos_id;
    /* HF add_special_tokens=True: whether encoding for the model prepends BOS, and what said so
     * (tokenizer_config.json add_bos_token, the tokenizer.json post_processor, GGUF metadata). */
    int add_bos;
    char add_bos_source[96];
    int cleanup_default;  /* clean_up_tokenization_spaces of tokenizer_config.json */
    char *chat_template;
};

/* Builder: tok_create, then tokens/merges/added tokens/steps, then tok_finish. Every function
 * returns KV_OK/KV_ERR with kv_lasterr() naming t->source. */
tokenizer *tok_create(const char *source, int n_vocab);
int tok_set_vocab(tokenizer *t, int id, const char *s, size_t len);
int tok_add_merge(tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int rank);
int tok_add_added(tokenizer *t, int id, const char *s, size_t len, int special, int lstrip,
                  int rstrip, int single_word, int normalized);
int tok_add_split(tokenizer *t, const char *pattern, int literal, split_behavior behavior);
int tok_add_bytelevel(tokenizer *t, int add_prefix_space, int use_regex);
int tok_add_digits(tokenizer *t, int individual);
int tok_finish(tokenizer *t);
int tok_find_vocab(const tokenizer *t, const char *s, size_t len); /* model vocab id or -1 */

/* Byte-level spelling (GPT-2 bytes_to_unicode): the code point standing for each byte. */
int tok_byte_to_cp(unsigned char b);
/* Write the UTF-8 byte-level spelling of bytes[0..n) to out (room for 2n bytes); returns length. */
size_t tok_bytes_spell(const unsigned char *bytes, size_t n, char *out);

/* The GPT-2 pre-tokenizer regex (HF ByteLevel use_regex) and the Llama-3 split regex. */
extern const char TOK_GPT2_REGEX[];
extern const char TOK_LLAMA3_REGEX[];
extern const char TOK_QWEN2_REGEX[];

int tok_load_json(const char *path, const char *config_path, tokenizer **out);

#endif
