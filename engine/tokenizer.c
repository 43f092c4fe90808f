/* tokenizer: byte-level BPE encode and decode, done the way Hugging Face `tokenizers` does it so
 * that ids match transformers exactly:
 *   1. added/special tokens are cut out of the raw text first (leftmost-longest, first the tokens
 *      with normalized=false, then those with normalized=true, honouring lstrip/rstrip/single_word);
 *   2. the rest goes through the pre-tokenizer steps (Split regex, ByteLevel regex, Digits), all
 *      PCRE2 with UTF+UCP and JIT;
 *   3. each piece is spelled in the byte-level alphabet and merged by BPE: with ignore_merges a
 *      piece that is itself a vocab token maps straight to it; otherwise the lowest-ranked adjacent
 *      pair is merged first (leftmost on ties), with a heap over a rank hash map as in HF word.rs.
 * Decode maps token characters back to bytes and repairs invalid UTF-8 as Rust's
 * String::from_utf8_lossy does. Loading lives in tokenizer_json.c and tokenizer_gguf.c. */
#include "engine/tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "util/hash.h"
#include "util/util.h"

/* The GPT-2 regex of HF's ByteLevel pre-tokenizer (use_regex=true). */
const char TOK_GPT2_REGEX[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* The Llama-3 split regex (tokenizer.json of Meta-Llama-3, llama.cpp "llama-bpe"). */
const char TOK_LLAMA3_REGEX[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Qwen2's split (llama.cpp "qwen2"): the Llama-3 regex with single digits. */
const char TOK_QWEN2_REGEX[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---------------------------------------------------------------- byte-level alphabet */

/* GPT-2 bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are
 * shifted to U+0100.. in byte order. */
static int byte_cp[256];
static int cp_byte[512]; /* inverse for code points < 512; -1 where none */
static int alphabet_ready;

static void alphabet_init(void)
{
    if (alphabet_ready) return;
    int n = 0;
    for (int i = 0; i < 512; i++) cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_cp[b] = printable ? b : 256 + n++;
        cp_byte[byte_cp[b]] = b;
    }
    alphabet_ready = 1;
}

int tok_byte_to_cp(unsigned char b)
{
    alphabet_init();
    return byte_cp[b];
}

static size_t utf8_put(unsigned cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t tok_bytes_spell(const unsigned char *bytes, size_t n, char *out)
{
    alphabet_init();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += utf8_put((unsigned)byte_cp[bytes[i]], out + k);
    return k;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (Unicode Table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF). *valid_prefix gets the length of the
 * longest prefix that could still start a valid sequence (the "maximal subpart"), >= 1. */
static int utf8_seq(const unsigned char *s, size_t n, int *valid_prefix)
{
    unsigned char b = s[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    *valid_prefix = 1;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else return 0;
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) return 0;
        unsigned char c = s[k];
        unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (c < l || c > h) return 0;
        *valid_prefix = k + 1;
    }
    return need + 1;
}

static unsigned utf8_cp(const unsigned char *s, int len)
{
    if (len == 1) return s[0];
    if (len == 2) return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    if (len == 3) return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

/* Rust char::is_whitespace (the Unicode White_Space property). */
static int cp_is_space(unsigned c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* ---------------------------------------------------------------- hash tables */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = kv_fnv1a(s, n, KV_FNV_SEED);
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

int tok_find_vocab(const tokenizer *t, const char *s, size_t len)
{
    size_t mask = t->vocab_cap - 1;
    for (size_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
        int id = t->vocab_slots[i];
        if (id < 0) return -1;
        if ((size_t)t->token_len[id] == len && !memcmp(t->tokens[id], s, len)) return id;
    }
}

static const tok_merge_slot *merge_find(const tokenizer *t, int a, int b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = t->merge_cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        const tok_merge_slot *s = &t->merges[i];
        if (s->rank < 0) return NULL;
        if (s->key == key) return s;
    }
}

static void merge_put(tok_merge_slot *slots, size_t cap, uint64_t key, int rank, int merged)
{
    size_t mask = cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (slots[i].rank < 0 || slots[i].key == key) {
            slots[i].key = key;
            slots[i].rank = rank;
            slots[i].merged = merged;
            return;
        }
    }
}

/* ---------------------------------------------------------------- builder */

tokenizer *tok_create(const char *source, int n_vocab)
{
    alphabet_init();
    tokenizer *t = kv_calloc(1, sizeof *t);
    t->source = kv_strdup(source);
    t->n_vocab = n_vocab;
    t->tokens = kv_calloc((size_t)n_vocab, sizeof *t->tokens);
    t->token_len = kv_calloc((size_t)n_vocab, sizeof *t->token_len);
    t->flags = kv_calloc((size_t)n_vocab, 1);
    t->vocab_cap = 16;
    while (t->vocab_cap < 2 * (size_t)n_vocab) t->vocab_cap *= 2;
    t->vocab_slots = kv_malloc(t->vocab_cap * sizeof *t->vocab_slots);
    memset(t->vocab_slots, 0xff, t->vocab_cap * sizeof *t->vocab_slots);
    t->merge_cap = 1024;
    t->merges = kv_malloc(t->merge_cap * sizeof *t->merges);
    for (size_t i = 0; i < t->merge_cap; i++) t->merges[i].rank = -1;
    t->bos_id = t->eos_id = t->unk_id = -1;
    snprintf(t->add_bos_source, sizeof t->add_bos_source, "no BOS rule in the tokenizer files");
    for (int b = 0; b < 256; b++) t->byte_ids[b] = -1;
    return t;
}

static int set_text(tokenizer *t, int id, const char *s, size_t len)
{
    if (id < 0 || id >= t->n_vocab) {
        kv_seterr("%s: token id %d out of range 0..%d", t->source, id, t->n_vocab - 1);
        return KV_ERR;
    }
    if (t->tokens[id]) {
        if ((size_t)t->token_len[id] == len && !memcmp(t->tokens[id], s, len)) return KV_OK;
        kv_seterr("%s: id %d is given to two different tokens ('%s' and '%.*s')", t->source, id,
                  t->tokens[id], (int)len, s);
        return KV_ERR;
    }
    t->tokens[id] = kv_malloc(len + 1);
    memcpy(t->tokens[id], s, len);
    t->tokens[id][len] = 0;
    t->token_len[id] = (int)len;
    return KV_OK;
}

int tok_set_vocab(tokenizer *t, int id, const char *s, size_t len)
{
    if (set_text(t, id, s, len)) return KV_ERR;
    t->flags[id] |= TOK_IN_VOCAB;
    /* A repeated spelling points at the later id, as a Python dict built from the list would. */
    size_t mask = t->vocab_cap - 1;
    for (size_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
        int old = t->vocab_slots[i];
        if (old < 0 || ((size_t)t->token_len[old] == len && !memcmp(t->tokens[old], s, len))) {
            t->vocab_slots[i] = id;
            return KV_OK;
        }
    }
}

int tok_add_merge(tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int rank)
{
    int ia = tok_find_vocab(t, a, alen), ib = tok_find_vocab(t, b, blen);
    if (ia < 0 || ib < 0) {
        kv_seterr("%s: merge %d '%.*s %.*s' refers to token '%.*s' that is not in the vocab", t->source,
                  rank, (int)alen, a, (int)blen, b, ia < 0 ? (int)alen : (int)blen, ia < 0 ? a : b);
        return KV_ERR;
    }
    char buf[512];
    char *cat = alen + blen <= sizeof buf ? buf : kv_malloc(alen + blen);
    memcpy(cat, a, alen);
    memcpy(cat + alen, b, blen);
    int im = tok_find_vocab(t, cat, alen + blen);
    if (cat != buf) free(cat);
    if (im < 0) {
        kv_seterr("%s: merge %d '%.*s %.*s': the merged token '%.*s%.*s' is not in the vocab", t->source,
                  rank, (int)alen, a, (int)blen, b, (int)alen, a, (int)blen, b);
        return KV_ERR;
    }
    if ((size_t)(t->n_merges + 1) * 2 > t->merge_cap) {
        size_t cap = t->merge_cap * 2;
        tok_merge_slot *slots = kv_malloc(cap * sizeof *slots);
        for (size_t i = 0; i < cap; i++) slots[i].rank = -1;
        for (size_t i = 0; i < t->merge_cap; i++)
            if (t->merges[i].rank >= 0)
                merge_put(slots, cap, t->merges[i].key, t->merges[i].rank, t->merges[i].merged);
        free(t->merges);
        t->merges = slots;
        t->merge_cap = cap;
    }
    /* A repeated pair keeps the later rank, as HF's HashMap collect does. */
    merge_put(t->merges, t->merge_cap, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib, rank, im);
    t->n_merges++;
    return KV_OK;
}

int tok_add_added(tokenizer *t, int id, const char *s, size_t len, int special, int lstrip, int rstrip,
                  int single_word, int normalized)
{
    if (len == 0) {
        kv_seterr("%s: added token %d is empty", t->source, id);
        return KV_ERR;
    }
    if (set_text(t, id, s, len)) return KV_ERR;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) { /* listed twice: the later flags win */
            t->added[i].special = special;
            t->flags[id] = (unsigned char)((t->flags[id] & ~TOK_SPECIAL) | (special ? TOK_SPECIAL : 0));
            return KV_OK;
        }
    if (t->n_added == t->added_cap) {
        t->added_cap = t->added_cap ? 2 * t->added_cap : 64;
        t->added = kv_realloc(t->added, (size_t)t->added_cap * sizeof *t->added);
    }
    t->added[t->n_added++] = (tok_added){.content = NULL, .len = (int)len, .id = id, .special = special,
                                         .lstrip = lstrip, .rstrip = rstrip, .single_word = single_word,
                                         .normalized = normalized};
    t->flags[id] |= TOK_ADDED | (special ? TOK_SPECIAL : 0);
    return KV_OK;
}

/* HF tokenizers runs its regexes with Oniguruma, whose Unicode \s includes U+0085 (NEL); PCRE2's
 * \s with UCP does not. Rewrite \s as [\s\x{85}] (inside a class: \s\x{85}) and \S outside a
 * class as [^\s\x{85}] so both engines split the same. */
static char *regex_fix_space(const char *p)
{
    size_t n = strlen(p);
    char *out = kv_malloc(n * 12 + 1), *o = out;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[++i];
            if (d == 's') o += sprintf(o, in_class ? "\\s\\x{85}" : "[\\s\\x{85}]");
            else if (d == 'S' && !in_class) o += sprintf(o, "[^\\s\\x{85}]");
            else {
                *o++ = c;
                *o++ = d;
            }
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            *o++ = c;
            if (p[i + 1] == '^') *o++ = p[++i];
            if (p[i + 1] == ']') *o++ = p[++i]; /* a leading ] is a literal */
            continue;
        }
        if (c == ']' && in_class) in_class = 0;
        *o++ = c;
    }
    *o = 0;
    return out;
}

