/* metrics: the LongBench metrics, bit-exact with the reference Python (LongBench metrics.py with
 * pltrdy rouge 1.0.1 and fuzzywuzzy 0.18 + python-Levenshtein; DESIGN §5). Inputs are UTF-8;
 * every computation runs on code points with Python's Unicode rules (harness/longbench/unicode.h). The
 * floating-point operations are the reference's, in its order, so the doubles are identical. */
#ifndef KV_METRICS_H
#define KV_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* rouge 1.0.1 recurses once per LCS traceback step; at this many steps the Python recursion
 * limit (1000 frames, minus the callers' frames) raises and LongBench's rouge_score returns 0. */
#define METRIC_ROUGE_MAX_STEPS 991

double metric_qa_f1(const char *pred, const char *truth);
double metric_rouge_l(const char *pred, const char *truth);
double metric_classification(const char *pred, const char *truth, const char *const *classes, int n_classes);
/* KV_ERR when truth has no "Paragraph N" (the reference raises IndexError). */
int metric_retrieval(const char *pred, const char *truth, double *score);
double metric_count(const char *pred, const char *truth);
double metric_code_sim(const char *pred, const char *truth);

/* fuzzywuzzy fuzz.ratio: 100 if equal, 0 if one is empty, else round-half-even of
 * 100·(1 − indel/(|a|+|b|)) over code points (python-Levenshtein's float order). */
int metric_fuzz_ratio(const char *a, const char *b);
/* Longest common subsequence length of two code point arrays (bit-parallel). */
size_t metric_lcs_length(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);
/* Python normalize_answer of LongBench (lower, drop ASCII punctuation, drop a/an/the words,
 * collapse whitespace); malloc'd UTF-8, the caller frees. */
char *metric_normalize_answer(const char *s);
/* pred.lstrip('\n').split('\n')[0]; malloc'd, the caller frees. */
char *metric_first_line(const char *pred);

#endif
