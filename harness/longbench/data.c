/* longbench_data: the streaming LongBench v1 JSONL reader (one line in memory at a time, any line
 * length) and the JSON helpers it shares with the score command. Errors name FILE:LINE. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/util.h"
#include "harness/longbench/longbench.h"
#include "harness/longbench/json.h"

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

int lbj_next_object(FILE *f, const char *path, long *lineno, char **buf, size_t *cap, json_t **obj)
{
    ssize_t len;
    while ((len = getline(buf, cap, f)) >= 0) {
        ++*lineno;
        if (blank(*buf, (size_t)len)) continue;
        json_error_t err;
        json_t *v = json_loadb(*buf, (size_t)len, 0, &err);
        if (!v) {
            kv_seterr("%s:%ld: line does not parse as JSON: %s (column %d); expected one JSON object per line",
                      path, *lineno, err.text, err.column);
            return KV_ERR;
        }
        if (!json_is_object(v)) {
            json_decref(v);
            kv_seterr("%s:%ld: line is JSON but not an object; expected one JSON object per line", path, *lineno);
            return KV_ERR;
        }
        *obj = v;
        return 1;
    }
    if (ferror(f)) {
        kv_seterr("%s:%ld: read error", path, *lineno + 1);
        return KV_ERR;
    }
    return 0;
}

int lbj_strings(const json_t *v, char ***out, int *n, const char **why)
{
    if (!json_is_array(v)) {
        *why = "is not a list";
        return KV_ERR;
    }
    size_t k = json_array_size(v);
    char **s = kv_calloc(k + 1, sizeof *s);
    for (size_t i = 0; i < k; i++) {
        const json_t *e = json_array_get(v, i);
        if (json_is_string(e)) {
            s[i] = kv_strdup(json_string_value(e));
        } else if (json_is_integer(e)) {
            char b[32];
            snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(e));
            s[i] = kv_strdup(b);
        } else {
            lbj_strings_free(s, (int)i);
            *why = "has an element that is not a string";
            return KV_ERR;
        }
    }
    *out = s;
    *n = (int)k;
    return KV_OK;
}

void lbj_strings_free(char **s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

struct lb_reader {
    FILE *f;
    char *path;
    char *buf;
    size_t cap;
    long line;
    char *bytes;      /* the whole file when opened by lb_reader_open_hashed (f reads it) */
};

int lb_reader_open(const char *path, lb_reader **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        kv_seterr("%s: cannot open: %s", path, strerror(errno));
        return KV_ERR;
    }
    lb_reader *r = kv_calloc(1, sizeof *r);
    r->f = f;
    r->path = kv_strdup(path);
    *out = r;
    return KV_OK;
}

int lb_reader_open_hashed(const char *path, lb_reader **out, uint64_t *hash)
{
    char *bytes;
    size_t len;
    if (kv_read_file(path, &bytes, &len) != KV_OK) return KV_ERR;
    *hash = kv_fnv1a(bytes, len, KV_FNV_SEED);
    /* An empty file: fmemopen refuses size 0 on older glibc; /dev/null reads as empty. */
    FILE *f = len ? fmemopen(bytes, len, "r") : fopen("/dev/null", "r");
    if (!f) {
        free(bytes);
        kv_seterr("%s: cannot read: %s", path, strerror(errno));
        return KV_ERR;
    }
    lb_reader *r = kv_calloc(1, sizeof *r);
    r->f = f;
    r->path = kv_strdup(path);
    r->bytes = bytes;
    *out = r;
    return KV_OK;
}

void lb_reader_close(lb_reader *r)
{
    if (!r) return;
    fclose(r->f);
    free(r->path);
    free(r->buf);
    free(r->bytes);
    free(r);
}

void lb_sample_free(lb_sample *s)
{
    free(s->input);
    free(s->context);
    free(s->dataset);
    free(s->language);
    free(s->id);
    lbj_strings_free(s->answers, s->n_answers);
    lbj_strings_free(s->all_classes, s->n_classes);
    memset(s, 0, sizeof *s);
}

static int get_string(lb_reader *r, json_t *o, const char *key, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        kv_seterr("%s:%ld: field \"%s\" is missing; expected the LongBench v1 fields input, context, answers, "
                  "length, dataset, language, all_classes, _id", r->path, r->line, key);
        return KV_ERR;
    }
    if (!json_is_string(v)) {
        kv_seterr("%s:%ld: field \"%s\" must be a string", r->path, r->line, key);
        return KV_ERR;
    }
    *out = kv_strdup(json_string_value(v));
    return KV_OK;
}

int lb_reader_next(lb_reader *r, lb_sample *s)
{
    json_t *o;
    memset(s, 0, sizeof *s);
    int rc = lbj_next_object(r->f, r->path, &r->line, &r->buf, &r->cap, &o);
    if (rc != 1) return rc;
    s->line = r->line;
    const char *why;
    json_t *ans = json_object_get(o, "answers"), *cls = json_object_get(o, "all_classes");
    json_t *len = json_object_get(o, "length");
    if (get_string(r, o, "input", &s->input) || get_string(r, o, "context", &s->context) ||
        get_string(r, o, "dataset", &s->dataset) || get_string(r, o, "language", &s->language) ||
        get_string(r, o, "_id", &s->id))
        goto fail;
    if (!ans || !cls || !len) {
        kv_seterr("%s:%ld: field \"%s\" is missing; expected the LongBench v1 fields input, context, answers, "
                  "length, dataset, language, all_classes, _id", r->path, r->line,
                  !ans ? "answers" : !cls ? "all_classes" : "length");
        goto fail;
    }
    if (lbj_strings(ans, &s->answers, &s->n_answers, &why)) {
        kv_seterr("%s:%ld: field \"answers\" %s; expected a list of strings", r->path, r->line, why);
        goto fail;
    }
    if (!json_is_null(cls) && lbj_strings(cls, &s->all_classes, &s->n_classes, &why)) {
        kv_seterr("%s:%ld: field \"all_classes\" %s; expected null or a list of strings", r->path, r->line, why);
        goto fail;
    }
    if (!json_is_integer(len)) {
        kv_seterr("%s:%ld: field \"length\" must be an integer", r->path, r->line);
        goto fail;
    }
    s->length = (long)json_integer_value(len);
    json_decref(o);
    return 1;
fail:
    json_decref(o);
    lb_sample_free(s);
    return KV_ERR;
}

int lb_load_all(const char *path, lb_sample **out, int *n, uint64_t *hash)
{
    lb_reader *r;
    if (hash ? lb_reader_open_hashed(path, &r, hash) : lb_reader_open(path, &r)) return KV_ERR;
    int cap = 16, k = 0, rc;
    lb_sample *s = kv_malloc((size_t)cap * sizeof *s);
    while ((rc = lb_reader_next(r, &s[k])) == 1) {
        if (++k == cap) {
            cap *= 2;
            s = kv_realloc(s, (size_t)cap * sizeof *s);
        }
    }
    lb_reader_close(r);
    if (rc == KV_ERR) {
        lb_samples_free(s, k);
        return KV_ERR;
    }
    *out = s;
    *n = k;
    return KV_OK;
}

void lb_samples_free(lb_sample *s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) lb_sample_free(&s[i]);
    free(s);
}
