/* porter_stem: nltk's PorterStemmer in NLTK_EXTENSIONS mode (porter_stem.h). Every step works on
 * one buffer holding the word and its length: a suffix rule checks the stem (the word less the
 * suffix, a prefix of the buffer) and writes the replacement after it. */
#include <string.h>

#include "harness/longbench/porter_stem.h"

typedef struct {
    char *w;
    int n;
} word_t;

/* A rule's condition on its stem s[0..n) (s[n..] still holds the rest of the word). */
typedef int (*stem_cond)(const char *s, int n);

typedef struct {
    const char *suffix, *repl;
    stem_cond cond; /* NULL: always */
} rule_t;

static int is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

/* Porter's consonant: not a vowel, and a 'y' only when the letter before it is not a consonant
 * (a leading 'y' is one). Iterative over a run of y's: each flips the answer of the letter before. */
static int is_cons(const char *s, int i)
{
    int flip = 0;
    while (i > 0 && s[i] == 'y') flip = !flip, i--;
    int c = !is_vowel(s[i]);
    return flip ? !c : c;
}

/* m: the number of vowel-run -> consonant-run changes ("vc" pairs of the c/v sequence). */
static int measure(const char *s, int n)
{
    int m = 0, prev_cons = 1;
    for (int i = 0; i < n; i++) {
        int c = is_cons(s, i);
        if (c && !prev_cons) m++;
        prev_cons = c;
    }
    return m;
}

static int has_vowel(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!is_cons(s, i)) return 1;
    return 0;
}

static int ends_double_cons(const char *s, int n) { return n >= 2 && s[n - 1] == s[n - 2] && is_cons(s, n - 1); }

/* *o: consonant-vowel-consonant, the last not w, x or y; nltk adds a 2-letter vowel+consonant. */
static int ends_cvc(const char *s, int n)
{
    if (n >= 3 && is_cons(s, n - 3) && !is_cons(s, n - 2) && is_cons(s, n - 1) && !strchr("wxy", s[n - 1]))
        return 1;
    return n == 2 && !is_cons(s, 0) && is_cons(s, 1);
}

static int ends_with(const word_t *x, const char *suf)
{
    int k = (int)strlen(suf);
    return k <= x->n && memcmp(x->w + x->n - k, suf, (size_t)k) == 0;
}

/* x = x less its last `cut` letters, then repl. */
static void replace_tail(word_t *x, int cut, const char *repl)
{
    int k = (int)strlen(repl);
    memcpy(x->w + x->n - cut, repl, (size_t)k);
    x->n += k - cut;
    x->w[x->n] = 0;
}

/* nltk's _apply_rule_list: the first rule whose suffix ends the word decides — replaced when its
 * condition holds, the word unchanged otherwise. Returns 1 when a rule fired. */
static int apply_rules(word_t *x, const rule_t *r, int nr)
{
    for (int i = 0; i < nr; i++) {
        if (!ends_with(x, r[i].suffix)) continue;
        int k = (int)strlen(r[i].suffix);
        if (r[i].cond && !r[i].cond(x->w, x->n - k)) return 0;
        replace_tail(x, k, r[i].repl);
        return 1;
    }
    return 0;
}

static int m_gt0(const char *s, int n) { return measure(s, n) > 0; }
static int m_gt1(const char *s, int n) { return measure(s, n) > 1; }
static int m_gt1_st(const char *s, int n) { return measure(s, n) > 1 && (s[n - 1] == 's' || s[n - 1] == 't'); }
/* "logi" -> "log" when m > 0 for the word less "ogi" (the 'l' stays with the stem). */
static int logi_cond(const char *s, int n) { return measure(s, n + 1) > 0; }
/* "ll" -> "l" when m > 1 for the word less its last 'l'. */
static int ll_cond(const char *s, int n) { return measure(s, n + 1) > 1; }
/* step 1c: y -> i when the stem is longer than one letter and ends in a consonant. */
static int y_cond(const char *s, int n) { return n > 1 && is_cons(s, n - 1); }

static void step1a(word_t *x)
{
    static const rule_t r[] = {{"sses", "ss", 0}, {"ies", "i", 0}, {"ss", "ss", 0}, {"s", "", 0}};
    if (x->n == 4 && ends_with(x, "ies")) {
        replace_tail(x, 3, "ie");
        return;
    }
    apply_rules(x, r, 4);
}

/* After "ed"/"ing" was removed: at/bl/iz gain an 'e', a double consonant other than l/s/z is
 * undoubled, and an m = 1 *o stem gains an 'e'. */
static void step1b_tidy(word_t *x)
{
    static const rule_t r[] = {{"at", "ate", 0}, {"bl", "ble", 0}, {"iz", "ize", 0}};
    for (int i = 0; i < 3; i++)
        if (ends_with(x, r[i].suffix)) {
            replace_tail(x, 2, r[i].repl);
            return;
        }
    if (ends_double_cons(x->w, x->n)) {
        if (!strchr("lsz", x->w[x->n - 1])) replace_tail(x, 1, "");
        return;
    }
    if (measure(x->w, x->n) == 1 && ends_cvc(x->w, x->n)) replace_tail(x, 0, "e");
}

