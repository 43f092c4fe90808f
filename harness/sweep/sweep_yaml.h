/* sweep_yaml: the libyaml helpers of the sweep parser (sweep.c), shared with the parsers of the
 * sweep's optional sections in their own files (sweep_needle.c). Every error names
 * file:line:column and what was expected. Internal to harness/sweep. */
#ifndef KV_SWEEP_YAML_H
#define KV_SWEEP_YAML_H

#include <yaml.h>

#include "harness/sweep/sweep.h"

/* Parser state: the document, the file name for messages. */
typedef struct {
    yaml_document_t doc;
    const char *file;
} yparse;

/* Set an error "<what> (<file:line:col>): <expected>"; returns KV_ERR. */
__attribute__((format(printf, 4, 5))) int syaml_err(const yparse *y, const yaml_node_t *n, const char *expected,
                                                    const char *fmt, ...);
yaml_node_t *syaml_node(yparse *y, int i);
const char *syaml_scalar(const yaml_node_t *n);
/* A string value with ${VAR} / ${VAR:-default} expanded (replaces *out). */
int syaml_string(yparse *y, yaml_node_t *n, const char *key, char **out);
/* An integer in [lo, hi]. */
int syaml_int(yparse *y, yaml_node_t *n, const char *key, long lo, long hi, int *out);
int syaml_unknown_key(yparse *y, yaml_node_t *k, const char *section, const char *known);

/* Call fn(key, value) for each pair of a mapping; an unknown key is reported by fn. */
#define FOR_PAIRS(y, map, k, v)                                                                   \
    for (yaml_node_pair_t *pair_ = (map)->data.mapping.pairs.start; pair_ < (map)->data.mapping.pairs.top; \
         pair_++)                                                                                 \
        for (yaml_node_t *k = syaml_node(y, pair_->key), *v = syaml_node(y, pair_->value); k; k = NULL)

#define SEQ_LEN(n) ((int)((n)->data.sequence.items.top - (n)->data.sequence.items.start))
#define SEQ_ITEM(y, n, i) syaml_node(y, (n)->data.sequence.items.start[i])

/* The `needle:` section (sweep_needle.c): fills s->needle. */
int sweep_parse_needle(yparse *y, yaml_node_t *n, sweep *s);

#endif
