/* porter_stem: the Porter stemmer exactly as rouge_score applies it. rouge_score 0.1.2's
 * DefaultTokenizer(use_stemmer=True) builds nltk.stem.porter.PorterStemmer() in its default mode,
 * NLTK_EXTENSIONS (checked against nltk 3.10.4): Porter's 1980 steps 1a..5b with nltk's changes —
 * the irregular-form pool (skies -> sky, dying -> die, news, proceed, ...), "ies"/"ied" on 4-letter
 * words -> "ie", *o also true for a 2-letter vowel+consonant stem, step 1c's y -> i only after a
 * consonant that is not the first letter, step 2's "alli" -> "al" tried first (then step 2 again),
 * "bli" -> "ble" instead of "abli", and the "fulli" and "logi" rules. rouge_score stems only tokens
 * longer than 3 characters (the caller's rule). */
#ifndef KV_PORTER_STEM_H
#define KV_PORTER_STEM_H

/* Stems the NUL-terminated lower-case [a-z0-9] word w in place (a stem is never longer than its
 * word) and returns its new length. */
int porter_stem(char *w);

#endif