static pcre2_code *regex_compile(const tokenizer *t, const char *pattern, int literal)
{
    int err;
    PCRE2_SIZE off;
    char *fixed = literal ? kv_strdup(pattern) : regex_fix_space(pattern);
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)fixed, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
    free(fixed);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        kv_seterr("%s: pre-tokenizer regex does not compile at offset %zu: %s (pattern: %s)", t->source,
                  (size_t)off, (char *)msg, pattern);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter where JIT is absent */
    return re;
}

static int add_step(tokenizer *t, pretok_step s)
{
    if (t->n_steps == (int)(sizeof t->steps / sizeof t->steps[0])) {
        kv_seterr("%s: more than %d pre-tokenizer steps", t->source, t->n_steps);
        if (s.re) pcre2_code_free(s.re);
        return KV_ERR;
    }
    t->steps[t->n_steps++] = s;
    return KV_OK;
}

int tok_add_split(tokenizer *t, const char *pattern, int literal, split_behavior behavior)
{
    pcre2_code *re = regex_compile(t, pattern, literal);
    if (!re) return KV_ERR;
    return add_step(t, (pretok_step){.kind = PRETOK_SPLIT, .re = re, .behavior = behavior});
}

int tok_add_bytelevel(tokenizer *t, int add_prefix_space, int use_regex)
{
    pcre2_code *re = NULL;
    if (use_regex && !(re = regex_compile(t, TOK_GPT2_REGEX, 0))) return KV_ERR;
    return add_step(t, (pretok_step){.kind = PRETOK_BYTELEVEL, .re = re, .add_prefix_space = add_prefix_space});
}

