/* hash: 64-bit FNV-1a (util/hash.h). */
#include "util/hash.h"

#include <string.h>

uint64_t kv_fnv1a(const void *data, size_t n, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL; /* the FNV 64-bit prime */
    }
    return h;
}

uint64_t kv_fnv1a_str0(const char *s, uint64_t h)
{
    if (!s) s = "";
    return kv_fnv1a(s, strlen(s) + 1, h);
}