static void step1b(word_t *x)
{
    if (ends_with(x, "ied")) {
        replace_tail(x, 3, x->n == 4 ? "ie" : "i");
        return;
    }
    if (ends_with(x, "eed")) {
        if (measure(x->w, x->n - 3) > 0) replace_tail(x, 1, "");
        return;
    }
    int cut = ends_with(x, "ed") ? 2 : ends_with(x, "ing") ? 3 : 0;
    if (cut == 0 || !has_vowel(x->w, x->n - cut)) return;
    replace_tail(x, cut, "");
    step1b_tidy(x);
}

static void step1c(word_t *x)
{
    static const rule_t r[] = {{"y", "i", y_cond}};
    apply_rules(x, r, 1);
}

static void step2(word_t *x)
{
    static const rule_t r[] = {
        {"ational", "ate", m_gt0}, {"tional", "tion", m_gt0}, {"enci", "ence", m_gt0}, {"anci", "ance", m_gt0},
        {"izer", "ize", m_gt0},    {"bli", "ble", m_gt0},     {"alli", "al", m_gt0},   {"entli", "ent", m_gt0},
        {"eli", "e", m_gt0},       {"ousli", "ous", m_gt0},   {"ization", "ize", m_gt0}, {"ation", "ate", m_gt0},
        {"ator", "ate", m_gt0},    {"alism", "al", m_gt0},    {"iveness", "ive", m_gt0}, {"fulness", "ful", m_gt0},
        {"ousness", "ous", m_gt0}, {"aliti", "al", m_gt0},    {"iviti", "ive", m_gt0}, {"biliti", "ble", m_gt0},
        {"fulli", "ful", m_gt0},   {"logi", "log", logi_cond},
    };
    while (ends_with(x, "alli") && measure(x->w, x->n - 4) > 0) replace_tail(x, 4, "al");
    apply_rules(x, r, (int)(sizeof r / sizeof r[0]));
}

static void step3(word_t *x)
{
    static const rule_t r[] = {{"icate", "ic", m_gt0}, {"ative", "", m_gt0}, {"alize", "al", m_gt0},
                               {"iciti", "ic", m_gt0}, {"ical", "ic", m_gt0}, {"ful", "", m_gt0},
                               {"ness", "", m_gt0}};
    apply_rules(x, r, (int)(sizeof r / sizeof r[0]));
}

static void step4(word_t *x)
{
    static const rule_t r[] = {
        {"al", "", m_gt1},   {"ance", "", m_gt1}, {"ence", "", m_gt1},    {"er", "", m_gt1},  {"ic", "", m_gt1},
        {"able", "", m_gt1}, {"ible", "", m_gt1}, {"ant", "", m_gt1},     {"ement", "", m_gt1}, {"ment", "", m_gt1},
        {"ent", "", m_gt1},  {"ion", "", m_gt1_st}, {"ou", "", m_gt1},    {"ism", "", m_gt1}, {"ate", "", m_gt1},
        {"iti", "", m_gt1},  {"ous", "", m_gt1},  {"ive", "", m_gt1},     {"ize", "", m_gt1},
    };
    apply_rules(x, r, (int)(sizeof r / sizeof r[0]));
}

/* 5a: a final 'e' goes when m > 1, or m = 1 and the stem does not end *o (both conditions tried). */
static void step5(word_t *x)
{
    static const rule_t r[] = {{"ll", "l", ll_cond}};
    if (ends_with(x, "e")) {
        int m = measure(x->w, x->n - 1);
        if (m > 1 || (m == 1 && !ends_cvc(x->w, x->n - 1))) replace_tail(x, 1, "");
    }
    apply_rules(x, r, 1);
}

/* nltk's irregular forms: the word itself when it is one of them, else NULL. */
static const char *irregular(const char *w)
{
    static const char *const pool[][2] = {
        {"sky", "sky"},         {"skies", "sky"},       {"dying", "die"},     {"lying", "lie"},
        {"tying", "tie"},       {"news", "news"},       {"innings", "inning"}, {"inning", "inning"},
        {"outings", "outing"},  {"outing", "outing"},   {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},       {"proceed", "proceed"}, {"exceed", "exceed"},   {"succeed", "succeed"},
    };
    for (size_t i = 0; i < sizeof pool / sizeof pool[0]; i++)
        if (strcmp(w, pool[i][0]) == 0) return pool[i][1];
    return NULL;
}

int porter_stem(char *w)
{
    word_t x = {w, (int)strlen(w)};
    const char *irr = irregular(w);
    if (irr) {
        memmove(w, irr, strlen(irr) + 1);
        return (int)strlen(w);
    }
    if (x.n <= 2) return x.n;
    step1a(&x);
    step1b(&x);
    step1c(&x);
    step2(&x);
    step3(&x);
    step4(&x);
    step5(&x);
    return x.n;
}
