/* metrics: LongBench's metric functions re-implemented over code points, operation for operation
 * (see metrics.h). The Python each function mirrors is quoted in its comment. */
#include "harness/longbench/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/longbench/unicode.h"

/* A slice of a code point array: one word or token. */
typedef struct {
    const uint32_t *p;
    size_t n;
} cp_slice;

static int slice_cmp(const cp_slice *a, const cp_slice *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++)
        if (a->p[i] != b->p[i]) return a->p[i] < b->p[i] ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

static int slice_qcmp(const void *a, const void *b) { return slice_cmp(a, b); }

static int slice_eq(const cp_slice *a, const cp_slice *b)
{
    return a->n == b->n && !memcmp(a->p, b->p, a->n * sizeof *a->p);
}

/* Python str.split() with no argument: runs of Unicode whitespace separate, no empty tokens.
 * *out malloc'd; returns the count. */
static size_t split_ws(const uint32_t *cp, size_t n, cp_slice **out)
{
    cp_slice *t = kv_malloc((n / 2 + 1) * sizeof *t);
    size_t k = 0, i = 0;
    while (i < n) {
        while (i < n && uni_is_space(cp[i])) i++;
        if (i == n) break;
        size_t s = i;
        while (i < n && !uni_is_space(cp[i])) i++;
        t[k].p = cp + s;
        t[k].n = i - s;
        k++;
    }
    *out = t;
    return k;
}

/* ---- qa_f1 -------------------------------------------------------------------------------- */

