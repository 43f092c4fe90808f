/* test_tokenizer: the byte-level BPE tokenizer against independent references.
 *  - Llama-3 (tests/data/llama3_tokenizer.json.xz, the shared tokenizer): exact ids of the golden
 *    texts (made with HF tokenizers), decode(encode(x)) == x, the DESIGN §5 chat wrapper ids,
 *    clean-up rules, from_utf8_lossy repair of broken byte sequences, encode speed.
 *  - Small hand-made tokenizer.json files: ignore_merges, merges as strings and as pairs, added
 *    tokens with lstrip/rstrip/special, Split Removed, add_prefix_space (expected ids checked
 *    once with HF tokenizers), and malformed files that must fail with a message, not crash. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/chat.h"
#include "engine/tokenizer.h"
#include "util/util.h"
#include "tests/check.h"

/* A 100k-character text must encode well under a second (LongBench contexts, re-encoded on
 * truncation); the measured rate is printed. */
#define ENCODE_100K_MAX_SECONDS 1.0

static char tmpdir[] = "/tmp/kvbench_tok_XXXXXX";

static char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

static int ids_equal(const int *a, int na, json_t *ref)
{
    if ((size_t)na != json_array_size(ref)) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != json_integer_value(json_array_get(ref, (size_t)i))) return 0;
    return 1;
}

static int encode_is(const tokenizer *t, const char *text, const int *want, int nwant)
{
    int *ids, n;
    if (tokenizer_encode(t, text, strlen(text), 0, &ids, &n)) {
        fprintf(stderr, "encode failed: %s\n", kv_lasterr());
        return 0;
    }
    int ok = n == nwant && !memcmp(ids, want, (size_t)n * sizeof *ids);
    if (!ok) {
        fprintf(stderr, "encode('%s') =", text);
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fputc('\n', stderr);
    }
    free(ids);
    return ok;
}

static char *decode_str(const tokenizer *t, const int *ids, int n, int skip, int cleanup)
{
    char *s = NULL;
    size_t len;
    if (tokenizer_decode(t, ids, n, skip, cleanup, &s, &len)) return kv_strdup("(decode failed)");
    return s;
}

/* ------------------------------------------------------------------ Llama-3 */

static int llama3_byte_id(const tokenizer *t, unsigned char b)
{
    /* GPT-2 bytes_to_unicode, written out independently of the library */
    int cp, n = 0;
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) cp = b;
    else {
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) n++;
        cp = 256 + n;
    }
    char s[4] = {0};
    if (cp < 0x80) s[0] = (char)cp;
    else {
        s[0] = (char)(0xC0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3F));
    }
    return tokenizer_token_id(t, s);
}

