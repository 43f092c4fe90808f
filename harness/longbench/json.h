/* longbench_json: small jansson helpers shared by the LongBench data reader and the score
 * command — one line of JSONL read into an object, lists of strings out of fields. Internal to
 * the harness/longbench/ sources and harness/cli/cmd_score.c. */
#ifndef KV_LONGBENCH_JSON_H
#define KV_LONGBENCH_JSON_H

#include <jansson.h>
#include <stdio.h>

/* Reads lines with getline until a non-blank one, parses it as a JSON object. 1: *obj set (the
 * caller decrefs), 0: end of file, KV_ERR: "PATH:LINE: ..." in kv_lasterr(). *lineno counts
 * lines read; *buf and *cap are the getline buffer (the caller frees *buf). */
int lbj_next_object(FILE *f, const char *path, long *lineno, char **buf, size_t *cap, json_t **obj);
/* A JSON list of strings (integers are accepted and written as Python's str() does) → malloc'd
 * copies. KV_ERR with a short reason in *why when v is not such a list. */
int lbj_strings(const json_t *v, char ***out, int *n, const char **why);
void lbj_strings_free(char **s, int n);

#endif