/* HF Digits: split on char::is_numeric (general category N), each digit alone or runs. */
int tok_add_digits(tokenizer *t, int individual)
{
    return tok_add_split(t, individual ? "\\p{N}" : "\\p{N}+", 0, SPLIT_ISOLATED);
}

static int added_cmp(const void *a, const void *b)
{
    const tok_added *x = a, *y = b;
    if (x->len != y->len) return y->len - x->len;
    return x->id - y->id;
}

int tok_finish(tokenizer *t)
{
    /* Byte-level BPE starts from the one-character token of each byte. A vocab may lack a few
     * (SmolLM2 has no token for 21 control and never-valid bytes): HF then uses unk_token, or
     * with none drops the byte. A vocab with hardly any is not byte-level at all. */
    int n_bytes = 0;
    for (int b = 0; b < 256; b++) {
        char s[4];
        unsigned char byte = (unsigned char)b;
        size_t n = tok_bytes_spell(&byte, 1, s);
        t->byte_ids[b] = tok_find_vocab(t, s, n);
        n_bytes += t->byte_ids[b] >= 0;
    }
    if (n_bytes < 128) {
        kv_seterr("%s: the vocab has tokens for only %d of the 256 bytes: not a byte-level BPE vocab (only "
                  "byte-level BPE tokenizers are supported)",
                  t->source, n_bytes);
        return KV_ERR;
    }
    for (int i = 0; i < t->n_added; i++) {
        t->added[i].content = t->tokens[t->added[i].id];
        if (t->added[i].single_word && !t->word_re && !(t->word_re = regex_compile(t, "^[\\p{L}\\p{N}]", 0)))
            return KV_ERR;
    }
    if (t->n_added > 0) /* qsort(NULL, 0, ...) is undefined (found by fuzz_tokenizer) */
        qsort(t->added, (size_t)t->n_added, sizeof *t->added, added_cmp);
    int count[256] = {0};
    for (int i = 0; i < t->n_added; i++) count[(unsigned char)t->added[i].content[0]]++;
    for (int b = 0; b < 256; b++) {
        if (!count[b]) continue;
        t->added_by_byte[b] = kv_malloc((size_t)(count[b] + 1) * sizeof(int));
        int k = 0;
        for (int i = 0; i < t->n_added; i++)
            if ((unsigned char)t->added[i].content[0] == b) t->added_by_byte[b][k++] = i;
        t->added_by_byte[b][k] = -1;
    }
    return KV_OK;
}

