/* unicode: Python str semantics over code points (see unicode.h). The tables are generated; this
 * file only searches them and implements the one context rule of str.lower(), Final_Sigma. */
#include "harness/longbench/unicode.h"

#include "util/util.h"

static int in_ranges(const uni_range *r, int n, uint32_t c)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < r[mid].lo) hi = mid - 1;
        else if (c > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int uni_is_space(uint32_t c)
{
    if (c < 128) return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
    return in_ranges(uni_space, uni_space_n, c);
}

int uni_is_word(uint32_t c)
{
    if (c < 128) return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    return in_ranges(uni_alnum, uni_alnum_n, c);
}

int uni_is_decimal(uint32_t c)
{
    if (c < 128) return c >= '0' && c <= '9';
    return in_ranges(uni_decimal, uni_decimal_n, c);
}

size_t uni_decode(const char *s, size_t len, uint32_t **out)
{
    uint32_t *cp = kv_malloc((len + 1) * sizeof *cp);
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0, i = 0;
    while (i < len) {
        unsigned b = u[i];
        uint32_t c;
        int k;
        if (b < 0x80) { c = b; k = 0; }
        else if (b >= 0xc2 && b < 0xe0) { c = b & 0x1f; k = 1; }
        else if (b >= 0xe0 && b < 0xf0) { c = b & 0x0f; k = 2; }
        else if (b >= 0xf0 && b < 0xf5) { c = b & 0x07; k = 3; }
        else { cp[n++] = 0xfffd; i++; continue; }
        if (k && i + k >= len) { cp[n++] = 0xfffd; i++; continue; }
        int ok = 1;
        for (int j = 1; j <= k; j++) {
            if ((u[i + j] & 0xc0) != 0x80) { ok = 0; break; }
            c = (c << 6) | (u[i + j] & 0x3f);
        }
        /* reject overlongs, surrogates and out-of-range values like a strict decoder */
        if (ok && ((k == 2 && c < 0x800) || (k == 3 && (c < 0x10000 || c > 0x10ffff)) ||
                   (c >= 0xd800 && c <= 0xdfff)))
            ok = 0;
        if (!ok) { cp[n++] = 0xfffd; i++; continue; }
        cp[n++] = c;
        i += (size_t)k + 1;
    }
    *out = cp;
    return n;
}

char *uni_encode(const uint32_t *cp, size_t n, size_t *len)
{
    char *s = kv_malloc(4 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c < 0x80) s[o++] = (char)c;
        else if (c < 0x800) {
            s[o++] = (char)(0xc0 | (c >> 6));
            s[o++] = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            s[o++] = (char)(0xe0 | (c >> 12));
            s[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            s[o++] = (char)(0x80 | (c & 0x3f));
        } else {
            s[o++] = (char)(0xf0 | (c >> 18));
            s[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
            s[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
            s[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    s[o] = 0;
    if (len) *len = o;
    return s;
}

static const uni_lower_entry *lower_find(uint32_t c)
{
    int lo = 0, hi = uni_lower_table_n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (c < uni_lower_table[mid].cp) hi = mid - 1;
        else if (c > uni_lower_table[mid].cp) lo = mid + 1;
        else return &uni_lower_table[mid];
    }
    return NULL;
}

/* CPython's handle_capital_sigma: U+03A3 lowers to final ς when preceded by a cased letter
 * (case-ignorable ones skipped) and not followed by one. */
static uint32_t capital_sigma(const uint32_t *cp, size_t n, size_t i)
{
    size_t j = i;
    uint32_t c = 0;
    int found = 0;
    while (j > 0) {
        c = cp[--j];
        if (!in_ranges(uni_ignorable, uni_ignorable_n, c)) { found = 1; break; }
    }
    int final_sigma = found && in_ranges(uni_cased, uni_cased_n, c);
    if (final_sigma) {
        for (j = i + 1; j < n; j++) {
            c = cp[j];
            if (!in_ranges(uni_ignorable, uni_ignorable_n, c)) break;
        }
        final_sigma = j == n || !in_ranges(uni_cased, uni_cased_n, c);
    }
    return final_sigma ? 0x3c2 : 0x3c3;
}

size_t uni_lower(const uint32_t *cp, size_t n, uint32_t **out)
{
    uint32_t *o = kv_malloc((3 * n + 1) * sizeof *o);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c < 128) {
            o[k++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        } else if (c == 0x3a3) {
            o[k++] = capital_sigma(cp, n, i);
        } else {
            const uni_lower_entry *e = lower_find(c);
            if (!e) o[k++] = c;
            else for (int j = 0; j < e->n; j++) o[k++] = e->to[j];
        }
    }
    *out = o;
    return k;
}
