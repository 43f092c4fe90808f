/* sweep: libyaml document parsing of a sweep file into plain structs, with one error line naming
 * file:line:column and what was expected for every malformed or impossible field. */
#include "harness/sweep/sweep.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/util.h"
#include "engine/engine.h"
#include "engine/layer_stats.h"
#include "engine/model.h"
#include "harness/longbench/longbench.h"
#include "harness/longbench/needle.h"
#include "harness/sweep/sweep_yaml.h"

static void where(const yparse *y, const yaml_node_t *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%zu:%zu", y->file, n->start_mark.line + 1, n->start_mark.column + 1);
}

/* Set an error "<what> (<file:line:col>): <expected>". */
int syaml_err(const yparse *y, const yaml_node_t *n, const char *expected, const char *fmt, ...)
{
    char what[512], at[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    where(y, n, at, sizeof at);
    kv_seterr("%s (%s): %s", what, at, expected);
    return KV_ERR;
}

yaml_node_t *syaml_node(yparse *y, int i) { return yaml_document_get_node(&y->doc, i); }

const char *syaml_scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* Expand ${VAR} and ${VAR:-default}; an unset variable without default is an error. */
static int expand_vars(yparse *y, const yaml_node_t *n, const char *in, char **out)
{
    size_t cap = strlen(in) + 256, len = 0;
    char *o = kv_malloc(cap);
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p, '}');
            if (!end) {
                free(o);
                return syaml_err(y, n, "${NAME} or ${NAME:-default}", "unterminated variable in '%s'", in);
            }
            char name[256];
            size_t nl = (size_t)(end - p - 2);
            if (nl >= sizeof name) nl = sizeof name - 1;
            memcpy(name, p + 2, nl);
            name[nl] = 0;
            const char *def = NULL;
            char *colon = strstr(name, ":-");
            if (colon) {
                *colon = 0;
                def = colon + 2;
            }
            const char *val = getenv(name);
            if (!val || !*val) val = def;
            if (!val) {
                free(o);
                return syaml_err(y, n, "set the environment variable or give a default with ${NAME:-default}",
                            "environment variable %s is not set", name);
            }
            size_t vl = strlen(val);
            if (len + vl + 1 >= cap) o = kv_realloc(o, cap = (len + vl + 1) * 2);
            memcpy(o + len, val, vl);
            len += vl;
            p = end + 1;
        } else {
            if (len + 2 >= cap) o = kv_realloc(o, cap *= 2);
            o[len++] = *p++;
        }
    }
    o[len] = 0;
    *out = o;
    return KV_OK;
}

int syaml_string(yparse *y, yaml_node_t *n, const char *key, char **out)
{
    if (n->type != YAML_SCALAR_NODE) return syaml_err(y, n, "a string", "'%s' has the wrong type", key);
    free(*out);
    *out = NULL;
    return expand_vars(y, n, syaml_scalar(n), out);
}

static int parse_int_text(const char *s, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return (*s && !*end && !errno) ? KV_OK : KV_ERR;
}

int syaml_int(yparse *y, yaml_node_t *n, const char *key, long lo, long hi, int *out)
{
    long v;
    if (n->type != YAML_SCALAR_NODE || parse_int_text(syaml_scalar(n), &v) != KV_OK)
        return syaml_err(y, n, "an integer", "'%s' has the wrong type", key);
    if (v < lo || v > hi) {
        char exp[96];
        snprintf(exp, sizeof exp, "an integer in [%ld, %ld]", lo, hi);
        return syaml_err(y, n, exp, "'%s' = %ld is out of range", key, v);
    }
    *out = (int)v;
    return KV_OK;
}

static int get_bool(yparse *y, yaml_node_t *n, const char *key, int *out)
{
    if (n->type == YAML_SCALAR_NODE) {
        const char *s = syaml_scalar(n);
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) return *out = 1, KV_OK;
        if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) return *out = 0, KV_OK;
    }
    return syaml_err(y, n, "true or false", "'%s' has the wrong type", key);
}

static int get_double(yparse *y, yaml_node_t *n, const char *key, double *out)
{
    char *end;
    if (n->type == YAML_SCALAR_NODE) {
        double v = strtod(syaml_scalar(n), &end);
        if (*syaml_scalar(n) && !*end && v >= 0) return *out = v, KV_OK;
    }
    return syaml_err(y, n, "a non-negative number", "'%s' has the wrong type", key);
}

/* YAML says a mapping's keys are unique; libyaml does not check it. A repeated key would silently
 * override (and leak) the first value, so it is an error naming the second one (found by fuzz_sweep). */