void tokenizer_free(tokenizer *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) free(t->tokens[i]);
    free(t->tokens);
    free(t->token_len);
    free(t->flags);
    free(t->vocab_slots);
    free(t->merges);
    free(t->added);
    for (int b = 0; b < 256; b++) free(t->added_by_byte[b]);
    for (int i = 0; i < t->n_steps; i++)
        if (t->steps[i].re) pcre2_code_free(t->steps[i].re);
    if (t->word_re) pcre2_code_free(t->word_re);
    free(t->chat_template);
    free(t->source);
    free(t);
}

/* ---------------------------------------------------------------- encode */

typedef struct {
    const char *p;
    int len;
} piece;

typedef struct {
    piece *v;
    int n, cap;
} piece_list;

static void pieces_push(piece_list *l, const char *p, int len)
{
    if (len <= 0) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = kv_realloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (piece){p, len};
}

typedef struct {
    int rank, pos, merged;
} bpe_entry;

/* Scratch reused across the pieces of one encode call. */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    piece_list a, b;
    char **prefixed; /* copies made by ByteLevel add_prefix_space */
    int n_prefixed;
    char *spell;
    size_t spell_cap;
    int *sym_id, *sym_prev, *sym_next, *sym_len;
    bpe_entry *heap;
    int sym_cap, heap_cap, heap_n;
    int *ids;
    int n_ids, ids_cap;
} encoder;

static void enc_emit(encoder *e, int id)
{
    if (e->n_ids == e->ids_cap) {
        e->ids_cap = e->ids_cap ? 2 * e->ids_cap : 1024;
        e->ids = kv_realloc(e->ids, (size_t)e->ids_cap * sizeof *e->ids);
    }
    e->ids[e->n_ids++] = id;
}

