/* longbench: the LongBench v1 pipeline exactly as the reference harness runs it (DESIGN §5) —
 * the 16 English tasks, the JSONL data reader, prompt building (template, chat wrapper, middle
 * truncation), the generation rules, per-sample and per-task scoring, the category/Avg
 * aggregation, and the markdown/CSV result tables. Plain C structs throughout so the harness and
 * the reducer can fill them from sweep files and HDF5 stores. The per-metric functions live in
 * harness/longbench/metrics.h. */
#ifndef KV_LONGBENCH_H
#define KV_LONGBENCH_H

#include <stdio.h>

#include <stdint.h>

#include "engine/chat.h"
#include "engine/engine.h"
#include "engine/method.h"
#include "engine/tokenizer.h"

/* ---- tasks ------------------------------------------------------------------------------ */

#define LB_N_TASKS 16
#define LB_N_CATEGORIES 6

typedef enum {
    LB_METRIC_QA_F1 = 0,
    LB_METRIC_ROUGE_L,
    LB_METRIC_CLASSIFICATION,
    LB_METRIC_RETRIEVAL,
    LB_METRIC_COUNT,
    LB_METRIC_CODE_SIM
} lb_metric;

typedef struct {
    const char *name;         /* file/dataset name: "narrativeqa", ..., "repobench-p" */
    const char *display;      /* table column: "NarrativeQA", ... */
    const char *category;     /* one of lb_categories */
    int category_index;       /* index into lb_categories */
    lb_metric metric;
    int max_new_tokens;
    int samples;              /* samples in the LongBench v1 release */
    int first_line_only;      /* score only pred.lstrip('\n').split('\n')[0] (trec, triviaqa, samsum) */
    int skip_chat_head;       /* no chat wrapper under reference-head (trec, samsum, lcc, repobench-p) */
    int skip_chat_longbench;  /* LongBench's own pred.py skip list (informational) */
    const char *template_text;/* Python str.format template with {context} and {input}, verbatim */
} lb_task;

/* The 16 tasks in table order (generated from tasks.json by tools/gen_longbench_tasks.py). */
extern const lb_task lb_tasks[LB_N_TASKS];
/* Category names in table order: "Single-Doc QA", ..., "Code". */
extern const char *const lb_categories[LB_N_CATEGORIES];

const lb_task *lb_task_find(const char *name); /* exact name; NULL if unknown */
int lb_task_index(const char *name);           /* 0..15, or -1 */
const char *lb_metric_name(lb_metric m);       /* "qa_f1", "rouge_l", ... */

/* ---- data ------------------------------------------------------------------------------- */

/* One LongBench v1 sample. Every string is malloc'd and NUL-terminated (lb_sample_free). */
typedef struct {
    char *input, *context, *dataset, *language, *id; /* id = "_id" */
    char **answers;
    int n_answers;
    char **all_classes;       /* NULL when the field is null */
    int n_classes;
    long length;              /* the "length" field (words) */
    long line;                /* 1-based line in the file */
} lb_sample;

void lb_sample_free(lb_sample *s);

typedef struct lb_reader lb_reader; /* streaming reader, one line in memory at a time */

/* Status; errors read "FILE:LINE: what is wrong" via kv_lasterr(). */
int lb_reader_open(const char *path, lb_reader **out);
/* 1: *s filled (free with lb_sample_free); 0: end of file; KV_ERR: a line that does not parse or
 * lacks a field (kv_lasterr() = "FILE:LINE: ..."). Blank lines are skipped. */
int lb_reader_next(lb_reader *r, lb_sample *s);
void lb_reader_close(lb_reader *r);
/* The same reader over the file read into memory once, with *hash the FNV-1a (util/hash.h, from
 * KV_FNV_SEED) of its bytes: a caller that needs the file's hash and its samples reads it once. */
int lb_reader_open_hashed(const char *path, lb_reader **out, uint64_t *hash);
/* All samples of a file in file order; *out is malloc'd (lb_samples_free). hash may be NULL, else
 * it receives the file's FNV-1a as lb_reader_open_hashed computes it (one read of the file). */
int lb_load_all(const char *path, lb_sample **out, int *n, uint64_t *hash);
void lb_samples_free(lb_sample *s, int n);

/* ---- prompts ---------------------------------------------------------------------------- */

/* The chat wrapper the reference uses for (preset, model family, task): reference-head wraps
 * Llama-3.1/3.3 except the task's skip_chat_head; reference-2026-01 wraps no Llama-3.x;
 * Llama-3-8B is never wrapped. family: "llama3", "llama3.1", "llama3.3" (also model names such as
 * "Llama-3.1-8B-Instruct"; case, '-' and '_' are ignored). Unknown families get CHAT_NONE. */
chat_format lb_chat_for(kv_preset preset, const char *family, const lb_task *t);
/* max_prompt_tokens of the reference per family: 7950 (Llama-3), 127500 (3.1/3.3), 0 if unknown. */
int lb_max_prompt_tokens(const char *family);

/* template.format(context=..., input=...) with literal substitution; malloc'd, the caller frees. */
char *lb_prompt_format(const lb_task *t, const lb_sample *s);