static int check_unique_keys(yparse *y)
{
    for (yaml_node_t *m = y->doc.nodes.start; m < y->doc.nodes.top; m++) {
        if (m->type != YAML_MAPPING_NODE) continue;
        for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
            yaml_node_t *ka = syaml_node(y, a->key);
            if (!ka || ka->type != YAML_SCALAR_NODE) continue;
            for (yaml_node_pair_t *b = m->data.mapping.pairs.start; b < a; b++) {
                yaml_node_t *kb = syaml_node(y, b->key);
                if (kb && kb->type == YAML_SCALAR_NODE && !strcmp(syaml_scalar(ka), syaml_scalar(kb)))
                    return syaml_err(y, ka, "each key once per mapping", "duplicate key '%s'", syaml_scalar(ka));
            }
        }
    }
    return KV_OK;
}

int syaml_unknown_key(yparse *y, yaml_node_t *k, const char *section, const char *known)
{
    return syaml_err(y, k, known, "unknown key '%s' in %s", k->type == YAML_SCALAR_NODE ? syaml_scalar(k) : "?", section);
}


/* A key whose value an engine option parser checks (weights, activations): its message says what
 * the choices are. */
static int syaml_choice(yparse *y, yaml_node_t *v, const char *key, int (*parse)(const char *, int *), int *out)
{
    if (v->type != YAML_SCALAR_NODE) return syaml_err(y, v, "a string", "'%s' has the wrong type", key);
    if (parse(syaml_scalar(v), out) == KV_OK) return KV_OK;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", kv_lasterr());
    return syaml_err(y, v, msg, "'%s' is not valid", key);
}

static int parse_tasks(yparse *y, yaml_node_t *n, sweep *s)
{
    if (n->type == YAML_SCALAR_NODE && !strcmp(syaml_scalar(n), "all")) {
        s->n_tasks = LB_N_TASKS;
        s->tasks = kv_calloc(s->n_tasks, sizeof *s->tasks);
        for (int i = 0; i < s->n_tasks; i++) s->tasks[i] = kv_strdup(lb_tasks[i].name);
        return KV_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE || SEQ_LEN(n) == 0)
        return syaml_err(y, n, "'all' or a non-empty list of task names", "'tasks' has the wrong type");
    /* Keep table order whatever order the user wrote. */
    int nt = LB_N_TASKS;
    char *sel = kv_calloc(nt, 1);
    for (int i = 0; i < SEQ_LEN(n); i++) {
        yaml_node_t *t = SEQ_ITEM(y, n, i);
        if (t->type != YAML_SCALAR_NODE) {
            free(sel);
            return syaml_err(y, t, "a task name", "task entry has the wrong type");
        }
        const lb_task *task = lb_task_find(syaml_scalar(t));
        if (!task) {
            char known[1024] = "one of:";
            for (int j = 0; j < nt; j++) {
                strncat(known, " ", sizeof known - strlen(known) - 1);
                strncat(known, lb_tasks[j].name, sizeof known - strlen(known) - 1);
            }
            free(sel);
            return syaml_err(y, t, known, "unknown task '%s'", syaml_scalar(t));
        }
        sel[task - lb_tasks] = 1;
    }
    s->tasks = kv_calloc(nt, sizeof *s->tasks);
    for (int j = 0; j < nt; j++)
        if (sel[j]) s->tasks[s->n_tasks++] = kv_strdup(lb_tasks[j].name);
    free(sel);
    return KV_OK;
}

/* samples: all | N (first N) | list of indices and "a-b" inclusive ranges. */
static int parse_samples(yparse *y, yaml_node_t *n, sweep *s)
{
    const char *expected = "'all', a count N (the first N samples), or a list of indices and \"a-b\" ranges";
    free(s->samples);
    s->samples = NULL;
    s->n_samples = 0;
    if (n->type == YAML_SCALAR_NODE) {
        long v;
        s->samples = kv_calloc(1, sizeof *s->samples);
        s->n_samples = 1;
        if (!strcmp(syaml_scalar(n), "all")) {
            s->samples[0] = (sweep_range){0, -1};
            return KV_OK;
        }
        if (parse_int_text(syaml_scalar(n), &v) == KV_OK && v > 0 && v < INT_MAX) {
            s->samples[0] = (sweep_range){0, (int)v};
            return KV_OK;
        }
        return syaml_err(y, n, expected, "'samples' = '%s' is not valid", syaml_scalar(n));
    }
    if (n->type != YAML_SEQUENCE_NODE || SEQ_LEN(n) == 0) return syaml_err(y, n, expected, "'samples' has the wrong type");
    s->samples = kv_calloc(SEQ_LEN(n), sizeof *s->samples);
    for (int i = 0; i < SEQ_LEN(n); i++) {
        yaml_node_t *e = SEQ_ITEM(y, n, i);
        long a, b;
        if (e->type != YAML_SCALAR_NODE) return syaml_err(y, e, expected, "sample entry has the wrong type");
        const char *t = syaml_scalar(e);
        const char *dash = strchr(t, '-');
        if (dash && dash != t) {
            char lo[32];
            size_t l = (size_t)(dash - t);
            if (l >= sizeof lo) l = sizeof lo - 1;
            memcpy(lo, t, l);
            lo[l] = 0;
            if (parse_int_text(lo, &a) != KV_OK || parse_int_text(dash + 1, &b) != KV_OK || a < 0 || b < a)
                return syaml_err(y, e, "\"a-b\" with 0 <= a <= b", "sample range '%s' is not valid", t);
        } else {
            if (parse_int_text(t, &a) != KV_OK || a < 0)
                return syaml_err(y, e, "a sample index >= 0", "sample entry '%s' is not valid", t);
            b = a;
        }
        s->samples[s->n_samples++] = (sweep_range){(int)a, (int)b + 1};
    }
    return KV_OK;
}