static int entry_less(bpe_entry a, bpe_entry b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(encoder *e, bpe_entry x)
{
    if (e->heap_n == e->heap_cap) {
        e->heap_cap = e->heap_cap ? 2 * e->heap_cap : 256;
        e->heap = kv_realloc(e->heap, (size_t)e->heap_cap * sizeof *e->heap);
    }
    int i = e->heap_n++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!entry_less(x, e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = x;
}

static bpe_entry heap_pop(encoder *e)
{
    bpe_entry top = e->heap[0], x = e->heap[--e->heap_n];
    int i = 0, n = e->heap_n;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && entry_less(e->heap[c + 1], e->heap[c])) c++;
        if (!entry_less(e->heap[c], x)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n > 0) e->heap[i] = x;
    return top;
}

static void push_pair(const tokenizer *t, encoder *e, int pos)
{
    int nx = e->sym_next[pos];
    if (nx < 0) return;
    const tok_merge_slot *m = merge_find(t, e->sym_id[pos], e->sym_id[nx]);
    if (m) heap_push(e, (bpe_entry){m->rank, pos, m->merged});
}

/* BPE of one pre-token (raw bytes). Follows HF tokenizers' Word::merge_all, including its check
 * that a popped merge still produces the same token. */
static void bpe_piece(const tokenizer *t, encoder *e, const unsigned char *p, int n)
{
    if (t->ignore_merges && n > 1) {
        if (e->spell_cap < 2 * (size_t)n) {
            e->spell_cap = 4 * (size_t)n;
            e->spell = kv_realloc(e->spell, e->spell_cap);
        }
        size_t k = tok_bytes_spell(p, (size_t)n, e->spell);
        int id = tok_find_vocab(t, e->spell, k);
        if (id >= 0) {
            enc_emit(e, id);
            return;
        }
    }
    if (e->sym_cap < n) {
        e->sym_cap = 2 * n;
        e->sym_id = kv_realloc(e->sym_id, (size_t)e->sym_cap * sizeof(int));
        e->sym_prev = kv_realloc(e->sym_prev, (size_t)e->sym_cap * sizeof(int));
        e->sym_next = kv_realloc(e->sym_next, (size_t)e->sym_cap * sizeof(int));
        e->sym_len = kv_realloc(e->sym_len, (size_t)e->sym_cap * sizeof(int));
    }
    /* Initial symbols, one per byte; a byte without a token becomes unk_token (runs fused with
     * fuse_unk) or, with no unk_token, is dropped, as HF BPE::merge_word does. */
    int n_sym = 0, prev_unk = 0;
    for (int i = 0; i < n; i++) {
        int id = t->byte_ids[p[i]], unk = id < 0;
        if (unk) {
            if (t->unk_id < 0) continue;
            if (t->fuse_unk && prev_unk) {
                e->sym_len[n_sym - 1]++;
                continue;
            }
            id = t->unk_id;
        }
        prev_unk = unk;
        e->sym_id[n_sym] = id;
        e->sym_prev[n_sym] = n_sym - 1;
        e->sym_next[n_sym] = n_sym + 1;
        e->sym_len[n_sym] = 1;
        n_sym++;
    }
    if (n_sym == 0) return;
    e->sym_next[n_sym - 1] = -1;
    n = n_sym;
    e->heap_n = 0;
    for (int i = 0; i + 1 < n; i++) push_pair(t, e, i);
    while (e->heap_n > 0) {
        bpe_entry top = heap_pop(e);
        int pos = top.pos;
        if (e->sym_len[pos] == 0) continue;
        int nx = e->sym_next[pos];
        if (nx < 0) continue;
        const tok_merge_slot *m = merge_find(t, e->sym_id[pos], e->sym_id[nx]);
        if (!m || m->merged != top.merged) continue;
        e->sym_id[pos] = top.merged;
        e->sym_len[pos] += e->sym_len[nx];
        e->sym_len[nx] = 0;
        e->sym_next[pos] = e->sym_next[nx];
        if (e->sym_next[pos] >= 0) e->sym_prev[e->sym_next[pos]] = pos;
        if (e->sym_prev[pos] >= 0) push_pair(t, e, e->sym_prev[pos]);
        push_pair(t, e, pos);
    }
    for (int i = 0; i >= 0; i = e->sym_next[i]) enc_emit(e, e->sym_id[i]);
}

/* Split every piece of `in` by a regex into `out` (HF Split with behavior Isolated or Removed:
 * matches and the gaps between them become pieces; Removed drops the matches). */
static int split_regex(const tokenizer *t, encoder *e, const pretok_step *s, const piece_list *in,
                       piece_list *out)
{
    out->n = 0;
    for (int i = 0; i < in->n; i++) {
        const char *p = in->v[i].p;
        size_t n = (size_t)in->v[i].len, off = 0, prev = 0;
        while (off <= n) {
            int rc = pcre2_match(s->re, (PCRE2_SPTR)p, n, off, PCRE2_NO_UTF_CHECK, e->md, e->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                kv_seterr("%s: pre-tokenizer regex failed on a %zu-byte piece: %s", t->source, n, (char *)msg);
                return KV_ERR;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
            size_t ms = ov[0], me = ov[1];
            if (me == ms) { /* empty match: no piece, step one character */
                off = ms + 1;
                while (off < n && ((unsigned char)p[off] & 0xC0) == 0x80) off++;
                continue;
            }
            pieces_push(out, p + prev, (int)(ms - prev));
            if (s->behavior == SPLIT_ISOLATED) pieces_push(out, p + ms, (int)(me - ms));
            prev = off = me;
        }
        pieces_push(out, p + prev, (int)(n - prev));
    }
    return KV_OK;
}

static int bytelevel_prefix(encoder *e, piece_list *l)
{
    for (int i = 0; i < l->n; i++) {
        if (l->v[i].p[0] == ' ') continue;
        char *c = kv_malloc((size_t)l->v[i].len + 1);
        c[0] = ' ';
        memcpy(c + 1, l->v[i].p, (size_t)l->v[i].len);
        e->prefixed = kv_realloc(e->prefixed, (size_t)(e->n_prefixed + 1) * sizeof *e->prefixed);
        e->prefixed[e->n_prefixed++] = c;
        l->v[i].p = c;
        l->v[i].len++;
    }
    return KV_OK;
}

/* Pre-tokenize one stretch of ordinary text and BPE each piece. */
static int encode_text(const tokenizer *t, encoder *e, const char *p, int n)
{
    if (n <= 0) return KV_OK;
    e->a.n = 0;
    pieces_push(&e->a, p, n);
    for (int k = 0; k < t->n_steps; k++) {
        const pretok_step *s = &t->steps[k];
        if (s->kind == PRETOK_BYTELEVEL && s->add_prefix_space) bytelevel_prefix(e, &e->a);
        if (!s->re) continue;
        if (split_regex(t, e, s, &e->a, &e->b)) return KV_ERR;
        piece_list tmp = e->a;
        e->a = e->b;
        e->b = tmp;
    }
    for (int i = 0; i < e->a.n; i++) bpe_piece(t, e, (const unsigned char *)e->a.v[i].p, e->a.v[i].len);
    return KV_OK;
}

/* Is the character ending at s[0..end) / starting at s[start..n) a word character (HF single_word
 * uses char::is_alphanumeric)? Letters and numbers by a small PCRE2 class. */
static int is_word_char(const tokenizer *t, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(t->word_re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_UTF_CHECK, md, NULL);
    pcre2_match_data_free(md);
    return rc > 0;
}

static int prev_char_start(const char *s, int i)
{
    do i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    return i;
}

/* HF AddedVocabulary::find_matches over s[0..n) with the tokens whose normalized flag equals
 * `normalized`; unmatched stretches go to `rest` (the next pass) as (offset,len) pieces and matched
 * tokens are emitted in order through the callback-free two-phase scheme below. */
typedef struct {
    int start, len, id; /* id >= 0: an added token; -1: text */
} segment;

static void segs_push(segment **v, int *n, int *cap, int start, int len, int id)
{
    if (id < 0 && len <= 0) return;
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = kv_realloc(*v, (size_t)*cap * sizeof **v);
    }
    (*v)[(*n)++] = (segment){start, len, id};
}

static void find_added(const tokenizer *t, const char *s, int base, int n, int normalized, segment **v,
                       int *nv, int *cap)
{
    int start_offset = 0;
    for (int i = 0; i < n;) {
        const int *cand = t->added_by_byte[(unsigned char)s[base + i]];
        const tok_added *hit = NULL;
        if (cand)
            for (; *cand >= 0; cand++) {
                const tok_added *a = &t->added[*cand];
                if (a->normalized != normalized || a->len > n - i) continue;
                if (memcmp(s + base + i, a->content, (size_t)a->len)) continue;
                if (a->single_word) {
                    int before = i > 0 && is_word_char(t, s + base + prev_char_start(s + base, i),
                                                       (size_t)(i - prev_char_start(s + base, i)));
                    int after = i + a->len < n && is_word_char(t, s + base + i + a->len, (size_t)(n - i - a->len));
                    if (before || after) continue;
                }
                hit = a;
                break;
            }
        if (!hit) {
            i++;
            continue;
        }
        int start = i, stop = i + hit->len;
        if (hit->lstrip) {
            int j = start;
            while (j > start_offset) {
                int k = prev_char_start(s + base, j);
                int sl = 0, vp;
                sl = utf8_seq((const unsigned char *)s + base + k, (size_t)(j - k), &vp);
                if (!sl || !cp_is_space(utf8_cp((const unsigned char *)s + base + k, sl))) break;
                j = k;
            }
            start = j;
        }
        if (hit->rstrip) {
            while (stop < n) {
                int vp, sl = utf8_seq((const unsigned char *)s + base + stop, (size_t)(n - stop), &vp);
                if (!sl || !cp_is_space(utf8_cp((const unsigned char *)s + base + stop, sl))) break;
                stop += sl;
            }
        }
        segs_push(v, nv, cap, base + start_offset, start - start_offset, -1);
        segs_push(v, nv, cap, base + start, stop - start, hit->id);
        start_offset = stop;
        i = stop;
    }
    segs_push(v, nv, cap, base + start_offset, n - start_offset, -1);
}

/* Offset of the first byte that is not valid UTF-8, or n. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int vp, k = utf8_seq(s + i, n - i, &vp);
        if (!k) return i;
        i += (size_t)k;
    }
    return n;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    if (len > (size_t)1 << 30) {
        kv_seterr("tokenizer_encode: text of %zu bytes is over the 1 GiB limit", len);
        return KV_ERR;
    }
    size_t bad = utf8_check((const unsigned char *)text, len);
    if (bad < len) {
        kv_seterr("tokenizer_encode: text is not valid UTF-8 at byte %zu (0x%02x)", bad, (unsigned char)text[bad]);
        return KV_ERR;
    }
    encoder e = {0};
    e.md = pcre2_match_data_create(1, NULL);
    e.mctx = pcre2_match_context_create(NULL);
    e.jit = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    pcre2_jit_stack_assign(e.mctx, NULL, e.jit);
    if (add_bos && t->bos_id >= 0) enc_emit(&e, t->bos_id);

    /* Pass 1: tokens with normalized=false on the raw text; pass 2: normalized=true tokens on what
     * is left (there is no normalizer, so "normalized" text is the text itself). */
    segment *s1 = NULL, *s2 = NULL;
    int n1 = 0, c1 = 0, n2 = 0, c2 = 0, rc = KV_OK;
    find_added(t, text, 0, (int)len, 0, &s1, &n1, &c1);
    for (int i = 0; i < n1; i++) {
        if (s1[i].id >= 0) segs_push(&s2, &n2, &c2, s1[i].start, s1[i].len, s1[i].id);
        else find_added(t, text, s1[i].start, s1[i].len, 1, &s2, &n2, &c2);
    }
    for (int i = 0; i < n2 && rc == KV_OK; i++) {
        if (s2[i].id >= 0) enc_emit(&e, s2[i].id);
        else rc = encode_text(t, &e, text + s2[i].start, s2[i].len);
    }
    free(s1);
    free(s2);
    pcre2_match_data_free(e.md);
    pcre2_match_context_free(e.mctx);
    pcre2_jit_stack_free(e.jit);
    for (int i = 0; i < e.n_prefixed; i++) free(e.prefixed[i]);
    free(e.prefixed);
    free(e.a.v);
    free(e.b.v);
    free(e.spell);
    free(e.sym_id);
    free(e.sym_prev);
    free(e.sym_next);
    free(e.sym_len);
    free(e.heap);
    if (rc) {
        free(e.ids);
        return KV_ERR;
    }
    if (!e.ids) e.ids = kv_malloc(sizeof(int));
    *ids = e.ids;
    *n = e.n_ids;
    return KV_OK;
}

