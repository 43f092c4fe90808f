/* unicode: the pieces of Python's str semantics the LongBench metrics rely on — str.lower()
 * (full case mapping with the Final_Sigma rule), str.split() whitespace, re's \w/\b and \d — over
 * code point arrays, with tables generated from Python's own Unicode database
 * (tools/gen_unicode_tables.py → harness/longbench/unicode_tables.c). */
#ifndef KV_UNICODE_H
#define KV_UNICODE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t lo, hi; /* inclusive */
} uni_range;

typedef struct {
    uint32_t cp;
    int n;           /* code points in to[] */
    uint32_t to[3];
} uni_lower_entry;

extern const char uni_tables_version[];
extern const uni_range uni_space[], uni_alnum[], uni_decimal[], uni_cased[], uni_ignorable[];
extern const int uni_space_n, uni_alnum_n, uni_decimal_n, uni_cased_n, uni_ignorable_n;
extern const uni_lower_entry uni_lower_table[];
extern const int uni_lower_table_n;

int uni_is_space(uint32_t c);    /* chr(c).isspace() */
int uni_is_word(uint32_t c);     /* re \w: chr(c).isalnum() or c == '_' */
int uni_is_decimal(uint32_t c);  /* re \d: chr(c).isdecimal() */

/* UTF-8 → code points. Invalid bytes become U+FFFD (inputs from JSON are valid already).
 * *out is malloc'd (at least one element); the caller frees. Returns the count. */
size_t uni_decode(const char *s, size_t len, uint32_t **out);
/* Code points → NUL-terminated UTF-8, malloc'd; *len (optional) excludes the NUL. */
char *uni_encode(const uint32_t *cp, size_t n, size_t *len);
/* Python str.lower() of n code points; *out malloc'd; returns the new count (up to 3n). */
size_t uni_lower(const uint32_t *cp, size_t n, uint32_t **out);

#endif
