/* tokenizer_json: builds a tokenizer from a Hugging Face tokenizer.json (model BPE, added_tokens,
 * pre_tokenizer, decoder) and, when present, tokenizer_config.json (bos/eos tokens,
 * clean_up_tokenization_spaces, chat_template). Anything the encoder does not implement (another
 * model type, a normalizer, an unknown pre-tokenizer) is refused with a message naming the file
 * and the field, so a tokenizer is never silently approximated. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer_impl.h"
#include "util/util.h"

static int json_flag(json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *json_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* One pre-tokenizer object (recursing into Sequence). `where` is its JSON path for messages. */
static int load_pretok(tokenizer *t, json_t *p, const char *where)
{
    const char *type = json_str(p, "type");
    if (!type) {
        kv_seterr("%s: %s: a pre-tokenizer without a \"type\"", t->source, where);
        return KV_ERR;
    }
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list)) {
            kv_seterr("%s: %s: Sequence without a \"pretokenizers\" array", t->source, where);
            return KV_ERR;
        }
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", where, i);
            if (load_pretok(t, item, sub)) return KV_ERR;
        }
        return KV_OK;
    }
    if (!strcmp(type, "Split")) {
        json_t *pat = json_object_get(p, "pattern");
        const char *re = json_str(pat, "Regex"), *lit = json_str(pat, "String");
        const char *behavior = json_str(p, "behavior");
        if (!re && !lit) {
            kv_seterr("%s: %s: Split needs a pattern {\"Regex\": ...} or {\"String\": ...}", t->source, where);
            return KV_ERR;
        }
        if (json_flag(p, "invert", 0)) {
            kv_seterr("%s: %s: Split with invert=true is not supported", t->source, where);
            return KV_ERR;
        }
        split_behavior b;
        if (behavior && !strcmp(behavior, "Isolated")) b = SPLIT_ISOLATED;
        else if (behavior && !strcmp(behavior, "Removed")) b = SPLIT_REMOVED;
        else {
            kv_seterr("%s: %s: Split behavior '%s' is not supported (expected Isolated or Removed)", t->source,
                      where, behavior ? behavior : "(none)");
            return KV_ERR;
        }
        return tok_add_split(t, re ? re : lit, re == NULL, b);
    }
    if (!strcmp(type, "ByteLevel"))
        return tok_add_bytelevel(t, json_flag(p, "add_prefix_space", 1), json_flag(p, "use_regex", 1));
    if (!strcmp(type, "Digits")) return tok_add_digits(t, json_flag(p, "individual_digits", 0));
    kv_seterr("%s: %s: pre-tokenizer '%s' is not supported (supported: Sequence, Split, ByteLevel, Digits)",
              t->source, where, type);
    return KV_ERR;
}

/* The model object: byte-level BPE with a vocab object and a merges array, no dropout, subword
 * affixes or byte fallback; added_tokens an array when present. */
static int json_model_check(const char *path, json_t *root, json_t *model)
{
    if (!json_is_object(model)) {
        kv_seterr("%s: no \"model\" object (is this a Hugging Face tokenizer.json?)", path);
        return KV_ERR;
    }
    const char *type = json_str(model, "type");
    if (type && strcmp(type, "BPE")) {
        kv_seterr("%s: model.type '%s' is not supported (only byte-level BPE)", path, type);
        return KV_ERR;
    }
    if (!json_is_object(json_object_get(model, "vocab"))) {
        kv_seterr("%s: model.vocab is missing or not an object of token -> id", path);
        return KV_ERR;
    }
    if (!json_is_array(json_object_get(model, "merges"))) {
        kv_seterr("%s: model.merges is missing or not an array", path);
        return KV_ERR;
    }
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0) {
        kv_seterr("%s: model.dropout %g is not supported (inference needs dropout null)", path,
                  json_number_value(dropout));
        return KV_ERR;
    }
    const char *cont = json_str(model, "continuing_subword_prefix"), *eow = json_str(model, "end_of_word_suffix");
    if ((cont && *cont) || (eow && *eow) || json_flag(model, "byte_fallback", 0)) {
        kv_seterr("%s: model uses continuing_subword_prefix/end_of_word_suffix/byte_fallback, which byte-level "
                  "BPE here does not support",
                  path);
        return KV_ERR;
    }
    json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_array(added)) {
        kv_seterr("%s: added_tokens is not an array", path);
        return KV_ERR;
    }
    return KV_OK;
}

