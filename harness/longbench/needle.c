/* needle: haystack, depths, context with the needle inserted and the prompt of the
 * needle-in-a-haystack task family (see needle.h for the reference it follows). */
#include "harness/longbench/needle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/util.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int haystack_jsonl(const char *path, char **text, uint64_t *hash)
{
    lb_sample *smp;
    int n;
    if (lb_load_all(path, &smp, &n, hash) != KV_OK) return KV_ERR;
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(smp[i].context) + 2;
    char *t = kv_malloc(len + 1), *o = t;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(smp[i].context);
        if (i) memcpy(o, "\n\n", 2), o += 2;
        memcpy(o, smp[i].context, k), o += k;
    }
    *o = 0;
    lb_samples_free(smp, n);
    *text = t;
    return KV_OK;
}

int lb_needle_haystack_load(const char *path, char **text, uint64_t *hash)
{
    *text = NULL;
    int rc;
    if (ends_with(path, ".jsonl")) {
        rc = haystack_jsonl(path, text, hash);
    } else {
        size_t len;
        rc = kv_read_file(path, text, &len);
        if (rc == KV_OK) *hash = kv_fnv1a(*text, len, KV_FNV_SEED);
    }
    if (rc != KV_OK) return KV_ERR;
    if (!**text) {
        free(*text), *text = NULL;
        kv_seterr("haystack file '%s' holds no text: a text file, or a .jsonl with \"context\" fields", path);
        return KV_ERR;
    }
    return KV_OK;
}

void lb_needle_depths(int n, int *out)
{
    for (int i = 0; i < n; i++) out[i] = n == 1 ? 0 : (int)rint(100.0 * i / (n - 1)); /* half to even */
}

int lb_needle_sample_index(int length, int depth) { return length * 1000 + depth; }

void lb_needle_sample_split(int index, int *length, int *depth)
{
    *length = index / 1000;
    *depth = index % 1000;
}

/* The ids of at least `length` tokens of the haystack repeated end to end (the reference appends
 * its files again until the text holds max(lengths) tokens). Only a prefix of the text is encoded,
 * with room to spare, so the first `length` ids are those of the whole text. */
static int haystack_ids(const tokenizer *tok, const char *hay, int length, int **ids, int *n)
{
    size_t hl = strlen(hay), want = (size_t)length * 8 + 4096;
    for (;;) {
        size_t cap = want + hl + 1, len = 0;
        char *t = kv_malloc(cap);
        while (len < want) {
            size_t k = want - len < hl ? want - len : hl;
            memcpy(t + len, hay, k), len += k;
        }
        while (len > 0 && ((unsigned char)t[len - 1] & 0xC0) == 0x80) len--; /* whole code points only */
        if (len > 0 && (unsigned char)t[len - 1] >= 0xC0) len--;
        int rc = tokenizer_encode(tok, t, len, 0, ids, n);
        free(t);
        if (rc != KV_OK) return KV_ERR;
        if (*n >= length + 16) return KV_OK;
        free(*ids), *ids = NULL;
        want *= 2;
    }
}

static int encode_text(const tokenizer *tok, const char *text, int **ids, int *n)
{
    return tokenizer_encode(tok, text, strlen(text), 0, ids, n);
}

static int decode_ids(const tokenizer *tok, const int *ids, int n, char **out)
{
    size_t len;
    return tokenizer_decode(tok, ids, n, 1, tokenizer_cleanup_default(tok), out, &len);
}

/* insert_needle of the reference on the trimmed context's ids. */
static int insert_at(const tokenizer *tok, const int *ctx, int nc, const int *nd, int nn, int depth, int **out)
{
    int ip = nc;
    if (depth != 100) {
        int *period, np;
        if (encode_text(tok, ".", &period, &np) != KV_OK) return -1;
        ip = (int)(nc * (depth / 100.0));
        while (ip > 0) {
            int hit = 0;
            for (int k = 0; k < np; k++) hit |= ctx[ip - 1] == period[k];
            if (hit) break;
            ip--;
        }
        free(period);
    }
    *out = kv_malloc(sizeof(int) * (size_t)(nc + nn));
    memcpy(*out, ctx, sizeof(int) * (size_t)ip);
    memcpy(*out + ip, nd, sizeof(int) * (size_t)nn);
    memcpy(*out + ip + nn, ctx + ip, sizeof(int) * (size_t)(nc - ip));
    return ip;
}