static int is_ascii_punct(uint32_t c) /* string.punctuation */
{
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

/* normalize_answer without the final join: lower → remove_punc → remove_articles
 * (re.sub(r"\b(a|an|the)\b", " ", text)) → split(). Returns the tokens over *buf (caller frees
 * both). */
static size_t normalize_tokens(const char *s, uint32_t **buf, cp_slice **tok)
{
    uint32_t *cp, *low;
    size_t n = uni_decode(s, strlen(s), &cp);
    size_t nl = uni_lower(cp, n, &low);
    free(cp);
    size_t k = 0; /* remove_punc in place */
    for (size_t i = 0; i < nl; i++)
        if (!is_ascii_punct(low[i])) low[k++] = low[i];
    nl = k;
    /* remove_articles scans the punctuation-free text left to right; at a word boundary the
     * alternation tries "a", "an", "the" in that order, each needing a boundary after it. The
     * replacement never shifts later boundary tests (re.sub looks at the original string). */
    uint32_t *art = kv_malloc((nl + 1) * sizeof *art);
    static const uint32_t w_a[] = {'a'}, w_an[] = {'a', 'n'}, w_the[] = {'t', 'h', 'e'};
    static const struct { const uint32_t *w; size_t n; } words[] = {{w_a, 1}, {w_an, 2}, {w_the, 3}};
    size_t o = 0, i = 0;
    while (i < nl) {
        size_t matched = 0;
        if (i == 0 || !uni_is_word(low[i - 1])) {
            for (int w = 0; w < 3 && !matched; w++) {
                size_t wn = words[w].n;
                if (i + wn <= nl && !memcmp(low + i, words[w].w, wn * sizeof *low) &&
                    (i + wn == nl || !uni_is_word(low[i + wn])))
                    matched = wn;
            }
        }
        if (matched) {
            art[o++] = ' ';
            i += matched;
        } else {
            art[o++] = low[i++];
        }
    }
    free(low);
    *buf = art;
    return split_ws(art, o, tok);
}

char *metric_normalize_answer(const char *s)
{
    uint32_t *buf;
    cp_slice *tok;
    size_t nt = normalize_tokens(s, &buf, &tok);
    size_t total = 0;
    for (size_t i = 0; i < nt; i++) total += tok[i].n + 1;
    uint32_t *j = kv_malloc((total + 1) * sizeof *j);
    size_t o = 0;
    for (size_t i = 0; i < nt; i++) {
        if (i) j[o++] = ' ';
        memcpy(j + o, tok[i].p, tok[i].n * sizeof *j);
        o += tok[i].n;
    }
    char *r = uni_encode(j, o, NULL);
    free(j);
    free(tok);
    free(buf);
    return r;
}

/* f1_score: common = Counter(pred) & Counter(truth); 0 if no overlap; else
 * precision = 1.0*same/len(pred), recall = 1.0*same/len(truth), f1 = (2*p*r)/(p+r). */
double metric_qa_f1(const char *pred, const char *truth)
{
    uint32_t *bp, *bt;
    cp_slice *tp, *tt;
    size_t np = normalize_tokens(pred, &bp, &tp);
    size_t nt = normalize_tokens(truth, &bt, &tt);
    qsort(tp, np, sizeof *tp, slice_qcmp);
    qsort(tt, nt, sizeof *tt, slice_qcmp);
    size_t same = 0, i = 0, j = 0; /* multiset intersection of two sorted lists */
    while (i < np && j < nt) {
        int c = slice_cmp(&tp[i], &tt[j]);
        if (c == 0) { same++; i++; j++; }
        else if (c < 0) i++;
        else j++;
    }
    double f1 = 0;
    if (same) {
        double precision = 1.0 * (double)same / (double)np;
        double recall = 1.0 * (double)same / (double)nt;
        f1 = (2 * precision * recall) / (precision + recall);
    }
    free(tp); free(tt); free(bp); free(bt);
    return f1;
}

/* ---- rouge_l (pltrdy rouge 1.0.1, exclusive=True) ------------------------------------------ */

/* sentences = [" ".join(s.split()) for s in text.split(".") if len(s) > 0]; each sentence's words
 * are sentence.split(" ") — a whitespace-only piece is the one empty word "". Words are returned
 * as slices with sentence boundaries in *starts (n_sent + 1 entries). */
static size_t rouge_sentences(const uint32_t *cp, size_t n, cp_slice **words, size_t *n_words, size_t **starts)
{
    cp_slice *w = kv_malloc((n + 2) * sizeof *w);
    size_t *st = kv_malloc((n + 2) * sizeof *st);
    size_t nw = 0, ns = 0, i = 0;
    static const uint32_t empty = 0;
    for (;;) {
        size_t s = i;
        while (i < n && cp[i] != '.') i++;
        if (i > s) {
            cp_slice *tok;
            size_t k = split_ws(cp + s, i - s, &tok);
            st[ns++] = nw;
            if (k == 0) {
                w[nw].p = &empty;
                w[nw].n = 0;
                nw++;
            }
            for (size_t j = 0; j < k; j++) w[nw++] = tok[j];
            free(tok);
        }
        if (i >= n) break;
        i++; /* skip the '.' */
    }
    st[ns] = nw;
    *words = w;
    *n_words = nw;
    *starts = st;
    return ns;
}

/* Interns words: ids[i] for words[i], equal words get equal ids. Returns the number of ids. */
static size_t intern_words(const cp_slice *words, size_t n, int *ids)
{
    typedef struct {
        cp_slice s; /* first member: slice_qcmp compares items as slices */
        size_t i;
    } item;
    item *it = kv_malloc((n + 1) * sizeof *it);
    for (size_t i = 0; i < n; i++) {
        it[i].s = words[i];
        it[i].i = i;
    }
    qsort(it, n, sizeof *it, slice_qcmp);
    size_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !slice_eq(&it[i].s, &it[i - 1].s)) next++;
        ids[it[i].i] = (int)next;
    }
    free(it);
    return n ? next + 1 : 0;
}

static size_t count_distinct(const int *ids, size_t n, unsigned char *seen, size_t n_ids)
{
    memset(seen, 0, n_ids);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!seen[ids[i]]) { seen[ids[i]] = 1; k++; }
    return k;
}

/* _recon_lcs(x, y): the LCS table, then the recursive traceback from (|x|, |y|): on a match go
 * diagonal and keep x[i-1]; else up if T[i-1][j] > T[i][j-1] else left. Marks the kept words in
 * in_union. Returns 0, or -1 when the traceback takes METRIC_ROUGE_MAX_STEPS steps (the reference
 * raises RecursionError). Only the last MAX_STEPS+1 rows and columns of the table can be read by
 * such a traceback, so only that corner is kept. */
