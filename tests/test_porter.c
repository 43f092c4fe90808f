/* test_porter: rouge_score's Porter stemmer (harness/longbench/porter_stem.h) and the needle score
 * that uses it, against the real packages. tools/porter_golden.py wrote both golden files with
 * rouge-score 0.1.2 and nltk 3.10.4 (their first lines name the versions):
 *   tests/data/porter_golden.tsv        word -> nltk PorterStemmer().stem(word) (NLTK_EXTENSIONS,
 *                                       rouge_score's mode), every word compared exactly;
 *   tests/data/needle_rouge_golden.tsv  target, prediction -> RougeScorer(['rouge1'],
 *                                       use_stemmer=True) F-measure, compared within SCORE_TOL.
 * Plus hand cases from Porter's paper and nltk's irregular forms. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness/longbench/needle.h"
#include "harness/longbench/porter_stem.h"

#define STEM_GOLDEN "tests/data/porter_golden.tsv"
#define ROUGE_GOLDEN "tests/data/needle_rouge_golden.tsv"
#define MIN_GOLDEN_WORDS 5000 /* the file holds ~6700: a truncated file fails */
#define MIN_GOLDEN_PAIRS 50
#define SCORE_TOL 1e-12 /* both sides compute the same ratios in double */

/* Splits line at tabs into at most max fields (the newline dropped); returns the count. */
static int split_tabs(char *line, char **f, int max)
{
    line[strcspn(line, "\n")] = 0;
    int n = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        p = strchr(p, '\t');
        if (!p) break;
        *p++ = 0;
    }
    return n;
}

/* The golden files write a newline in a text as the two characters "\n". */
static void unescape_newlines(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') *o++ = '\n', s++;
        else *o++ = *s;
    }
    *o = 0;
}

static void test_hand_cases(void)
{
    static const char *const cases[][2] = {
        {"caresses", "caress"}, {"ponies", "poni"},   {"ties", "tie"},       {"feed", "feed"},
        {"agreed", "agre"},     {"plastered", "plaster"}, {"hopping", "hop"}, {"falling", "fall"},
        {"filing", "file"},     {"happy", "happi"},   {"relational", "relat"}, {"sandwiches", "sandwich"},
        {"eating", "eat"},      {"parks", "park"},    {"skies", "sky"},      {"dying", "die"},
        {"news", "news"},       {"proceed", "proceed"}, {"generalizations", "gener"}, {"sunny", "sunni"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char w[32];
        snprintf(w, sizeof w, "%s", cases[i][0]);
        int n = porter_stem(w);
        CHECK(strcmp(w, cases[i][1]) == 0 && n == (int)strlen(cases[i][1]), "%s -> %s, want %s", cases[i][0], w,
              cases[i][1]);
    }
}

/* Calls row(fields, ctx) for every non-comment line of path with exactly nf tab-separated fields;
 * returns how many. */
static int for_each_row(const char *path, int nf, void (*row)(char **f, void *ctx), void *ctx)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    char *line = NULL, *fld[8];
    size_t cap = 0;
    int rows = 0;
    while (f && getline(&line, &cap, f) > 0) {
        if (line[0] == '#' || split_tabs(line, fld, nf + 1) != nf) continue;
        row(fld, ctx);
        rows++;
    }
    free(line);
    if (f) fclose(f);
    return rows;
}

static void stem_row(char **fld, void *ctx)
{
    int *wrong = ctx;
    char *w = strdup(fld[0]);
    porter_stem(w);
    if (strcmp(w, fld[1]) != 0 && (*wrong)++ < 20) fprintf(stderr, "stem %s: %s, nltk %s\n", fld[0], w, fld[1]);
    free(w);
}

static void test_stem_golden(void)
{
    int wrong = 0, words = for_each_row(STEM_GOLDEN, 2, stem_row, &wrong);
    CHECK(words >= MIN_GOLDEN_WORDS, "golden words: %d", words);
    CHECK(wrong == 0, "%d of %d words stem unlike nltk", wrong, words);
    printf("porter: %d golden words, %d differ from nltk\n", words, wrong);
}

typedef struct {
    int wrong;
    double max_err;
} rouge_tally;

static void rouge_row(char **fld, void *ctx)
{
    rouge_tally *t = ctx;
    unescape_newlines(fld[0]), unescape_newlines(fld[1]);
    double ref = strtod(fld[2], NULL), got = lb_needle_score(fld[0], fld[1]);
    double err = got > ref ? got - ref : ref - got;
    if (err > t->max_err) t->max_err = err;
    if (!check_close(got, ref, SCORE_TOL, 0) && t->wrong++ < 10)
        fprintf(stderr, "rouge1 F %.17g, rouge_score %.17g: [%s] vs [%s]\n", got, ref, fld[0], fld[1]);
}

static void test_rouge_golden(void)
{
    rouge_tally t = {0, 0};
    int pairs = for_each_row(ROUGE_GOLDEN, 3, rouge_row, &t);
    CHECK(pairs >= MIN_GOLDEN_PAIRS, "golden pairs: %d", pairs);
    CHECK(t.wrong == 0, "%d of %d rouge-1 F differ from rouge_score by more than %g", t.wrong, pairs, SCORE_TOL);
    printf("porter: %d golden rouge-1 pairs, max |F - rouge_score| %.3g\n", pairs, t.max_err);
}

int main(void)
{
    test_hand_cases();
    test_stem_golden();
    test_rouge_golden();
    return check_report("test_porter");
}