static int parse_budgets(yparse *y, yaml_node_t *n, sweep *s)
{
    if (n->type != YAML_SEQUENCE_NODE || SEQ_LEN(n) == 0)
        return syaml_err(y, n, "a non-empty list of integers or fractions", "'budgets' has the wrong type");
    s->budgets = kv_calloc(SEQ_LEN(n), sizeof *s->budgets);
    for (int i = 0; i < SEQ_LEN(n); i++) {
        /* tokens per layer and head (128), or a kept fraction of each prompt (0.25): engine/method.h */
        int b;
        yaml_node_t *e = SEQ_ITEM(y, n, i);
        if (e->type != YAML_SCALAR_NODE || budget_parse(syaml_scalar(e), &b) != KV_OK || (!budget_is_fraction(b) && b > 1 << 24))
            return syaml_err(y, e, "an integer in [1, 16777216] (tokens per layer and head) or a fraction in (0, 1) "
                              "(kept share of the prompt)",
                        "'budgets' = %s is not valid", e->type == YAML_SCALAR_NODE ? syaml_scalar(e) : "?");
        for (int j = 0; j < s->n_budgets; j++)
            if (s->budgets[j] == b) return syaml_err(y, e, "distinct budgets", "budget %s repeats", syaml_scalar(e));
        s->budgets[s->n_budgets++] = b;
    }
    /* Ascending, so tables and plots read left to right. */
    for (int i = 1; i < s->n_budgets; i++)
        for (int j = i; j > 0 && s->budgets[j] < s->budgets[j - 1]; j--) {
            int t = s->budgets[j];
            s->budgets[j] = s->budgets[j - 1];
            s->budgets[j - 1] = t;
        }
    return KV_OK;
}

static int method_names(char *buf, size_t n)
{
    snprintf(buf, n, "one of:");
    for (int i = 0; method_registry[i]; i++) {
        strncat(buf, " ", n - strlen(buf) - 1);
        strncat(buf, method_registry[i]->name, n - strlen(buf) - 1);
    }
    return 0;
}

static int parse_method(yparse *y, yaml_node_t *n, sweep_method *m)
{
    yaml_node_t *name_node = n;
    where(y, n, m->where, sizeof m->where);
    if (n->type == YAML_SCALAR_NODE) {
        m->name = kv_strdup(syaml_scalar(n));
    } else if (n->type == YAML_MAPPING_NODE) {
        FOR_PAIRS(y, n, k, v)
        {
            if (k->type != YAML_SCALAR_NODE) return syaml_err(y, k, "a knob name", "method key has the wrong type");
            if (!strcmp(syaml_scalar(k), "name")) {
                if (v->type != YAML_SCALAR_NODE) return syaml_err(y, v, "a method name", "'name' has the wrong type");
                m->name = kv_strdup(syaml_scalar(v));
                name_node = v;
                continue;
            }
            if (v->type != YAML_SCALAR_NODE)
                return syaml_err(y, v, "a number or a choice name", "knob '%s' has the wrong type", syaml_scalar(k));
            if (m->n_knobs == SWEEP_MAX_KNOBS) return syaml_err(y, k, "fewer knobs", "too many knobs");
            m->key[m->n_knobs] = kv_strdup(syaml_scalar(k));
            m->value[m->n_knobs] = kv_strdup(syaml_scalar(v));
            m->n_knobs++;
        }
        if (!m->name) return syaml_err(y, n, "a 'name' key", "method entry without a name");
    } else {
        return syaml_err(y, n, "a method name or a mapping {name: ..., knob: value}", "method entry has the wrong type");
    }
    m->desc = method_find(m->name);
    if (!m->desc) {
        char known[512];
        method_names(known, sizeof known);
        return syaml_err(y, name_node, known, "unknown method '%s'", m->name);
    }
    /* Validate the knob names and values now, so a typo fails at parse time with its position. */
    variant v;
    variant_init(&v, m->desc, 1024, PRESET_REFERENCE_HEAD);
    for (int i = 0; i < m->n_knobs; i++) {
        if (variant_set_knob(&v, m->key[i], m->value[i]) != KV_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            return syaml_err(y, n, msg, "bad knob '%s: %s' for method %s", m->key[i], m->value[i], m->desc->name);
        }
    }
    return KV_OK;
}