static int recon_lcs(const int *x, size_t lx, const int *y, size_t ly, unsigned char *in_union)
{
    const size_t K = METRIC_ROUGE_MAX_STEPS;
    if (lx >= K && ly >= K) return -1; /* every step lowers i or j by at most one */
    size_t r0 = lx > K ? lx - K : 0, c0 = ly > K ? ly - K : 0;
    size_t wr = lx - r0 + 1, wc = ly - c0 + 1;
    /* LCS values are <= min(lx, ly) < K, so 16 bits hold them */
    uint16_t *win = kv_malloc(wr * wc * sizeof *win);
    uint16_t *prev = kv_calloc(ly + 1, sizeof *prev), *cur = kv_calloc(ly + 1, sizeof *cur);
    if (r0 == 0) for (size_t j = c0; j <= ly; j++) win[j - c0] = 0;
    for (size_t i = 1; i <= lx; i++) {
        cur[0] = 0;
        for (size_t j = 1; j <= ly; j++) {
            if (x[i - 1] == y[j - 1]) cur[j] = (uint16_t)(prev[j - 1] + 1);
            else cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
        }
        if (i >= r0) memcpy(win + (i - r0) * wc, cur + c0, wc * sizeof *win);
        uint16_t *t = prev; prev = cur; cur = t;
    }
    free(prev);
    free(cur);
#define T(i, j) win[((i) - r0) * wc + ((j) - c0)]
    size_t i = lx, j = ly, steps = 0;
    int rc = 0;
    while (i > 0 && j > 0) {
        if (x[i - 1] == y[j - 1]) {
            in_union[x[i - 1]] = 1;
            i--; j--;
        } else if (T(i - 1, j) > T(i, j - 1)) {
            i--;
        } else {
            j--;
        }
        if (++steps >= K) { rc = -1; break; }
    }
#undef T
    free(win);
    return rc;
}

/* LongBench rouge_score: Rouge().get_scores([pred], [truth], avg=True)["rouge-l"]["f"], 0.0 on
 * any exception (an empty sentence list, a too deep traceback). rouge_l_summary_level:
 * m = |set(ref words)|, n = |set(pred words)|, one union set over every (ref, pred) sentence
 * pair's LCS words, r = |union|/m, p = |union|/n, f = 2.0*((p*r)/(p+r+1e-8)). */
double metric_rouge_l(const char *pred, const char *truth)
{
    uint32_t *cp_p, *cp_t;
    size_t np = uni_decode(pred, strlen(pred), &cp_p);
    size_t nt = uni_decode(truth, strlen(truth), &cp_t);
    cp_slice *wp, *wt;
    size_t nwp, nwt, *sp, *stt;
    size_t nsp = rouge_sentences(cp_p, np, &wp, &nwp, &sp);
    size_t nst = rouge_sentences(cp_t, nt, &wt, &nwt, &stt);
    double f = 0.0;
    if (nsp > 0 && nst > 0) {
        size_t nw = nwp + nwt;
        cp_slice *all = kv_malloc(nw * sizeof *all);
        memcpy(all, wt, nwt * sizeof *all);
        memcpy(all + nwt, wp, nwp * sizeof *all);
        int *ids = kv_malloc(nw * sizeof *ids);
        size_t n_ids = intern_words(all, nw, ids);
        const int *idt = ids, *idp = ids + nwt;
        unsigned char *seen = kv_malloc(n_ids), *in_union = kv_calloc(n_ids, 1);
        size_t m = count_distinct(idt, nwt, seen, n_ids);
        size_t n = count_distinct(idp, nwp, seen, n_ids);
        int failed = 0;
        for (size_t r = 0; r < nst && !failed; r++)
            for (size_t e = 0; e < nsp && !failed; e++)
                if (recon_lcs(idt + stt[r], stt[r + 1] - stt[r], idp + sp[e], sp[e + 1] - sp[e], in_union))
                    failed = 1;
        if (!failed) {
            size_t llcs = 0;
            for (size_t k = 0; k < n_ids; k++) llcs += in_union[k];
            double r_lcs = (double)llcs / (double)m;
            double p_lcs = (double)llcs / (double)n;
            f = 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8));
        }
        free(all); free(ids); free(seen); free(in_union);
    }
    free(wp); free(wt); free(sp); free(stt); free(cp_p); free(cp_t);
    return f;
}

