/* method: the registry of compression plug-ins (table row order of the results), the two presets,
 * and variants: a method plus a budget and its knobs, set from text and described for provenance. */
#include "engine/method.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/methods/methods.h"
#include "util/util.h"
#include "kernels/scoring.h"

/* Test builds may register one more plug-in without editing this file (tests/toy_method.c:
 * -DMETHOD_EXTRA=method_toy); a real method is one line of the list below. */
#ifdef METHOD_EXTRA
extern const method_desc METHOD_EXTRA;
#define METHOD_EXTRA_ENTRY &METHOD_EXTRA,
#else
#define METHOD_EXTRA_ENTRY
#endif

const method_desc *const method_registry[] = {&method_fullkv,       &method_snapkv, &method_pyramidkv,
                                              &method_h2o,          &method_streamingllm, &method_circuitkv,
                                              /* kvpress / KVCache-Factory anchors (issue 17) */
                                              &method_random,       &method_knorm,  &method_tova,
                                              &method_keydiff,      &method_expected_attention,
                                              &method_adakv,        METHOD_EXTRA_ENTRY NULL};

const method_desc *method_find(const char *name)
{
    for (int i = 0; method_registry[i]; i++)
        if (!strcasecmp(name, method_registry[i]->name) || !strcasecmp(name, method_registry[i]->display))
            return method_registry[i];
    return NULL;
}

int method_rank(const char *display)
{
    int i = 0;
    for (; method_registry[i]; i++)
        if (!strcasecmp(display, method_registry[i]->display)) return i;
    return i;
}

int method_count(void) { return method_rank(""); }

void variant_needs(const variant *v, method_needs *out)
{
    memset(out, 0, sizeof *out);
    if (v->method->needs) v->method->needs(v, out);
}

const preset_desc preset_table[PRESET_COUNT] = {
    {"reference-head", "W = 64 for SnapKV/PyramidKV/H2O, H2O mode causal, the Llama-3.1/3.3 chat wrapper"},
    {"reference-2026-01", "the seed tables: W = 8, H2O mode prefix, no Llama-3.x chat wrapper, fp16 scores"},
};

const char *preset_choices(void)
{
    static char buf[256]; /* the same text on every call */
    size_t off = 0;
    for (int i = 0; i < PRESET_COUNT; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i == 0 ? "" : i + 1 < PRESET_COUNT ? ", " : " or ",
                                preset_table[i].name);
    return buf;
}

int preset_parse(const char *name, kv_preset *out)
{
    for (int i = 0; i < PRESET_COUNT; i++)
        if (!strcasecmp(name, preset_table[i].name)) {
            *out = (kv_preset)i;
            return KV_OK;
        }
    kv_seterr("unknown preset '%s': expected %s", name, preset_choices());
    return KV_ERR;
}

const char *preset_name(kv_preset p) { return p >= 0 && p < PRESET_COUNT ? preset_table[p].name : "?"; }

void variant_init(variant *v, const method_desc *m, int budget, kv_preset preset)
{
    memset(v, 0, sizeof *v);
    v->method = m;
    v->budget = budget;
    v->preset = preset;
    for (int i = 0; i < m->n_knobs && i < METHOD_MAX_KNOBS; i++)
        v->knob[i] = m->knobs[i].def[preset];
}

static int knob_index(const method_desc *m, const char *name)
{
    for (int i = 0; i < m->n_knobs; i++)
        if (!strcmp(m->knobs[i].name, name)) return i;
    return -1;
}

/* "a|b|c" of an enum knob's choices. */
static void choices_join(const method_knob *kn, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (int c = 0; kn->choices[c] && off < n; c++)
        off += (size_t)snprintf(buf + off, n - off, "%s%s", c ? "|" : "", kn->choices[c]);
}