static int parse_methods(yparse *y, yaml_node_t *n, sweep *s)
{
    if (n->type != YAML_SEQUENCE_NODE || SEQ_LEN(n) == 0)
        return syaml_err(y, n, "a non-empty list of methods", "'methods' has the wrong type");
    s->methods = kv_calloc(SEQ_LEN(n), sizeof *s->methods);
    for (int i = 0; i < SEQ_LEN(n); i++) {
        s->n_methods++;
        if (parse_method(y, SEQ_ITEM(y, n, i), &s->methods[i]) != KV_OK) return KV_ERR;
    }
    return KV_OK;
}

static int safe_name(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.')) return 0;
    return 1;
}

static int parse_model(yparse *y, yaml_node_t *n, sweep_model *m)
{
    const char *known = "one of: name, path, family, chat, dtype, weights, max_prompt_tokens, tensor_parallel, stop_ids";
    where(y, n, m->where, sizeof m->where);
    if (n->type != YAML_MAPPING_NODE) return syaml_err(y, n, "a mapping with name and path", "model entry has the wrong type");
    m->tensor_parallel = 1;
    FOR_PAIRS(y, n, k, v)
    {
        const char *key = k->type == YAML_SCALAR_NODE ? syaml_scalar(k) : "";
        int rc;
        if (!strcmp(key, "name")) {
            rc = syaml_string(y, v, key, &m->name);
            if (rc == KV_OK && !safe_name(m->name))
                return syaml_err(y, v, "letters, digits, '-', '_' and '.' (it names folders)", "model name '%s' is not valid",
                            m->name);
        } else if (!strcmp(key, "path"))
            rc = syaml_string(y, v, key, &m->path);
        else if (!strcmp(key, "family")) {
            rc = syaml_string(y, v, key, &m->family);
            if (rc == KV_OK && strcmp(m->family, "llama3") && strcmp(m->family, "llama3.1") &&
                strcmp(m->family, "llama3.3") && strcmp(m->family, "smollm2") && strcmp(m->family, "other"))
                return syaml_err(y, v, "one of: llama3, llama3.1, llama3.3, smollm2, other", "unknown family '%s'", m->family);
        } else if (!strcmp(key, "chat")) {
            rc = syaml_string(y, v, key, &m->chat);
            if (rc == KV_OK && strcmp(m->chat, "none") && strcmp(m->chat, "llama3") && strcmp(m->chat, "chatml") &&
                strcmp(m->chat, "native"))
                return syaml_err(y, v, "one of: none, llama3, chatml, native", "unknown chat format '%s'", m->chat);
        } else if (!strcmp(key, "dtype")) {
            rc = syaml_string(y, v, key, &m->dtype);
            if (rc == KV_OK && strcmp(m->dtype, "fp32") && strcmp(m->dtype, "bf16") && strcmp(m->dtype, "fp16"))
                return syaml_err(y, v, "one of: fp32, bf16, fp16", "unknown dtype '%s'", m->dtype);
        } else if (!strcmp(key, "weights"))
            rc = syaml_choice(y, v, key, model_wformat_parse, &m->weights);
        else if (!strcmp(key, "max_prompt_tokens"))
            rc = syaml_int(y, v, key, 16, 1 << 24, &m->max_prompt_tokens);
        else if (!strcmp(key, "tensor_parallel"))
            rc = syaml_int(y, v, key, 1, 1024, &m->tensor_parallel);
        else if (!strcmp(key, "stop_ids")) {
            if (v->type != YAML_SEQUENCE_NODE || SEQ_LEN(v) > SWEEP_MAX_STOP_IDS)
                return syaml_err(y, v, "a list of at most 8 token ids", "'stop_ids' has the wrong type");
            m->n_stop_ids = 0;
            rc = KV_OK;
            for (int i = 0; i < SEQ_LEN(v) && rc == KV_OK; i++)
                rc = syaml_int(y, SEQ_ITEM(y, v, i), key, 0, INT_MAX, &m->stop_ids[m->n_stop_ids++]);
        } else
            return syaml_unknown_key(y, k, "a model", known);
        if (rc != KV_OK) return KV_ERR;
    }
    if (!m->name) return syaml_err(y, n, "a 'name' key", "model entry without a name");
    if (!m->path) return syaml_err(y, n, "a 'path' key (HF folder or .gguf file)", "model '%s' has no path", m->name);
    if (!kv_file_exists(m->path) && !kv_is_dir(m->path))
        return syaml_err(y, n, "an existing HF model folder or .gguf file", "model file '%s' not found", m->path);
    if (!m->family) m->family = kv_strdup("other");
    /* both reference presets load the model in torch.float16; the CPU backend computes in fp32
     * whatever is asked and records fp32 (exec.c stores the dtype the engine really used) */
    if (!m->dtype) m->dtype = kv_strdup("fp16");
    return KV_OK;
}