/* ---- classification -------------------------------------------------------------------------- */

/* em_match_list = [c for c in all_classes if c in pred]; then
 *   for term in em_match_list:
 *       if term in truth and term != truth: em_match_list.remove(term)
 * which, removing during iteration, skips the element after each removal (and remove() drops
 * the first equal element); score 1/len if truth is still listed, else 0. */
double metric_classification(const char *pred, const char *truth, const char *const *classes, int n_classes)
{
    const char **list = kv_malloc((size_t)(n_classes + 1) * sizeof *list);
    int n = 0;
    for (int i = 0; i < n_classes; i++)
        if (strstr(pred, classes[i])) list[n++] = classes[i];
    for (int idx = 0; idx < n;) {
        const char *term = list[idx++];
        if (strstr(truth, term) && strcmp(term, truth)) {
            int k = 0;
            while (strcmp(list[k], term)) k++;
            memmove(list + k, list + k + 1, (size_t)(n - k - 1) * sizeof *list);
            n--; /* idx stays: the next element slid into the slot just visited, skipped */
        }
    }
    double score = 0.0;
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], truth)) { score = 1.0 / n; break; }
    free(list);
    return score;
}

/* ---- retrieval / count ------------------------------------------------------------------------ */

/* re.findall(r"\d+", s): maximal runs of Unicode decimal digits. */
static size_t find_numbers(const uint32_t *cp, size_t n, cp_slice **out)
{
    cp_slice *t = kv_malloc((n / 2 + 1) * sizeof *t);
    size_t k = 0, i = 0;
    while (i < n) {
        if (!uni_is_decimal(cp[i])) { i++; continue; }
        size_t s = i;
        while (i < n && uni_is_decimal(cp[i])) i++;
        t[k].p = cp + s;
        t[k].n = i - s;
        k++;
    }
    *out = t;
    return k;
}

/* right / len(numbers), 0.0 when pred has no number. */
static double number_match(const char *pred, const cp_slice *want)
{
    uint32_t *cp;
    size_t n = uni_decode(pred, strlen(pred), &cp);
    cp_slice *nums;
    size_t k = find_numbers(cp, n, &nums);
    size_t right = 0;
    for (size_t i = 0; i < k; i++) right += slice_eq(&nums[i], want);
    double score = k ? (double)right / (double)k : 0.0;
    free(nums);
    free(cp);
    return score;
}

int metric_retrieval(const char *pred, const char *truth, double *score)
{
    uint32_t *cp;
    size_t n = uni_decode(truth, strlen(truth), &cp);
    static const char lit[] = "Paragraph ";
    const size_t nl = sizeof lit - 1;
    for (size_t i = 0; i + nl < n; i++) { /* first match of r'Paragraph (\d+)' */
        size_t j = 0;
        while (j < nl && cp[i + j] == (uint32_t)lit[j]) j++;
        if (j < nl || !uni_is_decimal(cp[i + nl])) continue;
        size_t e = i + nl;
        while (e < n && uni_is_decimal(cp[e])) e++;
        cp_slice want = {cp + i + nl, e - i - nl};
        *score = number_match(pred, &want);
        free(cp);
        return KV_OK;
    }
    free(cp);
    kv_seterr("retrieval answer '%.60s' has no 'Paragraph N' (the reference raises IndexError)", truth);
    return KV_ERR;
}

double metric_count(const char *pred, const char *truth)
{
    uint32_t *cp;
    size_t n = uni_decode(truth, strlen(truth), &cp);
    cp_slice want = {cp, n};
    double s = number_match(pred, &want);
    free(cp);
    return s;
}

/* ---- code_sim ----------------------------------------------------------------------------------- */

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Length of the longest common subsequence of code points, bit-parallel (Hyyrö 2004): one bit
 * per position of a, V starts all ones, for each character of b with match mask M:
 * U = V & M, V = (V + U) | (V - U); the LCS is the number of zero bits. O(|a|·|b| / 64), so a
 * very long line costs milliseconds; equal to the textbook table (tests compare both). */
