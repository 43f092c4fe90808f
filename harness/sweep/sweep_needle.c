/* sweep_needle: the sweep's `needle:` section (harness/longbench/needle.h):
 *   needle: {lengths: [1000, 2000], depths: 11, haystack: FILE, needle: TEXT, question: TEXT, buffer: 200}
 * lengths (required) are context lengths in tokens of the model's tokenizer; depths is the count
 * of depth percents spread evenly over 0..100. */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/longbench/needle.h"
#include "harness/sweep/sweep_yaml.h"

static int parse_lengths(yparse *y, yaml_node_t *n, sweep_needle *nd)
{
    if (n->type != YAML_SEQUENCE_NODE || SEQ_LEN(n) == 0)
        return syaml_err(y, n, "a non-empty list of context lengths in tokens", "'needle.lengths' has the wrong type");
    nd->lengths = kv_calloc(SEQ_LEN(n), sizeof *nd->lengths);
    for (int i = 0; i < SEQ_LEN(n); i++) {
        yaml_node_t *e = SEQ_ITEM(y, n, i);
        int L;
        if (syaml_int(y, e, "needle.lengths", 1, LB_NEEDLE_MAX_LENGTH, &L) != KV_OK) return KV_ERR;
        for (int j = 0; j < nd->n_lengths; j++)
            if (nd->lengths[j] == L) return syaml_err(y, e, "distinct lengths", "needle length %d repeats", L);
        int j = nd->n_lengths++;
        for (; j > 0 && nd->lengths[j - 1] > L; j--) nd->lengths[j] = nd->lengths[j - 1];
        nd->lengths[j] = L;
    }
    return KV_OK;
}

static int check_lengths(yparse *y, yaml_node_t *n, const sweep_needle *nd)
{
    if (!nd->lengths) return syaml_err(y, n, "'lengths: [1000, 2000, ...]' (tokens)", "needle section without lengths");
    if (nd->lengths[0] <= nd->buffer)
        return syaml_err(y, n, "every length above the buffer (template, question and answer)",
                         "needle length %d is not above buffer %d", nd->lengths[0], nd->buffer);
    return KV_OK;
}

static int parse_key(yparse *y, yaml_node_t *k, yaml_node_t *v, sweep_needle *nd)
{
    const char *key = k->type == YAML_SCALAR_NODE ? syaml_scalar(k) : "";
    if (!strcmp(key, "lengths")) return parse_lengths(y, v, nd);
    if (!strcmp(key, "depths")) return syaml_int(y, v, "needle.depths", 1, SWEEP_MAX_DEPTHS, &nd->n_depths);
    if (!strcmp(key, "buffer")) return syaml_int(y, v, "needle.buffer", 0, LB_NEEDLE_MAX_LENGTH, &nd->buffer);
    if (!strcmp(key, "haystack")) return syaml_string(y, v, key, &nd->haystack);
    if (!strcmp(key, "needle")) return syaml_string(y, v, key, &nd->needle);
    if (!strcmp(key, "question")) return syaml_string(y, v, key, &nd->question);
    return syaml_unknown_key(y, k, "needle", "one of: lengths, depths, haystack, needle, question, buffer");
}

int sweep_parse_needle(yparse *y, yaml_node_t *n, sweep *s)
{
    sweep_needle *nd = &s->needle;
    if (n->type != YAML_MAPPING_NODE)
        return syaml_err(y, n, "a mapping {lengths: [...], depths: N, ...}", "'needle' has the wrong type");
    nd->on = 1, nd->n_depths = 11, nd->buffer = LB_NEEDLE_BUFFER;
    FOR_PAIRS(y, n, k, v)
    {
        if (parse_key(y, k, v, nd) != KV_OK) return KV_ERR;
    }
    if (check_lengths(y, n, nd) != KV_OK) return KV_ERR;
    if (!nd->needle) nd->needle = kv_strdup(LB_NEEDLE_DEFAULT);
    if (!nd->question) nd->question = kv_strdup(LB_NEEDLE_DEFAULT_QUESTION);
    if (!nd->needle[0] || !nd->question[0])
        return syaml_err(y, n, "a non-empty needle and question", "empty needle or question");
    lb_needle_depths(nd->n_depths, nd->depths);
    return KV_OK;
}