static int parse_models(yparse *y, yaml_node_t *n, sweep *s)
{
    if (n->type != YAML_SEQUENCE_NODE || SEQ_LEN(n) == 0)
        return syaml_err(y, n, "a non-empty list of models", "'models' has the wrong type");
    s->models = kv_calloc(SEQ_LEN(n), sizeof *s->models);
    for (int i = 0; i < SEQ_LEN(n); i++) {
        s->n_models++;
        if (parse_model(y, SEQ_ITEM(y, n, i), &s->models[i]) != KV_OK) return KV_ERR;
        for (int j = 0; j < i; j++)
            if (!strcmp(s->models[j].name, s->models[i].name))
                return syaml_err(y, SEQ_ITEM(y, n, i), "distinct model names", "model name '%s' repeats", s->models[i].name);
    }
    return KV_OK;
}

static int parse_engine(yparse *y, yaml_node_t *n, sweep_engine *e)
{
    const char *known = "one of: backend, threads, activations, max_new_tokens, samples_per_item, on_signal, fake, "
                        "fake_ms_per_ktok, attention_recall, store_kept";
    if (n->type != YAML_MAPPING_NODE) return syaml_err(y, n, "a mapping", "'engine' has the wrong type");
    FOR_PAIRS(y, n, k, v)
    {
        const char *key = k->type == YAML_SCALAR_NODE ? syaml_scalar(k) : "";
        int rc;
        if (!strcmp(key, "backend")) {
            rc = syaml_string(y, v, key, &e->backend);
            if (rc == KV_OK && strcmp(e->backend, "cpu") && strcmp(e->backend, "cuda") && strcmp(e->backend, "auto"))
                return syaml_err(y, v, "one of: cpu, cuda, auto", "unknown backend '%s'", e->backend);
        } else if (!strcmp(key, "threads"))
            rc = syaml_int(y, v, key, 0, 4096, &e->threads);
        else if (!strcmp(key, "activations"))
            rc = syaml_choice(y, v, key, engine_activations_parse, &e->activations);
        else if (!strcmp(key, "max_new_tokens"))
            rc = syaml_int(y, v, key, 1, 1 << 20, &e->max_new_tokens);
        else if (!strcmp(key, "samples_per_item"))
            rc = syaml_int(y, v, key, 1, 1 << 20, &e->samples_per_item);
        else if (!strcmp(key, "fake"))
            rc = get_bool(y, v, key, &e->fake);
        else if (!strcmp(key, "attention_recall"))
            rc = get_bool(y, v, key, &e->attention_recall);
        else if (!strcmp(key, "store_kept"))
            rc = get_bool(y, v, key, &e->store_kept);
        else if (!strcmp(key, "fake_ms_per_ktok"))
            rc = get_double(y, v, key, &e->fake_ms_per_ktok);
        else if (!strcmp(key, "on_signal")) {
            if (v->type != YAML_SCALAR_NODE || (strcmp(syaml_scalar(v), "finish") && strcmp(syaml_scalar(v), "drop")))
                return syaml_err(y, v, "finish or drop", "'on_signal' is not valid");
            e->drop_on_signal = !strcmp(syaml_scalar(v), "drop");
            rc = KV_OK;
        } else
            return syaml_unknown_key(y, k, "engine", known);
        if (rc != KV_OK) return KV_ERR;
    }
    return KV_OK;
}

/* The needle task after the LongBench tasks (alone when the sweep lists no tasks); its haystack
 * defaults to the data folder's multi_news contexts. */
static void add_needle_task(sweep *s)
{
    s->tasks = kv_realloc(s->tasks, sizeof *s->tasks * (size_t)(s->n_tasks + 1));
    s->tasks[s->n_tasks++] = kv_strdup(LB_NEEDLE_TASK);
    if (!s->needle.haystack) {
        char p[4096];
        snprintf(p, sizeof p, "%s/multi_news.jsonl", s->data_dir);
        s->needle.haystack = kv_strdup(p);
    }
}