int variant_set_knob(variant *v, const char *knob, const char *value)
{
    const method_desc *m = v->method;
    if (!strcmp(knob, "budget")) {
        int b;
        if (budget_parse(value, &b) != KV_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            kv_seterr("budget of %s: %s", m->display, msg);
            return KV_ERR;
        }
        v->budget = b;
        return KV_OK;
    }
    int i = knob_index(m, knob);
    if (i < 0) {
        char names[512];
        size_t off = 0;
        names[0] = 0;
        for (int t = 0; t < m->n_knobs && off < sizeof names; t++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", t ? ", " : "", m->knobs[t].name);
        kv_seterr("%s has no knob '%s': its knobs are budget%s%s", m->display, knob, m->n_knobs ? ", " : "",
                  names);
        return KV_ERR;
    }
    const method_knob *kn = &m->knobs[i];
    if (kn->choices) {
        for (int c = 0; kn->choices[c]; c++)
            if (!strcasecmp(value, kn->choices[c])) {
                v->knob[i] = c;
                return KV_OK;
            }
        char list[256];
        choices_join(kn, list, sizeof list);
        kv_seterr("knob %s of %s: '%s' is not one of %s", knob, m->display, value, list);
        return KV_ERR;
    }
    /* numeric; booleans spelled true/false (sweeps write `per_head: true`) read as 1/0 */
    if (!strcasecmp(value, "true") || !strcasecmp(value, "false")) {
        v->knob[i] = !strcasecmp(value, "true");
        return KV_OK;
    }
    char *end;
    errno = 0;
    double x = strtod(value, &end);
    while (end && isspace((unsigned char)*end)) end++;
    if (errno || end == value || *end || !isfinite(x)) {
        kv_seterr("knob %s of %s: '%s' is not a number (%s)", knob, m->display, value, kn->help);
        return KV_ERR;
    }
    v->knob[i] = x;
    return KV_OK;
}

double variant_knob(const variant *v, const char *knob)
{
    int i = knob_index(v->method, knob);
    return i < 0 ? NAN : v->knob[i];
}

void variant_describe(const variant *v, char *buf, size_t n)
{
    const method_desc *m = v->method;
    char bl[32];
    budget_label(v->budget, bl, sizeof bl, 0);
    size_t off = (size_t)snprintf(buf, n, "%s(budget=%s", m->display, bl);
    for (int i = 0; i < m->n_knobs && off < n; i++) {
        const method_knob *kn = &m->knobs[i];
        int c = (int)v->knob[i];
        if (kn->choices && c >= 0 && kn->choices[c] && c == v->knob[i])
            off += (size_t)snprintf(buf + off, n - off, ",%s=%s", kn->name, kn->choices[c]);
        else { /* the shortest form that reads back exactly: 0.01, not 0.010000000000000000208 */
            char num[40];
            snprintf(num, sizeof num, "%.15g", v->knob[i]);
            if (strtod(num, NULL) != v->knob[i]) snprintf(num, sizeof num, "%.17g", v->knob[i]);
            off += (size_t)snprintf(buf + off, n - off, ",%s=%s", kn->name, num);
        }
    }
    if (off < n) snprintf(buf + off, n - off, ")");
}

/* ---- budgets: tokens or a fraction of the prompt ---- */

int budget_parse(const char *text, int *out)
{
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    int pct = end != text && *end == '%';
    if (pct) end++;
    while (end && isspace((unsigned char)*end)) end++;
    if (errno || end == text || *end || !isfinite(x)) goto bad;
    if (pct) x /= 100;
    if (!pct && x >= 1) {
        if (x != floor(x) || x >= BUDGET_FRAC_BASE) goto bad;
        *out = (int)x;
        return KV_OK;
    }
    if (x <= 0 || x >= 1) goto bad;
    double scaled = x * BUDGET_FRAC_SCALE;
    if (fabs(scaled - floor(scaled + 0.5)) > 1e-6 * scaled) goto bad;
    *out = BUDGET_FRAC_BASE + (int)floor(scaled + 0.5);
    return KV_OK;
bad:
    kv_seterr("budget '%s' is neither a positive integer (tokens per layer and head) nor a fraction in (0, 1) "
              "such as 0.25 or 25%% (kept share of the prompt, at most 6 decimals)", text);
    return KV_ERR;
}

int budget_resolve(int budget, int L)
{
    if (!budget_is_fraction(budget)) return budget;
    double f = budget_fraction(budget), ratio = 1.0 - f; /* kvpress: n_kept = int(L * (1 - ratio)) */
    int n = (int)(L * (1.0 - ratio));
    return n < 1 ? 1 : n;
}

void budget_label(int budget, char *buf, size_t n, int pct)
{
    if (!budget_is_fraction(budget)) snprintf(buf, n, "%d", budget);
    else if (pct) snprintf(buf, n, "%.10g%%", budget_fraction(budget) * 100);
    else snprintf(buf, n, "%.10g", budget_fraction(budget));
}

/* ---- helpers shared by the plug-ins (engine/methods/methods.h) ---- */

int method_knob_real(const variant *v, const char *name, double lo, double hi, double *out)
{
    double x = variant_knob(v, name);
    if (isnan(x) || x < lo || x > hi) {
        kv_seterr("%s: knob %s = %g is outside [%g, %g]", v->method->display, name, x, lo, hi);
        return KV_ERR;
    }
    *out = x;
    return KV_OK;
}

int method_knob_int(const variant *v, const char *name, int lo, int hi, int *out)
{
    double x = variant_knob(v, name);
    if (isnan(x) || x != floor(x) || x < lo || x > hi) {
        kv_seterr("%s: knob %s = %g must be an integer in [%d, %d]", v->method->display, name, x, lo, hi);
        return KV_ERR;
    }
    *out = (int)x;
    return KV_OK;
}

int method_expected_budget(const variant *v, const model_config *cfg, int L, int layer)
{
    (void)cfg;
    (void)layer;
    return L < v->budget ? L : v->budget;
}

void method_keep_topk_window(kv_view *view, int layer, int head, const float *score, int L, int W, int n_keep,
                             float *scratch)
{
    int *row = kv_view_row(view, layer, head);
    int m = topk_lowest_cpu(row, score, L - W, n_keep, scratch); /* ascending, all < L-W */
    for (int j = L - W; j < L; j++) row[m++] = j;
    view->len[layer * view->n_heads + head] = m;
}