int lb_needle_context(const tokenizer *tok, const char *haystack, const lb_needle_cfg *c, int length, int depth,
                      char **out, int *at, int *n_ctx)
{
    *out = NULL;
    int *hid = NULL, nh, *nd = NULL, nn, *ctx = NULL, nc, *all = NULL;
    char *trimmed = NULL;
    int rc = KV_ERR;
    /* encode_and_trim, then insert_needle's own encode of the trimmed text */
    if (haystack_ids(tok, haystack, length, &hid, &nh) != KV_OK || decode_ids(tok, hid, length, &trimmed) != KV_OK ||
        encode_text(tok, c->needle, &nd, &nn) != KV_OK || encode_text(tok, trimmed, &ctx, &nc) != KV_OK)
        goto done;
    int room = length - c->buffer;
    if (room - nn <= 0) {
        kv_seterr("needle length %d leaves no haystack: it must exceed the buffer (%d) plus the needle's %d tokens",
                  length, c->buffer, nn);
        goto done;
    }
    if (nc + nn > room) nc = room - nn;
    int ip = insert_at(tok, ctx, nc, nd, nn, depth, &all);
    if (ip < 0 || decode_ids(tok, all, nc + nn, out) != KV_OK) goto done;
    if (at) *at = ip;
    if (n_ctx) *n_ctx = nc + nn;
    rc = KV_OK;
done:
    free(hid), free(nd), free(ctx), free(all), free(trimmed);
    return rc;
}

static char *needle_prompt_text(const char *context, const char *question)
{
    static const char head[] = "<|im_start|> This is a very long story book: <book> ",
                      mid[] = " </book>.\n Based on the content of the book, Question: ", tail[] = "\nAnswer:";
    size_t n = strlen(head) + strlen(context) + strlen(mid) + strlen(question) + strlen(tail) + 1;
    char *t = kv_malloc(n);
    snprintf(t, n, "%s%s%s%s%s", head, context, mid, question, tail);
    return t;
}

int lb_needle_prompt(const tokenizer *tok, const char *haystack, const lb_needle_cfg *c, int length, int depth,
                     chat_format chat, lb_prompt *out)
{
    memset(out, 0, sizeof *out);
    char *context;
    if (lb_needle_context(tok, haystack, c, length, depth, &context, NULL, NULL) != KV_OK) return KV_ERR;
    char *text = needle_prompt_text(context, c->question);
    free(context);
    if (chat != CHAT_NONE) {
        char *wrapped = chat_wrap(chat, text);
        free(text);
        text = wrapped;
    }
    int rc = tokenizer_encode(tok, text, strlen(text), tokenizer_add_bos(tok), &out->ids, &out->n);
    free(text);
    out->n_full = out->n;
    return rc;
}

int lb_needle_gen_rules(const tokenizer *tok, const int *stop_ids, int n_stop_ids, lb_gen_rules *out)
{
    int *nl, n, extra[LB_MAX_STOP_IDS + 1], ne = 0;
    if (encode_text(tok, "\n", &nl, &n) != KV_OK) return KV_ERR;
    if (n > 0) extra[ne++] = nl[n - 1]; /* eos_token_id=[eos, encode("\n")[-1]] */
    free(nl);
    for (int i = 0; i < n_stop_ids && ne <= LB_MAX_STOP_IDS; i++) extra[ne++] = stop_ids[i];
    static const lb_task needle_task = {.name = LB_NEEDLE_TASK, .max_new_tokens = LB_NEEDLE_MAX_NEW_TOKENS};
    if (lb_gen_rules_get(&needle_task, PRESET_REFERENCE_HEAD, tok, extra, ne, out) != KV_OK) return KV_ERR;
    out->mask_first = 0; /* the reference's generate() has no min_length */
    return KV_OK;
}
