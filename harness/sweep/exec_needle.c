/* exec_needle: the needle task in the executors (see exec_needle.h). */
#include "harness/sweep/exec_needle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/util.h"

lb_needle_cfg exec_needle_cfg(const sweep *s)
{
    return (lb_needle_cfg){.needle = s->needle.needle, .question = s->needle.question, .buffer = s->needle.buffer};
}

void exec_needle_id(int index, char *buf, size_t n)
{
    int L, d;
    lb_needle_sample_split(index, &L, &d);
    snprintf(buf, n, "len%d-depth%d", L, d);
}

int exec_needle_scan(const sweep *s, task_data *out)
{
    memset(out, 0, sizeof *out);
    char *text;
    if (lb_needle_haystack_load(s->needle.haystack, &text, &out->hash) != KV_OK) return KV_ERR;
    free(text);
    const sweep_needle *nd = &s->needle;
    int n = nd->n_lengths * nd->n_depths;
    out->index = kv_malloc(sizeof(int) * (size_t)n);
    out->est_tokens = kv_malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < nd->n_lengths; i++)
        for (int j = 0; j < nd->n_depths; j++) {
            /* the reference's context is length - buffer tokens; the template adds ~40 */
            out->index[out->n] = lb_needle_sample_index(nd->lengths[i], nd->depths[j]);
            out->est_tokens[out->n++] = nd->lengths[i] - nd->buffer + 40;
        }
    out->n_in_file = n;
    return KV_OK;
}

int exec_needle_prompts(const exec_ctx *c, const work_item *it, const tokenizer *tok, chat_format cf,
                        item_record *rec, lb_prompt *p)
{
    const char *hay = (const char *)c->task_samples[it->task];
    lb_needle_cfg cfg = exec_needle_cfg(c->s);
    for (int k = 0; k < it->n_samples; k++) {
        int L, d;
        char id[64];
        lb_needle_sample_split(it->samples[k], &L, &d);
        if (lb_needle_prompt(tok, hay, &cfg, L, d, cf, &p[k]) != KV_OK) return KV_ERR;
        exec_needle_id(it->samples[k], id, sizeof id);
        sample_info *si = &rec->samples[k];
        si->index = it->samples[k];
        si->id = kv_strdup(id);
        si->prompt_tokens_raw = p[k].n_full;
        si->prompt_tokens = p[k].n;
    }
    return KV_OK;
}

void exec_needle_fake(const exec_ctx *c, const work_item *it, int k, item_record *rec)
{
    int L, d;
    char id[64];
    lb_needle_sample_split(it->samples[k], &L, &d);
    exec_needle_id(it->samples[k], id, sizeof id);
    sample_info *si = &rec->samples[k];
    si->index = it->samples[k];
    si->id = kv_strdup(id);
    si->prompt_tokens_raw = si->prompt_tokens = L;
    const char *needle = c->s->needle.needle;
    size_t len = strlen(needle);
    for (int j = 0; j < it->n_variants; j++) {
        const sweep_variant *sv = &c->vars[it->variants[j]];
        var_result *r = &rec->res[(size_t)k * it->n_variants + j];
        uint64_t h = kv_fnv1a(sv->key, strlen(sv->key), kv_fnv1a(id, strlen(id), KV_FNV_SEED));
        int bud = budget_resolve(sv->budget, L);
        /* FullKV finds the needle; a compressed variant keeps a share that shrinks with depth and budget */
        double q = bud > 0 ? (double)bud / L + (double)(h % 100) / 200.0 : 1.0;
        size_t keep = q >= 1 ? len : (size_t)(q * (double)len);
        r->prediction = kv_malloc(keep + 1);
        memcpy(r->prediction, needle, keep);
        r->prediction[keep] = 0;
        r->n_generated = (int)(keep / 4) + 1;
        r->stopped = 1;
        int kept = bud > 0 && bud < L ? bud : L;
        r->kept_mean = kept, r->kept_min = kept, r->kept_max = kept, r->kept_expected = kept;
        r->score = lb_needle_score(needle, r->prediction);
    }
}