size_t metric_lcs_length(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    if (!na || !nb) return 0;
    size_t nw = (na + 63) / 64;
    uint32_t *sym = kv_malloc(na * sizeof *sym);
    memcpy(sym, a, na * sizeof *sym);
    qsort(sym, na, sizeof *sym, u32_cmp);
    size_t ns = 0;
    for (size_t i = 0; i < na; i++)
        if (!ns || sym[ns - 1] != sym[i]) sym[ns++] = sym[i];
    uint64_t *mask = kv_calloc(ns * nw, sizeof *mask), *v = kv_malloc(nw * sizeof *v);
    for (size_t i = 0; i < na; i++) {
        uint32_t *hit = bsearch(&a[i], sym, ns, sizeof *sym, u32_cmp);
        mask[(size_t)(hit - sym) * nw + i / 64] |= (uint64_t)1 << (i % 64);
    }
    for (size_t w = 0; w < nw; w++) v[w] = ~(uint64_t)0;
    for (size_t j = 0; j < nb; j++) {
        uint32_t *hit = bsearch(&b[j], sym, ns, sizeof *sym, u32_cmp);
        if (!hit) continue; /* no match anywhere: V is unchanged */
        const uint64_t *m = mask + (size_t)(hit - sym) * nw;
        uint64_t carry = 0;
        for (size_t w = 0; w < nw; w++) { /* V − U = V & ~M: U is a subset of V, no borrow */
            uint64_t u = v[w] & m[w];
            uint64_t sum = v[w] + u, s2 = sum + carry;
            carry = (sum < v[w]) | (s2 < sum);
            v[w] = s2 | (v[w] & ~m[w]);
        }
    }
    size_t zeros = 0;
    for (size_t i = 0; i < na; i++) zeros += !((v[i / 64] >> (i % 64)) & 1);
    free(sym);
    free(mask);
    free(v);
    return zeros;
}

int metric_fuzz_ratio(const char *a, const char *b)
{
    if (!strcmp(a, b)) return 100; /* check_for_equivalence comes before check_empty_string */
    if (!*a || !*b) return 0;
    uint32_t *ca, *cb;
    size_t na = uni_decode(a, strlen(a), &ca), nb = uni_decode(b, strlen(b), &cb);
    size_t lensum = na + nb;
    size_t indel = lensum - 2 * metric_lcs_length(ca, na, cb, nb);
    free(ca);
    free(cb);
    /* python-Levenshtein >= 0.21 (rapidfuzz Indel.normalized_similarity) computes
     * 1.0 - indel / lensum; the old C version's (lensum - indel) / lensum differs by one ulp for
     * some lengths (x = 'x'*17 + 'a'*23, y = 'x'*17 + 'b'*23: 42.50000000000001 → 43 versus a tie
     * → 42). The modern form is what `pip install python-Levenshtein` gives the reference. Then
     * fuzzywuzzy's intr(100 * ratio) = int(round(x)), ties to even. */
    double ratio = 1.0 - (double)indel / (double)lensum;
    return (int)nearbyint(100 * ratio);
}

char *metric_first_line(const char *pred)
{
    while (*pred == '\n') pred++;
    size_t n = strcspn(pred, "\n");
    char *r = kv_malloc(n + 1);
    memcpy(r, pred, n);
    r[n] = 0;
    return r;
}

/* code_sim_score: the first line of pred.lstrip('\n').split('\n') containing none of "`", "#",
 * "//" (else ""), then fuzz.ratio(line, truth) / 100. */
double metric_code_sim(const char *pred, const char *truth)
{
    while (*pred == '\n') pred++;
    const char *line = "";
    size_t len = 0;
    for (const char *p = pred;;) {
        size_t n = strcspn(p, "\n");
        int bad = 0;
        for (size_t i = 0; i < n && !bad; i++)
            bad = p[i] == '`' || p[i] == '#' || (p[i] == '/' && i + 1 < n && p[i + 1] == '/');
        if (!bad) { line = p; len = n; break; }
        if (!p[n]) break;
        p += n + 1;
    }
    char *l = kv_malloc(len + 1);
    memcpy(l, line, len);
    l[len] = 0;
    int r = metric_fuzz_ratio(l, truth);
    free(l);
    return r / 100.0;
}