typedef struct {
    int *ids;                 /* final ids, BOS included (malloc'd; lb_prompt_free) */
    int n;
    int n_full;               /* tokens (BOS included) before truncation */
    int truncated;
} lb_prompt;

/* Middle truncation of DESIGN §5: if n > max_tokens (max_tokens > 0), half = max/2,
 * text = decode(ids[:half]) + decode(ids[-half:]) (skip special, clean-up), re-encode with BOS,
 * no re-check. Otherwise a copy. *out is malloc'd. */
int lb_truncate_middle(const tokenizer *tok, const int *ids, int n, int max_tokens, int **out, int *n_out);
/* Template → optional chat wrapper → encode with BOS → middle truncation. */
int lb_prompt_build(const tokenizer *tok, const lb_task *t, const lb_sample *s, chat_format chat,
                    int max_prompt_tokens, lb_prompt *out);
void lb_prompt_free(lb_prompt *p);

/* ---- generation rules ------------------------------------------------------------------- */

#define LB_MAX_STOP_IDS 8

typedef struct {
    int max_new_tokens;       /* the task's */
    int stop_ids[LB_MAX_STOP_IDS];
    int n_stop_ids;
    int mask_first;           /* EOS masked at the first step (reference: min_length = L + 1) */
} lb_gen_rules;

/* Rules for (task, preset, model): stop ids are the tokenizer's eos id (the reference passes
 * eos_token_id only) followed by the configured extra ids, without repeats. Status (no stop id at
 * all, or more than LB_MAX_STOP_IDS, is an error). */
int lb_gen_rules_get(const lb_task *t, kv_preset preset, const tokenizer *tok, const int *stop_ids,
                     int n_stop_ids, lb_gen_rules *out);
/* The engine's gen_params pointing into *r (r must outlive gp). */
void lb_gen_rules_params(const lb_gen_rules *r, gen_params *gp);
/* The prediction text: decode with special tokens skipped and clean-up applied, no strip. */
int lb_prediction_text(const tokenizer *tok, const int *ids, int n, char **text, size_t *len);

/* ---- scoring ---------------------------------------------------------------------------- */

/* Raw score of one prediction in [0, 1]: the first-line rule when the task has it, then the max
 * over answers of the task's metric (starting from 0.0). all_classes is used by trec only.
 * KV_ERR for inputs the reference cannot score (trec without classes, a retrieval answer without
 * "Paragraph N"). */
int lb_score_sample(const lb_task *t, const char *pred, const char *const *answers, int n_answers,
                    const char *const *all_classes, int n_classes, double *score);
/* round(100 * sum / n, 2) as Python computes it (sequential sum in sample order). n > 0. */
double lb_task_score(const double *raw, int n);
/* A Python-round(x, 2) value as integer hundredths (exact). */
long long lb_hundredths(double score);
/* Category and Avg scores in integer hundredths from the 16 (rounded) task scores: the mean of
 * the task scores, rounded half-up on the exact decimal; Avg over all 16 tasks (not the mean of
 * categories). A task score of NAN is missing: categories containing it and Avg are -1. */
void lb_aggregate(const double task[LB_N_TASKS], long long cat_h[LB_N_CATEGORIES], long long *avg_h);
/* "41.94" from 4194; "" for a missing (negative) value. buf of at least 32 bytes. */
void lb_hundredths_format(long long h, char *buf, size_t n);

/* ---- result tables ---------------------------------------------------------------------- */

/* One row of the seed's RESULTS tables: a (model, budget, method) with its 16 task scores. */
typedef struct {
    char model[128];
    int budget;               /* KV budget (tokens, or a fraction as engine/method.h encodes it) */
    char budget_label[32];    /* "128" or "25%" for the header; empty: budget as a number */
    char method[64];          /* the row's label: "FullKV", "SnapKV", ... (knobs added when a method repeats) */
    char method_name[64];     /* the method's display name, for filters ("" when unknown) */
    char attention[64];       /* header block strings (first non-empty of a group wins) */
    char hardware[128];
    double task[LB_N_TASKS];  /* rounded task scores in lb_tasks order; NAN = missing */
    unsigned incomplete;      /* bit t: task t's cell is incomplete (a damaged item was set aside) */
} lb_result_row;

/* Rows of a (model, budget) group are ordered by method_rank (engine/method.h: the registry's
 * order, then names it does not hold in order of appearance). */
void lb_result_row_init(lb_result_row *r); /* zeroed strings, every task NAN */

/* Markdown: per (model, budget) in order of first appearance, a header block (Model, KV Budget,
 * Attention, Hardware), the 16-task table with Avg, the category table with Avg, and the
 * category mapping; blank cells where a value is missing, "incomplete" where a task's item file
 * was set aside as damaged (and in the category and Avg cells it feeds), with a note. Status. */
int lb_tables_write_md(FILE *f, const lb_result_row *rows, int n);
/* CSV: model,budget,method,<16 tasks>,<6 categories>,Avg (header line first); the same
 * "incomplete" cells as the markdown. Status. */
int lb_tables_write_csv(FILE *f, const lb_result_row *rows, int n);

#endif
