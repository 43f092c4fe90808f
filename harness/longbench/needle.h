/* needle: the needle-in-a-haystack task family next to LongBench (issue 17), following
 * KVCache-Factory's run_needle_in_haystack.py (Zefan-Cai/KVCache-Factory, adapted there from
 * FranxYao/Long-Context-Data-Engineering and gkamradt/LLMTest_NeedleInAHaystack):
 *   - the haystack is a text repeated until it holds at least `length` tokens, cut to `length`
 *     tokens (encode, ids[:length], decode: encode_and_trim);
 *   - insert_needle: the context is cut again to length - buffer - needle tokens (buffer = the
 *     reference's final_context_length_buffer, 200), the needle goes at
 *     int(n_context * depth / 100) moved back to just after the nearest '.' token (at the end for
 *     depth 100), and the ids are decoded back to text;
 *   - the prompt is the reference's template for local models (no chat wrapper):
 *     "<|im_start|> This is a very long story book: <book> {context} </book>.\n Based on the content
 *     of the book, Question: {question}\nAnswer:" encoded with the tokenizer's own BOS rule;
 *   - greedy decoding of at most 30 tokens, stopping at eos or the last id of encode("\n");
 *   - score = rouge_score's rouge1 F-measure of (target = needle, prediction = response.strip())
 *     times 10 (0 for an empty response): 0..10.
 * Depths are round(linspace(0, 100, n)) as numpy rounds (half to even). */
#ifndef KV_NEEDLE_H
#define KV_NEEDLE_H

#include <stdint.h>

#include "engine/tokenizer.h"
#include "harness/longbench/longbench.h"

#define LB_NEEDLE_TASK "needle"
#define LB_NEEDLE_DEFAULT \
    "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n"
#define LB_NEEDLE_DEFAULT_QUESTION "What is the best thing to do in San Francisco?"
#define LB_NEEDLE_BUFFER 200        /* final_context_length_buffer of the reference */
#define LB_NEEDLE_MAX_NEW_TOKENS 30 /* the reference's max_new_tokens */
#define LB_NEEDLE_MAX_LENGTH 1000000

typedef struct {
    const char *needle, *question;
    int buffer;                     /* tokens left for the template, question and answer */
} lb_needle_cfg;

/* The haystack text of a file: for a .jsonl file its samples' "context" fields in file order,
 * joined by "\n\n" (LongBench files); any other file as it is. *hash = FNV-1a of the file bytes.
 * The caller frees *text. Status (empty text is an error). */
int lb_needle_haystack_load(const char *path, char **text, uint64_t *hash);

/* n depth percents round(linspace(0, 100, n)) into out (n >= 1; n == 1 gives 0). */
void lb_needle_depths(int n, int *out);

/* A grid point's sample index in the item files: length * 1000 + depth, so that resume keys on
 * (length, depth) whatever else the grid holds; and back. */
int lb_needle_sample_index(int length, int depth);
void lb_needle_sample_split(int index, int *length, int *depth);

/* The context of `length` tokens with the needle at `depth` percent (0..100) as text; with at, the
 * token offset of the needle in the context's ids before decoding; with n_ctx, the context's
 * length in ids (needle included). The caller frees *out. KV_ERR when length leaves no room for
 * the haystack (length <= buffer + needle tokens). */
int lb_needle_context(const tokenizer *tok, const char *haystack, const lb_needle_cfg *c, int length, int depth,
                      char **out, int *at, int *n_ctx);

/* The prompt ids of a grid point (context, template, the tokenizer's BOS rule; chat wrapper when
 * chat != CHAT_NONE). n_full = n (no truncation). */
int lb_needle_prompt(const tokenizer *tok, const char *haystack, const lb_needle_cfg *c, int length, int depth,
                     chat_format chat, lb_prompt *out);

/* Generation rules: at most LB_NEEDLE_MAX_NEW_TOKENS, stop at eos and at the last id of
 * encode("\n"), then the configured extra stop ids; no EOS mask at the first step. */
int lb_needle_gen_rules(const tokenizer *tok, const int *stop_ids, int n_stop_ids, lb_gen_rules *out);

/* rouge_score's rouge1 F-measure of target `needle` against `response` (stripped of surrounding
 * whitespace; 0 when empty), in [0, 1]; the reference reports it times 10. Tokens as
 * rouge_score.tokenize: lower-case, every run of characters outside [a-z0-9] separates, so
 * non-ASCII letters separate too; then, as the reference's use_stemmer=True, tokens longer than 3
 * characters go through nltk's Porter stemmer in rouge_score's mode (porter_stem.h), so
 * "sandwiches" matches "sandwich" (against the default needle, "eating sandwiches in the parks"
 * scores 10/26). tests/test_porter.c checks the stems and scores against rouge-score 0.1.2 and
 * nltk 3.10.4 (tools/porter_golden.py). */
double lb_needle_score(const char *needle, const char *response);

#endif