/* After the keys of the root: the required ones present, the lists parsed, defaults for tasks,
 * samples, output and engine, the data files there, every variant valid, one TP size. */
static int root_complete(yparse *y, yaml_node_t *root, sweep *s, yaml_node_t *data, yaml_node_t *methods,
                         yaml_node_t *budgets, yaml_node_t *models)
{
    if (!s->name) return syaml_err(y, root, "a 'name' key", "sweep without a name");
    if (!data) return syaml_err(y, root, "a 'data' key (folder of LongBench <task>.jsonl files)", "sweep without data");
    if (!methods) return syaml_err(y, root, "a 'methods' list", "sweep without methods");
    if (!budgets) return syaml_err(y, root, "a 'budgets' list", "sweep without budgets");
    if (!models) return syaml_err(y, root, "a 'models' list", "sweep without models");
    if (parse_budgets(y, budgets, s) != KV_OK || parse_methods(y, methods, s) != KV_OK ||
        parse_models(y, models, s) != KV_OK)
        return KV_ERR;
    if (!s->tasks && !s->needle.on &&
        parse_tasks(y, &(yaml_node_t){.type = YAML_SCALAR_NODE, .data.scalar.value = (yaml_char_t *)"all"}, s) != KV_OK)
        return KV_ERR;
    if (s->needle.on) add_needle_task(s);
    if (!s->samples) {
        s->samples = kv_calloc(1, sizeof *s->samples);
        s->samples[0] = (sweep_range){0, -1};
        s->n_samples = 1;
    }
    if (!kv_is_dir(s->data_dir)) return syaml_err(y, data, "an existing folder of <task>.jsonl files", "data folder '%s' not found", s->data_dir);
    for (int i = 0; i < s->n_tasks; i++) {
        char p[4096];
        sweep_task_path(s, s->tasks[i], p, sizeof p);
        if (!kv_file_exists(p))
            return syaml_err(y, data, "one <task>.jsonl per selected task (the needle: its haystack file)",
                             "data file '%s' not found", p);
    }
    if (!s->output) {
        char o[1024];
        snprintf(o, sizeof o, "results/%s", s->name);
        s->output = kv_strdup(o);
    }
    if (!s->engine.backend) s->engine.backend = kv_strdup("auto");
    if (!s->engine.samples_per_item) s->engine.samples_per_item = 1;
    /* Budgets against every method's own rule (budget <= window, CircuitKV's C > sinks + W, ...). */
    sweep_variant *vars;
    int nv;
    if (sweep_variants(s, &vars, &nv) != KV_OK) return KV_ERR;
    free(vars);
    /* TP groups are consecutive ranks of one size for the whole job (DESIGN §6). */
    for (int i = 1; i < s->n_models; i++)
        if (s->models[i].tensor_parallel != s->models[0].tensor_parallel)
            return syaml_err(y, models, "one tensor_parallel value per sweep (split the sweep by TP size)",
                        "models '%s' and '%s' have different tensor_parallel", s->models[0].name, s->models[i].name);
    return KV_OK;
}

static int parse_root(yparse *y, yaml_node_t *root, sweep *s)
{
    const char *known = "one of: name, output, preset, data, tasks, samples, budgets, methods, models, engine, needle";
    yaml_node_t *methods = NULL, *budgets = NULL, *models = NULL, *data = NULL;
    if (!root || root->type != YAML_MAPPING_NODE) {
        kv_seterr("sweep file is not a mapping (%s:1:1): name, data, tasks, budgets, methods, models", y->file);
        return KV_ERR;
    }
    s->preset = PRESET_REFERENCE_HEAD;
    FOR_PAIRS(y, root, k, v)
    {
        const char *key = k->type == YAML_SCALAR_NODE ? syaml_scalar(k) : "";
        int rc = KV_OK;
        if (!strcmp(key, "name")) {
            rc = syaml_string(y, v, key, &s->name);
            if (rc == KV_OK && !safe_name(s->name))
                return syaml_err(y, v, "letters, digits, '-', '_' and '.'", "sweep name '%s' is not valid", s->name);
        } else if (!strcmp(key, "output"))
            rc = syaml_string(y, v, key, &s->output);
        else if (!strcmp(key, "preset")) {
            if (v->type != YAML_SCALAR_NODE || preset_parse(syaml_scalar(v), &s->preset) != KV_OK)
                return syaml_err(y, v, preset_choices(), "unknown preset");
        } else if (!strcmp(key, "data")) {
            rc = syaml_string(y, v, key, &s->data_dir);
            data = v;
        } else if (!strcmp(key, "tasks"))
            rc = parse_tasks(y, v, s);
        else if (!strcmp(key, "needle"))
            rc = sweep_parse_needle(y, v, s);
        else if (!strcmp(key, "samples"))
            rc = parse_samples(y, v, s);
        else if (!strcmp(key, "budgets"))
            budgets = v;
        else if (!strcmp(key, "methods"))
            methods = v;
        else if (!strcmp(key, "models"))
            models = v;
        else if (!strcmp(key, "engine"))
            rc = parse_engine(y, v, &s->engine);
        else
            return syaml_unknown_key(y, k, "the sweep", known);
        if (rc != KV_OK) return KV_ERR;
    }
    return root_complete(y, root, s, data, methods, budgets, models);
}

