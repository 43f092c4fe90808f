/* hash: 64-bit FNV-1a, the one non-cryptographic hash of the project (sweep and data-file hashes,
 * work-item and cell identities, the tokenizer's hash tables). SHA-256 of model headers is
 * engine/sha256.h. */
#ifndef KV_HASH_H
#define KV_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The project's starting value. It is the published 64-bit offset basis 14695981039346656037 with
 * its last digit missing; every stored hash (sweep, data file, cell) and work-item identity was
 * made with it, so it stays (resume and result stores depend on it). The algorithm itself is
 * standard FNV-1a (tests/test_util.c checks the published vectors from the standard basis). */
#define KV_FNV_SEED 1469598103934665603ULL

/* FNV-1a over n bytes, continuing from h (KV_FNV_SEED to start). */
uint64_t kv_fnv1a(const void *data, size_t n, uint64_t h);
/* FNV-1a over a C string including its terminating NUL (NULL hashes as ""), continuing from h:
 * the separator keeps ("ab", "c") and ("a", "bc") apart when strings are chained. */
uint64_t kv_fnv1a_str0(const char *s, uint64_t h);

#endif
