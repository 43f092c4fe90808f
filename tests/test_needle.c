/* test_needle: the needle-in-a-haystack task family (harness/longbench/needle.h) — the rouge-1
 * score on hand-computed cases (rouge_score's definitions: P = overlap / prediction tokens,
 * R = overlap / target tokens, F = 2PR / (P + R)), numpy's depth grid, the needle inserted at depth
 * 0/25/50/100 % of a hand-made haystack (exact token offsets and text), length trimming, the
 * prompt template, the generation rules and the haystack loader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness/longbench/needle.h"
#include "util/util.h"

#define SCORE_TOL 1e-12

static const char *NEEDLE = LB_NEEDLE_DEFAULT; /* 21 rouge tokens: "a" and "in" twice each */

/* Every value below equals rouge-score 0.1.2's
 * RougeScorer(['rouge1', 'rougeL'], use_stemmer=True).score(needle, response)['rouge1'].fmeasure
 * to the last digit (checked with pip's rouge-score 0.1.2 + nltk when this test was written). */
static void test_score(void)
{
    CHECK(lb_needle_score(NEEDLE, NEEDLE) == 1.0, "the needle itself scores the maximum");
    CHECK(lb_needle_score(NEEDLE, "  the BEST thing to do in San-Francisco is: eat a sandwich and sit in Dolores Park "
                                  "on a sunny day!!") == 1.0, "case and punctuation do not matter");
    CHECK(lb_needle_score(NEEDLE, "") == 0.0 && lb_needle_score(NEEDLE, " \n\t") == 0.0, "empty response: 0");
    CHECK(lb_needle_score(NEEDLE, "Quantum chromodynamics explains quarks.") == 0.0, "unrelated answer: 0");
    /* "eat a sandwich": P = 3/3, R = 3/21, F = 2 (1/7) / (8/7) = 1/4 */
    double f = lb_needle_score(NEEDLE, "eat a sandwich");
    CHECK(check_close(f, 0.25, SCORE_TOL, 0), "eat a sandwich: %.12f", f);
    /* repeats count once per target occurrence: "sandwich sandwich" P = 1/2, R = 1/21, F = 2/23 */
    f = lb_needle_score(NEEDLE, "sandwich sandwich");
    CHECK(check_close(f, 2.0 / 23, SCORE_TOL, 0), "sandwich sandwich: %.12f", f);
    /* "in" occurs twice in the needle: "in in in" overlaps 2, P = 2/3, R = 2/21, F = 1/6 */
    f = lb_needle_score(NEEDLE, "in in in");
    CHECK(check_close(f, 1.0 / 6, SCORE_TOL, 0), "in in in: %.12f", f);
    /* the demo model's answer: one extra "to", P = 21/22, R = 1, F = 42/43 (9.77 on the 0..10 scale) */
    f = lb_needle_score(NEEDLE, "The best thing to do in San Francisco is to eat a sandwich and sit in Dolores Park "
                                "on a sunny day.");
    CHECK(check_close(f, 42.0 / 43, SCORE_TOL, 0), "extra word: %.12f", f);
    /* the Porter stemmer: eat, sandwich, in, the, park all match after stemming (eating -> eat,
     * sandwiches -> sandwich, parks -> park): P = 5/5, R = 5/21, F = 10/26, rouge-score 0.1.2's
     * 0.38461538461538458 (test_porter.c compares many more cases with rouge_score) */
    f = lb_needle_score(NEEDLE, "eating sandwiches in the parks");
    CHECK(check_close(f, 10.0 / 26, SCORE_TOL, 0), "inflections match after stemming: %.12f", f);
    /* non-ASCII letters separate tokens as in rouge_score ([^a-z0-9]+ after lower()) */
    CHECK(lb_needle_score("caf", "café") == 1.0, "é separates");
    CHECK(lb_needle_score("x1 y2", "X1") == 2.0 * 1 * 0.5 / 1.5, "digits are token characters");
}

static void test_depths(void)
{
    int d[11];
    lb_needle_depths(11, d);
    int ok = 1;
    for (int i = 0; i < 11; i++) ok &= d[i] == 10 * i;
    CHECK(ok, "11 depths: 0, 10, ..., 100");
    lb_needle_depths(9, d); /* numpy rounds half to even: 12.5 -> 12, 37.5 -> 38, 62.5 -> 62, 87.5 -> 88 */
    CHECK(d[1] == 12 && d[3] == 38 && d[5] == 62 && d[7] == 88 && d[8] == 100, "9 depths: %d %d %d %d", d[1], d[3],
          d[5], d[7]);
    lb_needle_depths(1, d);
    CHECK(d[0] == 0, "1 depth: 0");
    int L, dd;
    lb_needle_sample_split(lb_needle_sample_index(2000, 75), &L, &dd);
    CHECK(L == 2000 && dd == 75, "sample index round trip");
}

/* Haystack "a b c. a b c. ..." tokenizes as [a][ b][ c][.] then [ a][ b][ c][.] repeated: a period
 * ends every 4th token, so the insertion points are hand-computable. */