/* The id space covers the vocab and the added tokens: *max_id, every id valid and dense enough. */
static int json_id_space(const char *path, json_t *vocab, json_t *added, long *max_id)
{
    const char *key;
    json_t *v;
    *max_id = -1;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 30)) {
            kv_seterr("%s: model.vocab['%s'] is not a valid id", path, key);
            return KV_ERR;
        }
        if (json_integer_value(v) > *max_id) *max_id = (long)json_integer_value(v);
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 30) ||
            !json_is_string(json_object_get(v, "content"))) {
            kv_seterr("%s: added_tokens[%zu] needs an integer \"id\" and a string \"content\"", path, i);
            return KV_ERR;
        }
        if (json_integer_value(id) > *max_id) *max_id = (long)json_integer_value(id);
    }
    if (*max_id < 0) {
        kv_seterr("%s: model.vocab is empty", path);
        return KV_ERR;
    }
    /* Ids index dense arrays: a stray huge id must not allocate gigabytes (found by fuzzing). */
    long n_entries = (long)json_object_size(vocab) + (long)json_array_size(added);
    if (*max_id >= 2 * n_entries + 1024) {
        kv_seterr("%s: token id %ld is far beyond the %ld vocab and added entries (expected ids 0..%ld, dense)",
                  path, *max_id, n_entries, n_entries - 1);
        return KV_ERR;
    }
    return KV_OK;
}

/* The merges, each "a b" (legacy: exactly one space) or ["a", "b"]; rank = index. */
static int json_merges(tokenizer *t, const char *path, json_t *merges)
{
    size_t i;
    json_t *v;
    json_array_foreach(merges, i, v) {
        const char *a, *b;
        size_t al, bl;
        if (json_is_string(v)) {
            /* legacy form "a b": exactly one space separates the two tokens */
            const char *s = json_string_value(v), *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                kv_seterr("%s: model.merges[%zu] '%s' is not two tokens separated by one space", path, i, s);
                return KV_ERR;
            }
            a = s, al = (size_t)(sp - s), b = sp + 1, bl = strlen(sp + 1);
        } else if (json_is_array(v) && json_array_size(v) == 2 && json_is_string(json_array_get(v, 0)) &&
                   json_is_string(json_array_get(v, 1))) {
            a = json_string_value(json_array_get(v, 0)), al = json_string_length(json_array_get(v, 0));
            b = json_string_value(json_array_get(v, 1)), bl = json_string_length(json_array_get(v, 1));
        } else {
            kv_seterr("%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", path, i);
            return KV_ERR;
        }
        if (tok_add_merge(t, a, al, b, bl, (int)i)) return KV_ERR;
    }
    return KV_OK;
}

/* The vocab, merges and added tokens. */
static int json_fill(tokenizer *t, const char *path, json_t *model, json_t *added)
{
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(model, "vocab"), key, v) {
        if (tok_set_vocab(t, (int)json_integer_value(v), key, strlen(key))) return KV_ERR;
    }
    if (json_merges(t, path, json_object_get(model, "merges"))) return KV_ERR;
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *c = json_object_get(v, "content");
        if (tok_add_added(t, (int)json_integer_value(json_object_get(v, "id")), json_string_value(c),
                          json_string_length(c), json_flag(v, "special", 0), json_flag(v, "lstrip", 0),
                          json_flag(v, "rstrip", 0), json_flag(v, "single_word", 0),
                          json_flag(v, "normalized", !json_flag(v, "special", 0))))
            return KV_ERR;
    }
    return KV_OK;
}

/* No normalizer, the pre-tokenizer, a ByteLevel decoder (or none), the unknown token. */
static int json_pipeline(tokenizer *t, const char *path, json_t *root, json_t *model)
{
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        const char *nt = json_str(norm, "type");
        kv_seterr("%s: normalizer '%s' is not supported (byte-level BPE tokenizers here have none)", path,
                  nt ? nt : "?");
        return KV_ERR;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (pre && !json_is_null(pre) && load_pretok(t, pre, "pre_tokenizer")) return KV_ERR;
    json_t *dec = json_object_get(root, "decoder");
    const char *dt = json_str(dec, "type");
    if (dec && !json_is_null(dec) && (!dt || strcmp(dt, "ByteLevel"))) {
        kv_seterr("%s: decoder '%s' is not supported (only ByteLevel)", path, dt ? dt : "?");
        return KV_ERR;
    }
    const char *unk = json_str(model, "unk_token");
    if (unk && (t->unk_id = tok_find_vocab(t, unk, strlen(unk))) < 0) {
        kv_seterr("%s: model.unk_token '%s' is not in the vocab", path, unk);
        return KV_ERR;
    }
    t->fuse_unk = json_flag(model, "fuse_unk", 0);
    return KV_OK;
}

static int load_model(tokenizer **out, const char *path, json_t *root)
{
    json_t *model = json_object_get(root, "model"), *added = json_object_get(root, "added_tokens");
    long max_id;
    if (json_model_check(path, root, model) || json_id_space(path, json_object_get(model, "vocab"), added, &max_id))
        return KV_ERR;
    tokenizer *t = tok_create(path, (int)max_id + 1);
    t->ignore_merges = json_flag(model, "ignore_merges", 0);
    if (json_fill(t, path, model, added) || json_pipeline(t, path, root, model) || tok_finish(t)) {
        tokenizer_free(t);
        return KV_ERR;
    }
    *out = t;
    return KV_OK;
}

