/* exec_needle: the needle task's side of the executors (exec.c): its planning scan (one sample per
 * grid point), its haystack, prompts, fake predictions (TEST SEAM) and score. */
#ifndef KV_EXEC_NEEDLE_H
#define KV_EXEC_NEEDLE_H

#include "harness/longbench/needle.h"
#include "harness/sweep/exec.h"

/* The grid as task_data: every (length, depth), longest first is the planner's business. */
int exec_needle_scan(const sweep *s, task_data *out);
/* The needle configuration of the sweep. */
lb_needle_cfg exec_needle_cfg(const sweep *s);
/* Prompts and sample columns of the item's grid points. */
int exec_needle_prompts(const exec_ctx *c, const work_item *it, const tokenizer *tok, chat_format cf,
                        item_record *rec, lb_prompt *p);
/* The fake executor's prediction for a grid point (TEST SEAM): the needle's first words, fewer
 * at small budgets; the sample columns as a real run fills them (prompt tokens = length). */
void exec_needle_fake(const exec_ctx *c, const work_item *it, int k, item_record *rec);
/* "len1000-depth50". */
void exec_needle_id(int index, char *buf, size_t n);

#endif