static void test_insert(const tokenizer *tok)
{
    char hay[64];
    snprintf(hay, sizeof hay, "a b c. ");
    int *ids, n;
    CHECK(tokenizer_encode(tok, "a b c. a b c. a b c.", 20, 0, &ids, &n) == KV_OK && n == 12, "haystack ids: %d", n);
    free(ids);
    int *nd, nn;
    tokenizer_encode(tok, " X Y.", 5, 0, &nd, &nn);
    free(nd);
    lb_needle_cfg c = {.needle = " X Y.", .question = "Q?", .buffer = 0};
    const int L = 40;
    int nc = L - nn; /* the context keeps length - buffer - needle tokens */
    struct { int depth, at; } cases[] = {
        {0, 0},
        {25, 8},   /* int(nc/4) moved back to just after the period at token 7 */
        {50, 4 * ((nc / 2) / 4)},
        {100, nc}, /* at the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *ctx;
        int at, n_ctx;
        int rc = lb_needle_context(tok, hay, &c, L, cases[i].depth, &ctx, &at, &n_ctx);
        CHECK(rc == KV_OK && at == cases[i].at && n_ctx == L, "depth %d: needle at %d (want %d), %d ids",
              cases[i].depth,
              at, cases[i].at, n_ctx);
        if (rc != KV_OK) continue;
        if (cases[i].depth == 0) CHECK(!strncmp(ctx, " X Y.a b c. a b c.", 18), "depth 0 text: %.30s", ctx);
        if (cases[i].depth == 25) CHECK(!strncmp(ctx, "a b c. a b c. X Y. a b c.", 25), "depth 25 text: %.30s", ctx);
        if (cases[i].depth == 100) {
            size_t k = strlen(ctx);
            CHECK(k > 5 && !strcmp(ctx + k - 5, " X Y."), "depth 100 ends with the needle: %s", ctx + k - 8);
        }
        free(ctx);
    }
    /* trimming: a long haystack is cut to length - buffer tokens, needle included */
    c.buffer = 10;
    char *ctx;
    int at, n_ctx;
    CHECK(lb_needle_context(tok, hay, &c, 100, 50, &ctx, &at, &n_ctx) == KV_OK && n_ctx == 90, "100 - 10 = %d", n_ctx);
    free(ctx);
    c.buffer = 38;
    CHECK(lb_needle_context(tok, hay, &c, 40, 50, &ctx, &at, &n_ctx) == KV_ERR &&
              strstr(kv_lasterr(), "leaves no haystack"),
          "no room: %s", kv_lasterr());
}

static void test_prompt(const tokenizer *tok)
{
    lb_needle_cfg c = {.needle = NEEDLE, .question = LB_NEEDLE_DEFAULT_QUESTION, .buffer = LB_NEEDLE_BUFFER};
    lb_prompt p;
    char *hay;
    uint64_t h;
    CHECK(lb_needle_haystack_load("data/demo/multi_news.jsonl", &hay, &h) == KV_OK && strstr(hay, "\n\n"),
          "multi_news contexts joined");
    CHECK(lb_needle_prompt(tok, hay, &c, 600, 50, CHAT_NONE, &p) == KV_OK, "prompt");
    char *text;
    size_t len;
    tokenizer_decode(tok, p.ids, p.n, 0, 0, &text, &len);
    CHECK(!strncmp(text, "<|im_start|> This is a very long story book: <book> ", 52), "template head: %.60s", text);
    CHECK(strstr(text, "San Francisco is eat a sandwich") != NULL, "needle inside");
    const char *tail = " </book>.\n Based on the content of the book, Question: What is the best thing to do in "
                       "San Francisco?\nAnswer:";
    CHECK(len > strlen(tail) && !strcmp(text + len - strlen(tail), tail), "template tail");
    CHECK(p.n > 600 - LB_NEEDLE_BUFFER && p.n < 600, "prompt of %d ids for length 600", p.n);
    free(text), free(hay);
    lb_prompt_free(&p);
    lb_gen_rules r;
    int nl = tokenizer_token_id(tok, "\u010a"); /* byte-level BPE's "\n" */
    CHECK(lb_needle_gen_rules(tok, NULL, 0, &r) == KV_OK && r.max_new_tokens == 30 && !r.mask_first &&
              r.n_stop_ids == 2 && r.stop_ids[0] == tokenizer_eos_id(tok) && r.stop_ids[1] == nl,
          "rules: 30 tokens, stops eos and \\n (%d)", nl);
}

static void test_haystack_files(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_needle_hay.%d.txt", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("plain text haystack.", f);
    fclose(f);
    char *t;
    uint64_t h;
    CHECK(lb_needle_haystack_load(path, &t, &h) == KV_OK && !strcmp(t, "plain text haystack."), "text file as it is");
    free(t);
    f = fopen(path, "w");
    fclose(f);
    CHECK(lb_needle_haystack_load(path, &t, &h) == KV_ERR && strstr(kv_lasterr(), "holds no text"), "empty: %s",
          kv_lasterr());
    remove(path);
}

int main(void)
{
    test_score();
    test_depths();
    test_haystack_files();
    tokenizer *tok;
    if (tokenizer_load(DEMO_MODEL, &tok) != KV_OK) {
        fprintf(stderr, "demo model: %s\n", kv_lasterr());
        check_failed++;
        return check_report("test_needle");
    }
    test_insert(tok);
    test_prompt(tok);
    tokenizer_free(tok);
    return check_report("test_needle");
}