/* bos_token / eos_token are a string or an AddedToken object {"content": ...}. */
static int config_token(tokenizer *t, json_t *cfg, const char *key, const char *path, int *id)
{
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) return KV_OK;
    const char *s = json_is_string(v) ? json_string_value(v) : json_str(v, "content");
    if (!s) {
        kv_seterr("%s: %s is neither a string nor an object with \"content\"", path, key);
        return KV_ERR;
    }
    *id = tokenizer_token_id(t, s);
    if (*id < 0) {
        kv_seterr("%s: %s '%s' is not a token of the tokenizer", path, key, s);
        return KV_ERR;
    }
    return KV_OK;
}

static int load_config(tokenizer *t, const char *path)
{
    json_error_t err;
    json_t *cfg = json_load_file(path, 0, &err);
    if (!cfg) {
        kv_seterr("%s:%d:%d: %s", path, err.line, err.column, err.text);
        return KV_ERR;
    }
    int rc = KV_ERR;
    if (config_token(t, cfg, "bos_token", path, &t->bos_id)) goto done;
    if (config_token(t, cfg, "eos_token", path, &t->eos_id)) goto done;
    t->cleanup_default = json_flag(cfg, "clean_up_tokenization_spaces", 0);
    /* add_bos_token rebuilds the post-processor only in the Llama/Gemma tokenizer classes; the
     * generic PreTrainedTokenizerFast (Llama-3's) and GPT-2's ignore it. */
    json_t *ab = json_object_get(cfg, "add_bos_token");
    const char *cls = json_str(cfg, "tokenizer_class");
    if (json_is_boolean(ab) && cls && (strstr(cls, "Llama") || strstr(cls, "Gemma"))) {
        t->add_bos = json_is_true(ab);
        snprintf(t->add_bos_source, sizeof t->add_bos_source, "tokenizer_config.json add_bos_token (%s)", cls);
    }
    json_t *ct = json_object_get(cfg, "chat_template");
    if (json_is_string(ct)) t->chat_template = kv_strdup(json_string_value(ct));
    else if (json_is_array(ct)) { /* [{"name": "default", "template": ...}, ...] */
        size_t i;
        json_t *item;
        json_array_foreach(ct, i, item) {
            const char *name = json_str(item, "name"), *tmpl = json_str(item, "template");
            if (name && tmpl && !strcmp(name, "default")) t->chat_template = kv_strdup(tmpl);
        }
    }
    rc = KV_OK;
done:
    json_decref(cfg);
    return rc;
}

/* The id a TemplateProcessing post-processor puts before the text of a single sequence (HF's
 * add_special_tokens=True), searched through a Sequence of processors; -1 when none does (SmolLM2:
 * ByteLevel only). */
static int template_bos(const tokenizer *t, json_t *proc)
{
    const char *type = json_str(proc, "type");
    if (!type) return -1;
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *p;
        int id = -1;
        json_array_foreach(json_object_get(proc, "processors"), i, p) {
            int r = template_bos(t, p);
            if (r >= 0) id = r;
        }
        return id;
    }
    if (strcmp(type, "TemplateProcessing")) return -1;
    json_t *first = json_array_get(json_object_get(proc, "single"), 0);
    json_t *special = json_object_get(first, "SpecialToken");
    const char *name = json_str(special, "id");
    if (!name) return -1;
    json_t *ids = json_object_get(json_object_get(json_object_get(proc, "special_tokens"), name), "ids");
    json_t *id = json_array_get(ids, 0);
    return json_is_integer(id) ? (int)json_integer_value(id) : tokenizer_token_id(t, name);
}

int tok_load_json(const char *path, const char *config_path, tokenizer **out)
{
    *out = NULL;
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        kv_seterr("%s:%d:%d: %s", path, err.line, err.column, err.text);
        return KV_ERR;
    }
    tokenizer *t = NULL;
    int rc = load_model(&t, path, root);
    int tmpl_bos = rc ? -1 : template_bos(t, json_object_get(root, "post_processor"));
    json_decref(root);
    if (rc) return KV_ERR;
    if (tmpl_bos >= 0) {
        t->add_bos = 1;
        t->bos_id = tmpl_bos;
        snprintf(t->add_bos_source, sizeof t->add_bos_source, "tokenizer.json post_processor");
    } else snprintf(t->add_bos_source, sizeof t->add_bos_source, "tokenizer.json post_processor (adds none)");
    if (config_path && load_config(t, config_path)) {
        tokenizer_free(t);
        return KV_ERR;
    }
    if (tmpl_bos >= 0 && !strncmp(t->add_bos_source, "tokenizer.json", 14))
        t->bos_id = tmpl_bos; /* the template's token is what HF prepends, whatever bos_token says */
    *out = t;
    return KV_OK;
}