int sweep_load(const char *path, sweep *s)
{
    memset(s, 0, sizeof *s);
    char *text;
    size_t len;
    if (kv_read_file(path, &text, &len) != KV_OK) return KV_ERR;
    s->file = kv_strdup(path);
    s->hash = kv_fnv1a(text, len, KV_FNV_SEED);
    yaml_parser_t p;
    yparse y = {.file = path};
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &y.doc)) {
        kv_seterr("malformed YAML (%s:%zu:%zu): %s", path, p.problem_mark.line + 1, p.problem_mark.column + 1,
                  p.problem ? p.problem : "valid YAML");
        yaml_parser_delete(&p);
        free(text);
        free(s->file);
        s->file = NULL;
        return KV_ERR;
    }
    int rc = check_unique_keys(&y);
    if (rc == KV_OK) rc = parse_root(&y, yaml_document_get_root_node(&y.doc), s);
    yaml_document_delete(&y.doc);
    yaml_parser_delete(&p);
    free(text);
    if (rc != KV_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kv_lasterr());
        sweep_free(s);
        kv_seterr("%s", msg);
    }
    return rc;
}

void sweep_free(sweep *s)
{
    free(s->file);
    free(s->name);
    free(s->output);
    free(s->data_dir);
    for (int i = 0; i < s->n_tasks; i++) free(s->tasks[i]);
    free(s->tasks);
    free(s->needle.haystack), free(s->needle.needle), free(s->needle.question), free(s->needle.lengths);
    free(s->samples);
    free(s->budgets);
    for (int i = 0; i < s->n_methods; i++) {
        sweep_method *m = &s->methods[i];
        for (int k = 0; k < m->n_knobs; k++) free(m->key[k]), free(m->value[k]);
        free(m->name);
    }
    free(s->methods);
    for (int i = 0; i < s->n_models; i++) {
        sweep_model *m = &s->models[i];
        free(m->name), free(m->path), free(m->family), free(m->chat), free(m->dtype);
    }
    free(s->models);
    free(s->engine.backend);
    memset(s, 0, sizeof *s);
}

void sweep_task_path(const sweep *s, const char *task, char *buf, int n)
{
    if (sweep_task_is_needle(task) && s->needle.haystack)
        snprintf(buf, (size_t)n, "%s", s->needle.haystack);
    else
        snprintf(buf, (size_t)n, "%s/%s.jsonl", s->data_dir, task);
}

int sweep_task_is_needle(const char *task) { return task && !strcmp(task, LB_NEEDLE_TASK); }

int sweep_model_max_prompt_tokens(const sweep_model *m)
{
    return m->max_prompt_tokens > 0 ? m->max_prompt_tokens : lb_max_prompt_tokens(m->family);
}

int sweep_sample_selected(const sweep *s, int i)
{
    for (int r = 0; r < s->n_samples; r++)
        if (i >= s->samples[r].lo && (s->samples[r].hi < 0 || i < s->samples[r].hi)) return 1;
    return 0;
}

/* A method that keeps everything (FullKV) runs once, budget 0, whatever the budgets. */
static int is_fullkv(const method_desc *d) { return !d->compresses; }