static void test_llama3(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "xz -dc tests/data/llama3_tokenizer.json.xz > %s/llama3/tokenizer.json && "
             "cp tests/data/llama3_tokenizer_config.json %s/llama3/tokenizer_config.json && "
             "xz -dc tests/data/llama3_tokenizer_golden.jsonl.xz > %s/llama3_golden.jsonl",
             tmpdir, tmpdir, tmpdir);
    char mk[600];
    snprintf(mk, sizeof mk, "mkdir -p %s/llama3", tmpdir);
    int ok = !run(mk) && !run(cmd);
    CHECK(ok, "unpacking the Llama-3 test data (needs xz)");
    if (!ok) return;

    tokenizer *t = NULL;
    double t0 = kv_now();
    int rc = tokenizer_load(tmp_path("llama3"), &t);
    double load_s = kv_now() - t0;
    CHECK(rc == KV_OK, "load: %s", kv_lasterr());
    if (rc) return;
    printf("llama3: loaded in %.3f s\n", load_s);
    CHECK(tokenizer_vocab_size(t) == 128256, "vocab %d", tokenizer_vocab_size(t));
    CHECK(tokenizer_bos_id(t) == 128000, "bos %d", tokenizer_bos_id(t));
    CHECK(tokenizer_eos_id(t) == 128009, "eos %d", tokenizer_eos_id(t));
    CHECK(tokenizer_add_bos(t) && !strcmp(tokenizer_add_bos_source(t), "tokenizer.json post_processor"),
          "Llama-3 adds BOS from its TemplateProcessing post-processor (%s)", tokenizer_add_bos_source(t));
    CHECK(tokenizer_is_special(t, 128000) && tokenizer_is_special(t, 128255) && !tokenizer_is_special(t, 100),
          "special flags");
    CHECK(tokenizer_token_id(t, "<|eot_id|>") == 128009 && tokenizer_token_id(t, "Hello") == 9906,
          "token lookup");
    CHECK(tokenizer_cleanup_default(t) == 1, "clean_up_tokenization_spaces from tokenizer_config.json");
    CHECK(chat_detect(t) == CHAT_LLAMA3, "chat_detect from the chat template");

    /* Golden ids and round trip. */
    FILE *f = fopen(tmp_path("llama3_golden.jsonl"), "r");
    CHECK(f != NULL, "golden file");
    char *line = NULL;
    size_t cap = 0;
    int n_golden = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        json_t *text = json_object_get(o, "text"), *ref = json_object_get(o, "ids");
        int *ids = NULL, n = 0;
        rc = tokenizer_encode(t, json_string_value(text), json_string_length(text), 0, &ids, &n);
        CHECK(rc == KV_OK && ids_equal(ids, n, ref), "golden %d: ids differ (%d vs %zu)", n_golden, n,
              json_array_size(ref));
        char *back = decode_str(t, ids, n, 0, 0);
        CHECK(strlen(back) == json_string_length(text) && !strcmp(back, json_string_value(text)),
              "golden %d: decode(encode(x)) != x", n_golden);
        free(back);
        free(ids);
        json_decref(o);
        n_golden++;
    }
    free(line);
    if (f) fclose(f);
    CHECK(n_golden == 43, "golden texts: %d", n_golden);

    /* DESIGN §5: the wrapped prompt is encoded WITH BOS, so it starts 128000, 128000, 128006. */
    char *wrapped = chat_wrap(CHAT_LLAMA3, "What is 1+1?");
    CHECK(!strcmp(wrapped, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 1+1?<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\n"),
          "llama3 wrapper text: %s", wrapped);
    {
        static const int want[] = {128000, 128000, 128006, 882, 128007, 271,   3923,   374, 220,
                                   16,     10,     16,     30,  128009, 128006, 78191, 128007, 271};
        int *ids, n;
        rc = tokenizer_encode(t, wrapped, strlen(wrapped), 1, &ids, &n);
        CHECK(rc == KV_OK && n == 18 && !memcmp(ids, want, sizeof want), "wrapped prompt ids (n=%d)", n);
        char *skip = decode_str(t, ids, n, 1, 0);
        CHECK(!strcmp(skip, "user\n\nWhat is 1+1?assistant\n\n"), "decode skipping specials: '%s'", skip);
        free(skip);
        free(ids);
    }
    free(wrapped);

    /* clean_up_tokenization_spaces: the ten replacements in order (" n't" turns "I n't" into
     * "In't"; " 't" is not a rule). Expected text from HF decode + transformers' clean-up. */
    {
        const char *s = "Hello , world . Really ? Yes ! a ' b don 't I n't it 's we 've they 're I 'm";
        int *ids, n;
        tokenizer_encode(t, s, strlen(s), 0, &ids, &n);
        char *c = decode_str(t, ids, n, 0, 1), *nc = decode_str(t, ids, n, 0, 0);
        CHECK(!strcmp(c, "Hello, world. Really? Yes! a' b don 't In't it's we've they're I'm"), "cleanup: '%s'", c);
        CHECK(!strcmp(nc, s), "no cleanup: '%s'", nc);
        free(c);
        free(nc);
        free(ids);
    }

    /* Broken UTF-8 from byte tokens: one U+FFFD per maximal invalid subpart (Rust from_utf8_lossy,
     * Python bytes.decode(errors="replace")). */
    {
        static const struct {
            unsigned char bytes[6];
            int n;
            const char *want;
        } cases[] = {
            {{0xE2, 0x82, 0xAC}, 3, "\xE2\x82\xAC"},               /* a whole euro sign */
            {{0xE2, 0x82, 'a'}, 3, "\xEF\xBF\xBD" "a"},            /* truncated 3-byte: one U+FFFD */
            {{0xF0, 0x80, 0x80}, 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* overlong lead: three */
            {{0xED, 0xA0, 0x80}, 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate: three */
            {{0xC0, 0xAF}, 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},
            {{0xF4, 0x90, 0x80, 0x80}, 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
            {{'x', 0xF0, 0x9F, 0x99}, 4, "x\xEF\xBF\xBD"},         /* emoji cut at the end: one */
            {{0xFF, 'y'}, 2, "\xEF\xBF\xBDy"},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            int ids[6];
            for (int i = 0; i < cases[k].n; i++) ids[i] = llama3_byte_id(t, cases[k].bytes[i]);
            char *s = decode_str(t, ids, cases[k].n, 0, 0);
            CHECK(!strcmp(s, cases[k].want), "lossy case %zu: got '%s'", k, s);
            free(s);
        }
    }

    /* Invalid UTF-8 input is refused with the byte offset. */
    {
        int *ids, n;
        CHECK(tokenizer_encode(t, "ok\xC3(", 4, 0, &ids, &n) == KV_ERR && strstr(kv_lasterr(), "byte 2"),
              "invalid input: %s", kv_lasterr());
    }

    /* Speed: >= 100k characters of real prose. */
    {
        size_t cap2 = 0, len = 0;
        char *big = NULL;
        f = fopen(tmp_path("llama3_golden.jsonl"), "r");
        line = NULL;
        cap = 0;
        while (f && len < 100000) {
            if (getline(&line, &cap, f) <= 0) {
                rewind(f);
                continue;
            }
            json_t *o = json_loads(line, 0, NULL);
            json_t *text = json_object_get(o, "text");
            size_t l = json_string_length(text);
            if (len + l + 1 > cap2) big = kv_realloc(big, cap2 = 2 * (len + l + 1));
            memcpy(big + len, json_string_value(text), l);
            len += l;
            big[len] = 0;
            json_decref(o);
        }
        free(line);
        if (f) fclose(f);
        int *ids, n;
        t0 = kv_now();
        rc = tokenizer_encode(t, big, len, 1, &ids, &n);
        double dt = kv_now() - t0;
        CHECK(rc == KV_OK && dt < ENCODE_100K_MAX_SECONDS, "encode of %zu bytes took %.3f s", len, dt);
        printf("llama3: encoded %zu bytes to %d ids in %.4f s (%.2f M bytes/s)\n", len, rc ? 0 : n, dt,
               len / dt / 1e6);
        if (!rc) free(ids);
        free(big);
    }
    tokenizer_free(t);
}

/* ------------------------------------------------------------------ small hand-made files */

/* GPT-2 bytes_to_unicode spelling of byte b as a UTF-8 string. */
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

/* A tokenizer.json with the 256 byte tokens (id = byte), "ab" 256, "abc" 257, three added
 * tokens, merges a+b only, ByteLevel(use_regex) pre-tokenizer. */
static json_t *tiny_json(int ignore_merges, int pair_merges)
{
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        char s[3];
        byte_spell(b, s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    json_object_set_new(vocab, "ab", json_integer(256));
    json_object_set_new(vocab, "abc", json_integer(257));
    json_t *merges = pair_merges ? json_pack("[[s,s]]", "a", "b") : json_pack("[s]", "a b");
    json_t *model = json_pack("{s:s,s:n,s:n,s:b,s:o,s:o}", "type", "BPE", "dropout", "unk_token", "ignore_merges",
                              ignore_merges, "vocab", vocab, "merges", merges);
    json_t *added = json_pack("[{s:i,s:s,s:b,s:b,s:b,s:b,s:b},{s:i,s:s,s:b,s:b,s:b,s:b,s:b},"
                              "{s:i,s:s,s:b,s:b,s:b,s:b,s:b}]",
                              "id", 258, "content", "<X>", "special", 1, "lstrip", 0, "rstrip", 0, "normalized", 0,
                              "single_word", 0, "id", 259, "content", "[L]", "special", 0, "lstrip", 1, "rstrip", 0,
                              "normalized", 1, "single_word", 0, "id", 260, "content", "[R]", "special", 0, "lstrip",
                              0, "rstrip", 1, "normalized", 1, "single_word", 0);
    json_t *pre = json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                            "use_regex", 1);
    json_t *dec = json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets", 1,
                            "use_regex", 1);
    return json_pack("{s:s,s:o,s:n,s:o,s:o,s:o}", "version", "1.0", "added_tokens", added, "normalizer",
                     "pre_tokenizer", pre, "decoder", dec, "model", model);
}

static tokenizer *load_json_obj(json_t *root, const char *name)
{
    char *path = tmp_path(name);
    json_dump_file(root, path, 0);
    json_decref(root);
    tokenizer *t = NULL;
    if (tokenizer_load(path, &t)) fprintf(stderr, "load %s: %s\n", name, kv_lasterr());
    return t;
}

static void test_tiny(void)
{
    /* ignore_merges: a pre-token that is a vocab entry maps straight to it ("abc" has no merge). */
    tokenizer *t = load_json_obj(tiny_json(1, 0), "tiny_ignore.json");
    CHECK(t != NULL, "tiny tokenizer loads");
    if (!t) return;
    CHECK(encode_is(t, "abc abc", (int[]){257, 32, 256, 99}, 4), "ignore_merges");
    CHECK(encode_is(t, "x <X> y", (int[]){120, 32, 258, 32, 121}, 5), "special token in text");
    CHECK(encode_is(t, "a   [L]b", (int[]){97, 259, 98}, 3), "lstrip takes the spaces before");
    CHECK(encode_is(t, "a[R]  b", (int[]){97, 260, 98}, 3), "rstrip takes the spaces after");
    CHECK(encode_is(t, "<X<X>>", (int[]){60, 88, 258, 62}, 4), "partial match stays text");
    {
        char *s = decode_str(t, (int[]){120, 258, 121}, 3, 1, 0), *k = decode_str(t, (int[]){120, 258, 121}, 3, 0, 0);
        char *l = decode_str(t, (int[]){97, 259, 98}, 3, 1, 0);
        CHECK(!strcmp(s, "xy") && !strcmp(k, "x<X>y"), "skip_special: '%s' '%s'", s, k);
        CHECK(!strcmp(l, "a[L]b"), "non-special added tokens survive skip_special: '%s'", l);
        free(s);
        free(k);
        free(l);
    }
    CHECK(tokenizer_is_special(t, 258) && !tokenizer_is_special(t, 259), "special flag of added tokens");
    CHECK(tokenizer_bos_id(t) == -1 && chat_detect(t) == CHAT_NONE, "no config: no bos, no chat format");
    tokenizer_free(t);

    /* A byte without a token is dropped (no unk_token), or becomes unk_token, fused with fuse_unk. */
    json_t *root = tiny_json(0, 0);
    json_object_del(json_object_get(json_object_get(root, "model"), "vocab"), "z");
    t = load_json_obj(root, "tiny_noz.json");
    CHECK(t && encode_is(t, "zazb z", (int[]){256, 32}, 2), "missing byte dropped (a, b then merge)");
    tokenizer_free(t);
    root = tiny_json(0, 0);
    json_object_del(json_object_get(json_object_get(root, "model"), "vocab"), "z");
    json_object_set_new(json_object_get(root, "model"), "unk_token", json_string("!"));
    json_object_set_new(json_object_get(root, "model"), "fuse_unk", json_true());
    t = load_json_obj(root, "tiny_unk.json");
    CHECK(t && encode_is(t, "zzazb", (int[]){33, 97, 33, 98}, 4), "missing bytes -> fused unk_token");
    tokenizer_free(t);

    t = load_json_obj(tiny_json(0, 1), "tiny_pairs.json");
    CHECK(t != NULL, "merges as pairs load");
    if (t) CHECK(encode_is(t, "abc abc", (int[]){256, 99, 32, 256, 99}, 5), "no ignore_merges, pair merges");
    tokenizer_free(t);

    /* Split(String " ", Removed) then ByteLevel without regex; and ByteLevel add_prefix_space. */
    root = tiny_json(0, 0);
    json_object_set_new(root, "pre_tokenizer",
                        json_pack("{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]}", "type", "Sequence",
                                  "pretokenizers", "type", "Split", "pattern", "String", " ", "behavior", "Removed",
                                  "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                                  "use_regex", 0));
    t = load_json_obj(root, "tiny_split.json");
    if (t) CHECK(encode_is(t, "ab  c", (int[]){256, 99}, 2), "Split Removed");
    CHECK(t != NULL, "split tokenizer loads");
    tokenizer_free(t);
    root = tiny_json(0, 0);
    json_object_set_new(root, "pre_tokenizer", json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space",
                                                         1, "trim_offsets", 1, "use_regex", 1));
    t = load_json_obj(root, "tiny_prefix.json");
    if (t) CHECK(encode_is(t, "abc", (int[]){32, 256, 99}, 3), "add_prefix_space");
    CHECK(t != NULL, "prefix tokenizer loads");
    tokenizer_free(t);
}

/* A malformed file must give KV_ERR, no tokenizer, and a message containing `want`. */
/* BOS from the tokenizer's own setting: the post_processor's template, or tokenizer_config.json
 * add_bos_token where the tokenizer class honours it (HF's Llama/Gemma classes). */
static void test_add_bos(void)
{
    json_t *tmpl = json_loads("{\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, "
                              "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<X>\", "
                              "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
                              "\"special_tokens\": {\"<X>\": {\"id\": \"<X>\", \"ids\": [258], \"tokens\": [\"<X>\"]}}}]}",
                              0, NULL);
    static const struct {
        int template;
        const char *config; /* tokenizer_config.json, or NULL for none */
        int want;
    } cases[] = {
        {1, NULL, 1},
        {0, NULL, 0},
        {1, "{\"tokenizer_class\": \"LlamaTokenizerFast\", \"add_bos_token\": false}", 0},
        {0, "{\"tokenizer_class\": \"LlamaTokenizerFast\", \"add_bos_token\": true, \"bos_token\": \"<X>\"}", 1},
        {1, "{\"tokenizer_class\": \"PreTrainedTokenizerFast\", \"add_bos_token\": false}", 1},
        {0, "{\"tokenizer_class\": \"GPT2Tokenizer\", \"add_bos_token\": true, \"bos_token\": \"<X>\"}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[64], mk[600];
        snprintf(dir, sizeof dir, "bos%zu", i);
        snprintf(mk, sizeof mk, "mkdir -p %s", tmp_path(dir));
        run(mk);
        json_t *root = tiny_json(0, 0);
        if (cases[i].template) json_object_set(root, "post_processor", tmpl);
        char name[96];
        snprintf(name, sizeof name, "%s/tokenizer.json", dir);
        json_dump_file(root, tmp_path(name), 0);
        json_decref(root);
        if (cases[i].config) {
            snprintf(name, sizeof name, "%s/tokenizer_config.json", dir);
            FILE *f = fopen(tmp_path(name), "w");
            fputs(cases[i].config, f);
            fclose(f);
        }
        tokenizer *t = NULL;
        CHECK(tokenizer_load(tmp_path(dir), &t) == KV_OK, "bos case %zu: %s", i, kv_lasterr());
        if (!t) continue;
        int *ids = NULL, n = 0;
        tokenizer_encode(t, "ab", 2, tokenizer_add_bos(t), &ids, &n);
        CHECK(tokenizer_add_bos(t) == cases[i].want && n == 1 + cases[i].want && ids[0] == (cases[i].want ? 258 : 256),
              "bos case %zu (template %d, config %s): add_bos %d from %s", i, cases[i].template,
              cases[i].config ? cases[i].config : "none", tokenizer_add_bos(t), tokenizer_add_bos_source(t));
        free(ids);
        tokenizer_free(t);
    }
    json_decref(tmpl);
}

static void expect_bad(json_t *root, const char *raw, const char *name, const char *want)
{
    char *path = tmp_path(name);
    if (root) {
        json_dump_file(root, path, 0);
        json_decref(root);
    } else {
        FILE *f = fopen(path, "w");
        fputs(raw, f);
        fclose(f);
    }
    tokenizer *t = (tokenizer *)1;
    int rc = tokenizer_load(path, &t);
    CHECK(rc == KV_ERR && t == NULL && strstr(kv_lasterr(), want) && strstr(kv_lasterr(), name),
          "%s: rc %d, message '%s' (want '%s')", name, rc, kv_lasterr(), want);
}

static void test_malformed(void)
{
    json_t *whole = tiny_json(1, 0);
    char *text = json_dumps(whole, 0);
    json_decref(whole);
    text[strlen(text) / 2] = 0;
    expect_bad(NULL, text, "truncated.json", "truncated.json:1:");
    free(text);
    json_t *r = tiny_json(1, 0);
    json_object_set_new(json_object_get(r, "model"), "type", json_string("Unigram"));
    expect_bad(r, NULL, "unigram.json", "'Unigram' is not supported");
    r = tiny_json(1, 0);
    json_object_set_new(json_object_get(r, "model"), "merges", json_pack("[s,s]", "a b", "q zz"));
    expect_bad(r, NULL, "badmerge.json", "token 'zz' that is not in the vocab");
    r = tiny_json(1, 0);
    json_object_set_new(json_object_get(r, "model"), "merges", json_pack("[s]", "b c"));
    expect_bad(r, NULL, "badmerged.json", "merged token 'bc' is not in the vocab");
    r = tiny_json(1, 0);
    json_object_set_new(json_object_get(r, "model"), "merges", json_pack("[i]", 3));
    expect_bad(r, NULL, "merge_type.json", "model.merges[0]");
    r = tiny_json(1, 0);
    json_object_del(json_object_get(r, "model"), "vocab");
    expect_bad(r, NULL, "novocab.json", "model.vocab is missing");
    r = tiny_json(1, 0);
    json_object_del(r, "model");
    expect_bad(r, NULL, "nomodel.json", "no \"model\"");
    r = tiny_json(1, 0);
    json_object_set_new(r, "pre_tokenizer", json_pack("{s:s}", "type", "Metaspace"));
    expect_bad(r, NULL, "metaspace.json", "'Metaspace' is not supported");
    r = tiny_json(1, 0);
    json_object_set_new(r, "normalizer", json_pack("{s:s}", "type", "NFC"));
    expect_bad(r, NULL, "nfc.json", "normalizer 'NFC'");
    r = tiny_json(1, 0);
    json_object_set_new(r, "decoder", json_pack("{s:s}", "type", "WordPiece"));
    expect_bad(r, NULL, "wordpiece_dec.json", "decoder 'WordPiece'");
    r = tiny_json(1, 0);
    for (int b = 100; b < 256; b++) { /* keeps a, b, c for the merges */
        char sp[3];
        byte_spell(b, sp);
        json_object_del(json_object_get(json_object_get(r, "model"), "vocab"), sp);
    }
    expect_bad(r, NULL, "nobyte.json", "tokens for only 100 of the 256 bytes");
    r = tiny_json(1, 0);
    json_object_set_new(r, "pre_tokenizer",
                        json_pack("{s:s,s:{s:s},s:s}", "type", "Split", "pattern", "Regex", "(unclosed", "behavior",
                                  "Isolated"));
    expect_bad(r, NULL, "badregex.json", "does not compile");
    expect_bad(NULL, "[1, 2, 3]", "array.json", "no \"model\"");
    tokenizer *t = (tokenizer *)1;
    CHECK(tokenizer_load("/nonexistent/kvbench/tok.json", &t) == KV_ERR && t == NULL &&
              strstr(kv_lasterr(), "/nonexistent/kvbench/tok.json"),
          "missing file: %s", kv_lasterr());
}

static void test_chat_names(void)
{
    chat_format f;
    CHECK(chat_format_parse("chatml", &f) == KV_OK && f == CHAT_CHATML, "parse chatml");
    CHECK(chat_format_parse("llama3", &f) == KV_OK && f == CHAT_LLAMA3, "parse llama3");
    CHECK(chat_format_parse("none", &f) == KV_OK && f == CHAT_NONE, "parse none");
    CHECK(chat_format_parse("vicuna", &f) == KV_ERR && strstr(kv_lasterr(), "vicuna"), "parse unknown");
    char *w = chat_wrap(CHAT_NONE, "plain");
    CHECK(!strcmp(w, "plain"), "CHAT_NONE leaves the prompt");
    free(w);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_llama3();
    test_tiny();
    test_add_bos();
    test_malformed();
    test_chat_names();
    if (!getenv("KV_KEEP_TMP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        run(cmd);
    } else printf("kept %s\n", tmpdir);
    return check_report("test_tokenizer");
}