/* ---------------------------------------------------------------- decode */

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1) + 64;
        b->p = kv_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* HF ByteLevel decoder: a token whose characters are all in the byte alphabet becomes those
 * bytes; any other token (an added token spelled with real spaces, say) is taken as it is. */
static void token_bytes(const char *s, int len, buf *out)
{
    unsigned char tmp[256];
    unsigned char *b = len <= (int)sizeof tmp ? tmp : kv_malloc((size_t)len);
    int k = 0, ok = 1;
    for (int i = 0; i < len;) {
        int vp, sl = utf8_seq((const unsigned char *)s + i, (size_t)(len - i), &vp);
        unsigned cp = sl ? utf8_cp((const unsigned char *)s + i, sl) : 0xFFFFFFFFu;
        if (!sl || cp >= 512 || cp_byte[cp] < 0) {
            ok = 0;
            break;
        }
        b[k++] = (unsigned char)cp_byte[cp];
        i += sl;
    }
    if (ok) buf_add(out, b, (size_t)k);
    else buf_add(out, s, (size_t)len);
    if (b != tmp) free(b);
}

/* Rust String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD. */
static void utf8_lossy(const unsigned char *s, size_t n, buf *out)
{
    static const char repl[] = "\xEF\xBF\xBD";
    size_t i = 0, run = 0;
    while (i < n) {
        int vp, k = utf8_seq(s + i, n - i, &vp);
        if (k) {
            i += (size_t)k;
            continue;
        }
        buf_add(out, s + run, i - run);
        buf_add(out, repl, 3);
        i += (size_t)vp;
        run = i;
    }
    buf_add(out, s + run, n - run);
}

