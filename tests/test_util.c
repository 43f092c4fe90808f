/* test_util: the bottom layer's one definition of each shared utility (issue 14) — FNV-1a against
 * the published FNV test vectors, and the IEEE half conversions on every one of the 65536 bit
 * patterns (exact decode, round trip, round-to-nearest-even ties); kv_malloc's large buffers on 2 MiB
 * boundaries. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "util/half.h"
#include "util/hash.h"
#include "util/util.h"

static void test_fnv1a(void)
{
    /* FNV-1a 64-bit reference values (http://www.isthe.com/chongo/tech/comp/fnv/), from the
     * standard offset basis. */
    const uint64_t basis = 0xcbf29ce484222325ULL;
    CHECK(kv_fnv1a("", 0, basis) == basis, "empty");
    CHECK(kv_fnv1a("a", 1, basis) == 0xaf63dc4c8601ec8cULL, "\"a\"");
    CHECK(kv_fnv1a("foobar", 6, basis) == 0x85944171f73967e8ULL, "\"foobar\"");
    /* Chaining continues the same stream; str0 hashes the terminator too, NULL as "". */
    CHECK(kv_fnv1a("bar", 3, kv_fnv1a("foo", 3, basis)) == 0x85944171f73967e8ULL, "chained");
    /* The project's seed (every stored sweep/data/cell hash and work-item identity depends on it). */
    CHECK(KV_FNV_SEED == 1469598103934665603ULL, "KV_FNV_SEED unchanged");
    CHECK(kv_fnv1a("a", 1, KV_FNV_SEED) == ((KV_FNV_SEED ^ 'a') * 1099511628211ULL), "one step from the seed");
    CHECK(kv_fnv1a_str0("ab", KV_FNV_SEED) == kv_fnv1a("ab", 3, KV_FNV_SEED), "str0 includes the NUL");
    CHECK(kv_fnv1a_str0(NULL, KV_FNV_SEED) == kv_fnv1a_str0("", KV_FNV_SEED), "NULL hashes as \"\"");
    CHECK(kv_fnv1a_str0("c", kv_fnv1a_str0("ab", KV_FNV_SEED)) !=
              kv_fnv1a_str0("bc", kv_fnv1a_str0("a", KV_FNV_SEED)), "separators keep parts apart");
}

/* The value of half bits h computed independently: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals
 * 2^-14 * m/1024. */
static double half_value(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void test_half(void)
{
    int bad_decode = 0, bad_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = half_to_float((uint16_t)h);
        double ref = half_value((uint16_t)h);
        if (isnan(ref) ? !isnan(f) : ((double)f != ref || !signbit(f) != !signbit(ref))) bad_decode++;
        if (!isnan(ref) && half_from_float(f) != h) bad_trip++;
    }
    CHECK(bad_decode == 0, "%d of 65536 halves decode wrongly", bad_decode);
    CHECK(bad_trip == 0, "%d of 65536 non-NaN halves do not round-trip", bad_trip);
    /* Ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 -> 1; 1 + 3*2^-11 -> 1 + 2^-9. */
    CHECK(half_from_float(1.0f + 0x1p-11f) == 0x3c00, "tie rounds down to even");
    CHECK(half_from_float(1.0f + 3 * 0x1p-11f) == 0x3c02, "tie rounds up to even");
    CHECK(half_from_float(65520.0f) == 0x7c00 && half_from_float(65519.0f) == 0x7bff, "overflow threshold");
    CHECK(half_round(0.1f) == 0.0999755859375f, "half_round(0.1)");
    CHECK(isnan(half_to_float(half_from_float(NAN))), "NaN stays NaN");
}

/* kv_malloc: large buffers start on a 2 MiB boundary (where THP can back them), writable to their
 * last byte and freed by free(). Whether the kernel grants huge pages
 * is its business (t_bench.sh checks the bench line where THP is on). */
static void test_malloc_large(void)
{
    const size_t sizes[] = {(size_t)4 << 20, ((size_t)4 << 20) + 1, (size_t)9 << 20};
    for (int i = 0; i < 3; i++) {
        unsigned char *p = kv_malloc(sizes[i]);
#ifdef __linux__
        CHECK((uintptr_t)p % ((uintptr_t)2 << 20) == 0, "kv_malloc(%zu) on a 2 MiB boundary", sizes[i]);
#endif
        memset(p, 0xa5, sizes[i]);
        CHECK(p[0] == 0xa5 && p[sizes[i] - 1] == 0xa5, "kv_malloc(%zu) writable to its end", sizes[i]);
        free(p);
    }
    const long long huge = kv_huge_page_bytes();
#ifdef __linux__
    CHECK(huge >= 0, "AnonHugePages is readable on Linux (got %lld)", huge);
#endif
}

int main(void)
{
    test_fnv1a();
    test_half();
    test_malloc_large();
    return check_report("test_util");
}