int sweep_variants(const sweep *s, sweep_variant **out, int *n)
{
    int cap = s->n_methods * s->n_budgets + 1, nv = 0;
    sweep_variant *v = kv_calloc(cap, sizeof *v);
    /* Table order: the registry's method order, then the sweep's order of entries, then budget. */
    for (int r = 0; method_registry[r]; r++) {
        int repeats = 0;
        for (int m = 0; m < s->n_methods; m++) repeats += s->methods[m].desc == method_registry[r];
        for (int m = 0; m < s->n_methods; m++) {
            const sweep_method *sm = &s->methods[m];
            if (sm->desc != method_registry[r]) continue;
            int nb = is_fullkv(sm->desc) ? 1 : s->n_budgets;
            for (int b = 0; b < nb; b++) {
                sweep_variant *sv = &v[nv];
                int budget = is_fullkv(sm->desc) ? 0 : s->budgets[b];
                variant_init(&sv->v, sm->desc, budget, s->preset);
                for (int k = 0; k < sm->n_knobs; k++)
                    if (variant_set_knob(&sv->v, sm->key[k], sm->value[k]) != KV_OK) {
                        char msg[1024];
                        snprintf(msg, sizeof msg, "%s", kv_lasterr());
                        kv_seterr("bad knob for %s (%s): %s", sm->desc->name, sm->where, msg);
                        free(v);
                        return KV_ERR;
                    }
                if (sm->desc->check && budget > 0) {
                    /* Model-independent part of the check; the model-specific part is in sweep_check_models. */
                    model_config cfg = {.n_layers = 32, .n_heads = 32, .n_kv_heads = 8, .head_dim = 128, .dim = 4096};
                    if (sm->desc->check(&sv->v, &cfg) != KV_OK) {
                        char msg[1024];
                        snprintf(msg, sizeof msg, "%s", kv_lasterr());
                        char bl[32];
                        budget_label(budget, bl, sizeof bl, 0);
                        kv_seterr("budget %s is impossible for %s (%s): %s", bl, sm->desc->display, sm->where, msg);
                        free(v);
                        return KV_ERR;
                    }
                }
                variant_describe(&sv->v, sv->key, sizeof sv->key);
                for (int j = 0; j < nv; j++)
                    if (!strcmp(v[j].key, sv->key)) {
                        kv_seterr("method entry repeats another (%s): distinct methods or knobs (%s)", sm->where, sv->key);
                        free(v);
                        return KV_ERR;
                    }
                if (repeats > 1 && sm->n_knobs > 0) {
                    int len = snprintf(sv->label, sizeof sv->label, "%s(", sm->desc->display);
                    for (int k = 0; k < sm->n_knobs && len < (int)sizeof sv->label; k++)
                        len += snprintf(sv->label + len, sizeof sv->label - (size_t)len, "%s%s=%s", k ? "," : "",
                                        sm->key[k], sm->value[k]);
                    if (len < (int)sizeof sv->label) snprintf(sv->label + len, sizeof sv->label - (size_t)len, ")");
                } else {
                    snprintf(sv->label, sizeof sv->label, "%s", sm->desc->display);
                }
                sv->method_index = m;
                sv->budget = budget;
                nv++;
            }
        }
    }
    *out = v;
    *n = nv;
    return KV_OK;
}

int sweep_check_models(sweep *s)
{
    sweep_variant *vars;
    int nv;
    if (sweep_variants(s, &vars, &nv) != KV_OK) return KV_ERR;
    for (int i = 0; i < s->n_models; i++) {
        sweep_model *m = &s->models[i];
        model_config cfg;
        if (model_config_load(m->path, &cfg) != KV_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            kv_seterr("cannot read the config of model '%s' (%s): %s", m->name, m->where, msg);
            free(vars);
            return KV_ERR;
        }
        m->n_layers = cfg.n_layers, m->n_heads = cfg.n_heads, m->n_kv_heads = cfg.n_kv_heads;
        m->dim = cfg.dim, m->hidden_dim = cfg.hidden_dim, m->vocab_size = cfg.vocab_size, m->head_dim = cfg.head_dim;
        int tp = m->tensor_parallel;
        if (cfg.n_heads % tp || cfg.n_kv_heads % tp) {
            kv_seterr("tensor_parallel %d does not divide the heads of model '%s' (%s): a divisor of both "
                      "n_heads %d and n_kv_heads %d",
                      tp, m->name, m->where, cfg.n_heads, cfg.n_kv_heads);
            free(vars);
            return KV_ERR;
        }
        for (int v = 0; v < nv; v++) {
            const method_desc *d = vars[v].v.method;
            method_needs nd;
            variant_needs(&vars[v].v, &nd);
            if (tp > 1 && nd.host) { /* host statistics: engine/stats_backend.c */
                char what[160];
                layer_needs_describe(nd.host, what, sizeof what);
                kv_seterr("method %s is refused under tensor_parallel %d (model '%s', %s): %s needs %s, computed on "
                          "the host from every head's q, k and v of a layer, and a tensor-parallel rank holds only "
                          "its own heads; run it in a sweep with tensor_parallel 1",
                          d->name, tp, m->name, m->where, vars[v].key, what);
                free(vars);
                return KV_ERR;
            }
            if (d->check && vars[v].budget > 0 && d->check(&vars[v].v, &cfg) != KV_OK) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", kv_lasterr());
                kv_seterr("%s is impossible for model '%s' (%s): %s", vars[v].key, m->name,
                          s->methods[vars[v].method_index].where, msg);
                free(vars);
                return KV_ERR;
            }
        }
    }
    free(vars);
    return KV_OK;
}