/* transformers clean_up_tokenization: these replacements, in this order. */
static void cleanup_spaces(buf *b)
{
    static const char *from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're"};
    for (size_t r = 0; r < sizeof from / sizeof from[0]; r++) {
        size_t fl = strlen(from[r]), w = 0;
        for (size_t i = 0; i < b->n;) {
            if (i + fl <= b->n && !memcmp(b->p + i, from[r], fl)) {
                memmove(b->p + w, from[r] + 1, fl - 1); /* the same without the leading space */
                w += fl - 1;
                i += fl;
            } else b->p[w++] = b->p[i++];
        }
        b->n = w;
        b->p[w] = 0;
    }
}

int tokenizer_decode(const tokenizer *t, const int *ids, int n, int skip_special, int cleanup, char **text,
                     size_t *len)
{
    alphabet_init();
    buf bytes = {0}, out = {0};
    buf_add(&bytes, "", 0);
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->n_vocab) {
            free(bytes.p);
            kv_seterr("tokenizer_decode: id %d (position %d) is outside the vocab 0..%d", id, i, t->n_vocab - 1);
            return KV_ERR;
        }
        if (!t->tokens[id]) continue; /* a hole in the id space decodes to nothing, as in HF */
        if (skip_special && (t->flags[id] & TOK_SPECIAL)) continue;
        token_bytes(t->tokens[id], t->token_len[id], &bytes);
    }
    buf_add(&out, "", 0);
    utf8_lossy((const unsigned char *)bytes.p, bytes.n, &out);
    free(bytes.p);
    if (cleanup) cleanup_spaces(&out);
    *text = out.p;
    if (len) *len = out.n;
    return KV_OK;
}

