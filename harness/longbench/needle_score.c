/* needle_score: rouge_score's rouge1 F-measure of the needle-in-a-haystack reference
 * (KVCache-Factory run_needle_in_haystack.py: scorer = RougeScorer(['rouge1', 'rougeL'],
 * use_stemmer=True); score = scorer.score(needle, response)['rouge1'].fmeasure * 10, and 0.0 for
 * an empty response; kvpress's needle_in_haystack calculate_metrics is the same formula), with
 * rouge_score's Porter stemmer (porter_stem.h) on tokens longer than 3 characters. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "harness/longbench/needle.h"
#include "harness/longbench/porter_stem.h"
#include "util/util.h"

/* rouge_score.tokenize with use_stemmer=True: lower-case, runs outside [a-z0-9] separate, tokens
 * longer than 3 characters stemmed. Tokens are written NUL-separated into *buf; returns the count. */
static int rouge_tokens(const char *s, char **buf, char ***tok)
{
    size_t n = strlen(s);
    char *b = kv_malloc(n + 1);
    char **t = kv_malloc(sizeof *t * (n / 2 + 2));
    int nt = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && !isalnum((unsigned char)s[i]) ) i++;
        if (i >= n) break;
        t[nt++] = b + i;
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            b[i] = (char)tolower((unsigned char)s[i]), i++;
        b[i] = 0;
        if (strlen(t[nt - 1]) > 3) porter_stem(t[nt - 1]);
        if (i < n) i++;
    }
    *buf = b, *tok = t;
    return nt;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sum over distinct tokens of min(count in a, count in b), both sorted. */
static int overlap(char **a, int na, char **b, int nb)
{
    int i = 0, j = 0, m = 0;
    while (i < na && j < nb) {
        int c = strcmp(a[i], b[j]);
        if (c == 0) m++, i++, j++;
        else if (c < 0) i++;
        else j++;
    }
    return m;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

double lb_needle_score(const char *needle, const char *response)
{
    if (is_blank(response)) return 0.0;
    char *bt, *bp, **t, **p;
    int nt = rouge_tokens(needle, &bt, &t), np = rouge_tokens(response, &bp, &p);
    qsort(t, (size_t)nt, sizeof *t, cmp_str);
    qsort(p, (size_t)np, sizeof *p, cmp_str);
    int m = overlap(t, nt, p, np);
    double precision = (double)m / (np > 1 ? np : 1), recall = (double)m / (nt > 1 ? nt : 1);
    double f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    free(bt), free(t), free(bp), free(p);
    return f;
}
