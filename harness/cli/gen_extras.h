/* gen_extras: what `kvbench generate` adds with --attention-recall and --kept-out (issue 18): the
 * recall fields of its JSON and the kept-set file. */
#ifndef KV_GEN_EXTRAS_H
#define KV_GEN_EXTRAS_H

#include <jansson.h>

#include "engine/engine.h"

/* generate's options of issue 18. */
typedef struct {
    int recall;            /* --attention-recall */
    const char *kept_out;  /* --kept-out F.h5, or NULL */
} gen_extra_opts;

/* "recall" (overall mean), "recall_layer" (per layer) and "recall_steps" (per decode step) into o
 * when the result has them. */
void gen_json_recall(json_t *o, const gen_result *r, int n_layers);
/* The variant's kept sets (kept_store.h, one view) to an HDF5 file at path, with root attributes
 * method, budget, key and prompt_tokens, and, when measured, datasets recall_layer and recall_steps
 * and attribute recall. Status; the message names the file. */
int gen_kept_out(const char *path, const variant *v, const gen_result *r, int prompt_tokens, int n_layers);

#endif
