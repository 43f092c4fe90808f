/* longbench_tokens: the tokenizer half of the LongBench pipeline — prompt ids with the chat
 * wrapper and the reference's middle truncation, the generation rules the engine runs with, and
 * the prediction text (DESIGN §3 Generation, §5 Truncation). */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/longbench/longbench.h"

/* decode(ids[:half], skip_special_tokens=True) + decode(ids[-half:], ...), each half cleaned up
 * on its own as transformers does, then tokenizer(text) with the tokenizer's own special-token
 * setting (BOS for Llama-3, none for SmolLM2); the new length is not
 * re-checked (it may differ from max by a token or two). */
int lb_truncate_middle(const tokenizer *tok, const int *ids, int n, int max_tokens, int **out, int *n_out)
{
    if (max_tokens <= 0 || n <= max_tokens) {
        *out = kv_malloc((size_t)(n > 0 ? n : 1) * sizeof **out);
        memcpy(*out, ids, (size_t)n * sizeof **out);
        *n_out = n;
        return KV_OK;
    }
    int half = max_tokens / 2;
    /* Python's ids[-0:] is the whole list: with max 1 the second "half" is everything */
    const int *tail = half ? ids + n - half : ids;
    int n_tail = half ? half : n;
    char *a = NULL, *b = NULL;
    size_t la, lb;
    if (tokenizer_decode(tok, ids, half, 1, 1, &a, &la) || tokenizer_decode(tok, tail, n_tail, 1, 1, &b, &lb)) {
        free(a);
        return KV_ERR;
    }
    char *text = kv_malloc(la + lb + 1);
    memcpy(text, a, la);
    memcpy(text + la, b, lb);
    text[la + lb] = 0;
    free(a);
    free(b);
    int rc = tokenizer_encode(tok, text, la + lb, tokenizer_add_bos(tok), out, n_out);
    free(text);
    return rc;
}

int lb_prompt_build(const tokenizer *tok, const lb_task *t, const lb_sample *s, chat_format chat,
                    int max_prompt_tokens, lb_prompt *out)
{
    memset(out, 0, sizeof *out);
    char *text = lb_prompt_format(t, s);
    if (chat != CHAT_NONE) {
        /* the Llama-3 wrapper carries "<|begin_of_text|>" and the tokenizer adds BOS again on
         * encode, so the ids start 128000, 128000, 128006 like the reference's */
        char *wrapped = chat_wrap(chat, text);
        free(text);
        text = wrapped;
    }
    int *ids, n;
    int rc = tokenizer_encode(tok, text, strlen(text), tokenizer_add_bos(tok), &ids, &n);
    free(text);
    if (rc) return KV_ERR;
    out->n_full = n;
    rc = lb_truncate_middle(tok, ids, n, max_prompt_tokens, &out->ids, &out->n);
    out->truncated = max_prompt_tokens > 0 && n > max_prompt_tokens;
    free(ids);
    return rc;
}

void lb_prompt_free(lb_prompt *p)
{
    free(p->ids);
    memset(p, 0, sizeof *p);
}

int lb_gen_rules_get(const lb_task *t, kv_preset preset, const tokenizer *tok, const int *stop_ids,
                     int n_stop_ids, lb_gen_rules *out)
{
    (void)preset; /* both presets generate alike; the argument keeps the call site preset-aware */
    memset(out, 0, sizeof *out);
    out->max_new_tokens = t->max_new_tokens;
    out->mask_first = 1; /* reference: min_length = context_length + 1 */
    int eos = tok ? tokenizer_eos_id(tok) : -1;
    if (eos >= 0) out->stop_ids[out->n_stop_ids++] = eos; /* the reference passes eos_token_id only */
    for (int i = 0; i < n_stop_ids; i++) {
        int dup = 0;
        for (int k = 0; k < out->n_stop_ids; k++) dup |= out->stop_ids[k] == stop_ids[i];
        if (dup) continue;
        if (out->n_stop_ids == LB_MAX_STOP_IDS) {
            kv_seterr("%d stop ids (eos and the configured extras); at most %d are supported",
                      n_stop_ids + (eos >= 0), LB_MAX_STOP_IDS);
            return KV_ERR;
        }
        out->stop_ids[out->n_stop_ids++] = stop_ids[i];
    }
    if (out->n_stop_ids == 0) {
        kv_seterr("no stop id: the tokenizer has no eos_token and the model configures no stop ids");
        return KV_ERR;
    }
    return KV_OK;
}

void lb_gen_rules_params(const lb_gen_rules *r, gen_params *gp)
{
    gp->max_new_tokens = r->max_new_tokens;
    gp->stop_ids = r->stop_ids;
    gp->n_stop_ids = r->n_stop_ids;
    gp->mask_first = r->mask_first;
}

int lb_prediction_text(const tokenizer *tok, const int *ids, int n, char **text, size_t *len)
{
    return tokenizer_decode(tok, ids, n, 1, 1, text, len); /* no strip */
}