/* ---------------------------------------------------------------- queries and loading */

int tokenizer_vocab_size(const tokenizer *t) { return t->n_vocab; }
int tokenizer_bos_id(const tokenizer *t) { return t->bos_id; }
int tokenizer_add_bos(const tokenizer *t) { return t->add_bos && t->bos_id >= 0; }
const char *tokenizer_add_bos_source(const tokenizer *t) { return t->add_bos_source; }
int tokenizer_eos_id(const tokenizer *t) { return t->eos_id; }
int tokenizer_cleanup_default(const tokenizer *t) { return t->cleanup_default; }
const char *tokenizer_chat_template(const tokenizer *t) { return t->chat_template; }

int tokenizer_is_special(const tokenizer *t, int id)
{
    return id >= 0 && id < t->n_vocab && (t->flags[id] & TOK_SPECIAL) != 0;
}

int tokenizer_token_id(const tokenizer *t, const char *token)
{
    size_t len = strlen(token);
    for (int i = 0; i < t->n_added; i++)
        if ((size_t)t->added[i].len == len && !memcmp(t->added[i].content, token, len)) return t->added[i].id;
    return tok_find_vocab(t, token, len);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

int tokenizer_load(const char *path, tokenizer **out)
{
    *out = NULL;
    if (kv_is_dir(path)) {
        size_t n = strlen(path) + 32;
        char *tj = kv_malloc(n), *tc = kv_malloc(n);
        snprintf(tj, n, "%s/tokenizer.json", path);
        snprintf(tc, n, "%s/tokenizer_config.json", path);
        int rc;
        if (!kv_file_exists(tj)) {
            kv_seterr("%s: no tokenizer.json in this model directory (expected an HF model directory, a "
                      "tokenizer.json or a .gguf file)", path);
            rc = KV_ERR;
        } else rc = tok_load_json(tj, kv_file_exists(tc) ? tc : NULL, out);
        free(tj);
        free(tc);
        return rc;
    }
    if (!kv_file_exists(path)) {
        kv_seterr("%s: no such file or directory (expected an HF model directory, a tokenizer.json or a .gguf "
                  "file)", path);
        return KV_ERR;
    }
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        if (fread(magic, 1, 4, f) != 4) magic[0] = 0;
        fclose(f);
    }
    if (!memcmp(magic, "GGUF", 4) || has_suffix(path, ".gguf")) {
        gguf_file *g;
        if (gguf_open(path, &g)) return KV_ERR;
        int rc = tokenizer_load_gguf(g, out);
        gguf_close(g);
        return rc;
    }
    /* A bare tokenizer.json: take tokenizer_config.json from the same folder when it is there. */
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path + 1) : 0;
    char *tc = kv_malloc(dl + 32);
    memcpy(tc, path, dl);
    strcpy(tc + dl, "tokenizer_config.json");
    int rc = tok_load_json(path, kv_file_exists(tc) ? tc : NULL, out);
    free(tc);
    return rc;
}
