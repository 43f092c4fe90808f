/* longbench_prompt: the tokenizer-free half of prompt building — template substitution, the
 * per-preset chat rule and max_prompt_tokens per model family (DESIGN §4–5). The tokenizer half
 * (encode, middle truncation, prediction decode) is harness/longbench/tokens.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/longbench/longbench.h"

typedef enum { FAMILY_OTHER = 0, FAMILY_LLAMA3, FAMILY_LLAMA31 } lb_family;

/* "llama3", "Llama-3-8B-Instruct" → LLAMA3; "llama3.1", "meta-llama/Llama-3.3-70B-Instruct" →
 * LLAMA31 (3.1 and 3.3 share the chat wrapper and context). Case, '-', '_' and ' ' are ignored. */
static lb_family family_parse(const char *family)
{
    if (!family) return FAMILY_OTHER;
    char norm[256];
    size_t k = 0;
    for (const char *p = family; *p && k + 1 < sizeof norm; p++)
        if (*p != '-' && *p != '_' && *p != ' ') norm[k++] = (char)tolower((unsigned char)*p);
    norm[k] = 0;
    if (strstr(norm, "llama3.1") || strstr(norm, "llama3.3")) return FAMILY_LLAMA31;
    if (strstr(norm, "llama3")) {
        const char *p = strstr(norm, "llama3") + 6;
        if (*p != '.') return FAMILY_LLAMA3; /* "llama3.2" and later are not reference models */
    }
    return FAMILY_OTHER;
}

chat_format lb_chat_for(kv_preset preset, const char *family, const lb_task *t)
{
    /* reference-head wraps Llama-3.1/3.3 except trec, samsum, lcc, repobench-p;
     * reference-2026-01 wraps no Llama-3.x; Llama-3-8B is never wrapped */
    if (preset == PRESET_REFERENCE_HEAD && family_parse(family) == FAMILY_LLAMA31 && !t->skip_chat_head)
        return CHAT_LLAMA3;
    return CHAT_NONE;
}

int lb_max_prompt_tokens(const char *family)
{
    switch (family_parse(family)) {
    case FAMILY_LLAMA3: return 7950;
    case FAMILY_LLAMA31: return 127500;
    default: return 0;
    }
}

/* template.format(**example): only {context} and {input} occur in the templates (no escaped
 * braces), and the values are inserted as they are. */
char *lb_prompt_format(const lb_task *t, const lb_sample *s)
{
    const char *tpl = t->template_text;
    const char *ctx = s->context ? s->context : "", *in = s->input ? s->input : "";
    size_t cap = strlen(tpl) + strlen(ctx) + strlen(in) + 1, o = 0;
    char *out = kv_malloc(cap);
    for (const char *p = tpl; *p;) {
        const char *v = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{context}", 9)) { v = ctx; skip = 9; }
        else if (!strncmp(p, "{input}", 7)) { v = in; skip = 7; }
        if (v) {
            size_t n = strlen(v);
            memcpy(out + o, v, n);
            o += n;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    return out;
}
