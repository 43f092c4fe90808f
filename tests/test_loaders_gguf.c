/* test_loaders_gguf: the GGUF reader on files written here byte by byte. A tiny file holds one
 * tensor of each ggml type we read, with block contents chosen so the dequantized values can be
 * computed by hand; malformed variants (truncated at every offset, bad magic/version, huge counts
 * and lengths, bad types/dims, misaligned or out-of-range offsets) must all return KV_ERR with a
 * message naming the file (and the tensor or key), never crash. Run under SANITIZE=1 too. */
#include "engine/gguf.h"
#include "util/util.h"
#include "tests/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Dequantization must be exact: every expected value is representable and computed the same way. */
#define DEQUANT_ATOL 0.0
#define DEQUANT_RTOL 0.0

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { buf_put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { buf_put(b, &v, 8); }
static void put_u16(buf *b, uint16_t v) { buf_put(b, &v, 2); }
static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    buf_put(b, s, strlen(s));
}

/* Faults injected into the otherwise valid file. */
typedef struct {
    uint32_t version;        /* 0: 3 */
    int bad_magic;
    uint64_t n_kv_add;       /* added to the true count */
    uint64_t n_tensors_add;
    uint64_t str_len;        /* nonzero: length written for the general.name string */
    uint64_t arr_len;        /* nonzero: count written for the int array */
    uint32_t n_dims;         /* nonzero: n_dims written for tensor "q8" */
    uint64_t dim0;           /* nonzero: dims[0] written for tensor "q8" */
    uint64_t dim1;           /* nonzero: dims[1] written for tensor "q8" */
    uint32_t type;           /* nonzero: type written for tensor "q8" */
    uint64_t offset_add;     /* added to tensor "q8"'s offset */
    uint32_t alignment;      /* nonzero: general.alignment (else 32 default, key absent) */
    int dup_name;            /* name the second tensor like the first */
} faults;

#define N_TENSORS 6
static const char *tensor_names[N_TENSORS] = {"f32", "f16", "bf16", "q8", "q40", "q41"};
static const int tensor_types[N_TENSORS] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16,
                                            GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1};

/* Tensor payloads: each tensor is (ne0=32, ne1=2) except f32 (4) / f16 / bf16 (8). */
static void tensor_payload(int k, buf *d, int64_t *ne0, int64_t *ne1)
{
    *ne1 = 1;
    switch (k) {
    case 0: { /* f32: 4 values */
        float v[4] = {1.5f, -2.25f, 0.0f, 1e-3f};
        buf_put(d, v, sizeof v);
        *ne0 = 4;
        break;
    }
    case 1: { /* f16: 1, -2, 0.5, smallest subnormal, 65504, -0, inf, 0.333 */
        uint16_t v[8] = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7bff, 0x8000, 0x7c00, 0x3555};
        buf_put(d, v, sizeof v);
        *ne0 = 8;
        break;
    }
    case 2: { /* bf16: 1, -3, pi-ish */
        uint16_t v[8] = {0x3f80, 0xc040, 0x4049, 0, 0x3f00, 0xbf80, 0x4000, 0x4080};
        buf_put(d, v, sizeof v);
        *ne0 = 8;
        break;
    }
    case 3: /* q8_0: 2 rows of 1 block; d = 0.5 / -0.25, q = j - 16 */
        for (int r = 0; r < 2; r++) {
            put_u16(d, r == 0 ? 0x3800 : 0xb400);
            for (int j = 0; j < 32; j++) {
                int8_t q = (int8_t)(j - 16);
                buf_put(d, &q, 1);
            }
        }
        *ne0 = 32;
        *ne1 = 2;
        break;
    case 4: /* q4_0: d = 2; byte j: low nibble j, high nibble 15 - j */
        for (int r = 0; r < 2; r++) {
            put_u16(d, r == 0 ? 0x4000 : 0x3c00);
            for (int j = 0; j < 16; j++) {
                uint8_t q = (uint8_t)(j | ((15 - j) << 4));
                buf_put(d, &q, 1);
            }
        }
        *ne0 = 32;
        *ne1 = 2;
        break;
    case 5: /* q4_1: d = 0.25, m = -1; byte j: low nibble j, high nibble (j*3)%16 */
        for (int r = 0; r < 2; r++) {
            put_u16(d, 0x3400);
            put_u16(d, r == 0 ? 0xbc00 : 0x4000);
            for (int j = 0; j < 16; j++) {
                uint8_t q = (uint8_t)(j | (((j * 3) % 16) << 4));
                buf_put(d, &q, 1);
            }
        }
        *ne0 = 32;
        *ne1 = 2;
        break;
    }
}

static void expected_values(int k, float *e)
{
    switch (k) {
    case 0: e[0] = 1.5f; e[1] = -2.25f; e[2] = 0.0f; e[3] = 1e-3f; break;
    case 1:
        e[0] = 1; e[1] = -2; e[2] = 0.5f; e[3] = 5.9604644775390625e-08f; e[4] = 65504;
        e[5] = -0.0f; e[6] = INFINITY; e[7] = 0.333251953125f;
        break;
    case 2:
        e[0] = 1; e[1] = -3; e[2] = 3.140625f; e[3] = 0; e[4] = 0.5f; e[5] = -1; e[6] = 2;
        e[7] = 4;
        break;
    case 3:
        for (int j = 0; j < 32; j++) {
            e[j] = 0.5f * (j - 16);
            e[32 + j] = -0.25f * (j - 16);
        }
        break;
    case 4:
        for (int r = 0; r < 2; r++) {
            float d = r == 0 ? 2.0f : 1.0f;
            for (int j = 0; j < 16; j++) {
                e[r * 32 + j] = d * (j - 8);
                e[r * 32 + 16 + j] = d * ((15 - j) - 8);
            }
        }
        break;
    case 5:
        for (int r = 0; r < 2; r++) {
            float m = r == 0 ? -1.0f : 2.0f;
            for (int j = 0; j < 16; j++) {
                e[r * 32 + j] = 0.25f * j + m;
                e[r * 32 + 16 + j] = 0.25f * ((j * 3) % 16) + m;
            }
        }
        break;
    }
}

static buf build_gguf(const faults *f)
{
    buf b = {0};
    buf_put(&b, f->bad_magic ? "GGUX" : "GGUF", 4);
    put_u32(&b, f->version ? f->version : 3);
    put_u64(&b, N_TENSORS + f->n_tensors_add);
    uint64_t n_kv = 7 + (f->alignment ? 1 : 0);
    put_u64(&b, n_kv + f->n_kv_add);
    put_str(&b, "general.architecture");
    put_u32(&b, GGUF_TYPE_STRING);
    put_str(&b, "llama");
    put_str(&b, "general.name");
    put_u32(&b, GGUF_TYPE_STRING);
    if (f->str_len) {
        put_u64(&b, f->str_len);
        buf_put(&b, "tiny", 4);
    } else {
        put_str(&b, "tiny");
    }
    put_str(&b, "test.u32");
    put_u32(&b, GGUF_TYPE_UINT32);
    put_u32(&b, 123456);
    put_str(&b, "test.f32");
    put_u32(&b, GGUF_TYPE_FLOAT32);
    float fv = 1e-5f;
    buf_put(&b, &fv, 4);
    put_str(&b, "test.bool");
    put_u32(&b, GGUF_TYPE_BOOL);
    uint8_t one = 1;
    buf_put(&b, &one, 1);
    put_str(&b, "test.strs");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 3);
    put_str(&b, "a");
    put_str(&b, "");
    put_str(&b, "\xc4\xa0hello");
    put_str(&b, "test.ints");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_INT32);
    put_u64(&b, f->arr_len ? f->arr_len : 3);
    int32_t iv[3] = {-1, 7, 1 << 30};
    buf_put(&b, iv, sizeof iv);
    if (f->alignment) {
        put_str(&b, "general.alignment");
        put_u32(&b, GGUF_TYPE_UINT32);
        put_u32(&b, f->alignment);
    }
    size_t align = f->alignment ? f->alignment : 32;
    buf data = {0};
    for (int k = 0; k < N_TENSORS; k++) {
        int64_t ne0, ne1;
        while (data.n % align) buf_put(&data, "", 1);
        size_t off = data.n;
        tensor_payload(k, &data, &ne0, &ne1);
        int q8 = k == 3;
        put_str(&b, f->dup_name && k == 1 ? tensor_names[0] : tensor_names[k]);
        uint32_t nd = ne1 > 1 ? 2 : 1;
        put_u32(&b, q8 && f->n_dims ? f->n_dims : nd);
        uint32_t nd_written = q8 && f->n_dims ? f->n_dims : nd;
        for (uint32_t d = 0; d < nd_written && d < 8; d++) {
            uint64_t v = d == 0 ? (uint64_t)ne0 : d == 1 ? (uint64_t)ne1 : 1;
            if (q8 && d == 0 && f->dim0) v = f->dim0;
            if (q8 && d == 1 && f->dim1) v = f->dim1;
            put_u64(&b, v);
        }
        put_u32(&b, q8 && f->type ? f->type : (uint32_t)tensor_types[k]);
        put_u64(&b, off + (q8 ? f->offset_add : 0));
    }
    while (b.n % align) buf_put(&b, "", 1);
    buf_put(&b, data.p, data.n);
    free(data.p);
    return b;
}

static char tmpdir[256];

static const char *write_file(const char *name, const void *p, size_t n)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) return NULL;
    fwrite(p, 1, n, fp);
    fclose(fp);
    return path;
}

/* Opening must fail with a message containing every given needle. */
static void expect_open_fail(const char *label, const faults *f, const char *needle)
{
    buf b = build_gguf(f);
    const char *path = write_file("bad.gguf", b.p, b.n);
    gguf_file *g = NULL;
    int rc = gguf_open(path, &g);
    CHECK(rc == KV_ERR, "%s: expected KV_ERR", label);
    CHECK(strstr(kv_lasterr(), path) != NULL, "%s: message does not name the file: %s", label,
          kv_lasterr());
    if (needle)
        CHECK(strstr(kv_lasterr(), needle) != NULL, "%s: message lacks \"%s\": %s", label, needle,
              kv_lasterr());
    if (rc == KV_OK) gguf_close(g);
    free(b.p);
}

static void test_valid(void)
{
    faults f = {0};
    buf b = build_gguf(&f);
    const char *path = write_file("tiny.gguf", b.p, b.n);
    gguf_file *g = NULL;
    CHECK(gguf_open(path, &g) == KV_OK, "open tiny.gguf: %s", kv_lasterr());
    if (!g) {
        free(b.p);
        return;
    }
    CHECK(strcmp(gguf_path(g), path) == 0, "path");
    int64_t iv;
    double dv;
    int bv, et;
    const char *s;
    size_t n;
    CHECK(gguf_get_int(g, "test.u32", &iv) == KV_OK && iv == 123456, "u32 = %lld", (long long)iv);
    CHECK(gguf_get_float(g, "test.f32", &dv) == KV_OK && dv == (double)1e-5f, "f32 = %g", dv);
    CHECK(gguf_get_float(g, "test.u32", &dv) == KV_OK && dv == 123456.0, "int as float");
    CHECK(gguf_get_bool(g, "test.bool", &bv) == KV_OK && bv == 1, "bool");
    CHECK(gguf_get_string(g, "general.name", &s, &n) == KV_OK && n == 4 && !memcmp(s, "tiny", 4),
          "string");
    CHECK(gguf_get_int(g, "general.name", &iv) == KV_ERR &&
              strstr(kv_lasterr(), "general.name") && strstr(kv_lasterr(), "string"),
          "int of a string names key and type: %s", kv_lasterr());
    CHECK(gguf_get_int(g, "nope", &iv) == KV_ERR && strstr(kv_lasterr(), "nope"), "missing key");
    CHECK(!gguf_has_key(g, "nope") && gguf_has_key(g, "test.ints"), "has_key");
    CHECK(gguf_get_array_info(g, "test.strs", &et, &n) == KV_OK && et == GGUF_TYPE_STRING &&
              n == 3, "string array info");
    CHECK(gguf_get_array_string(g, "test.strs", 2, &s, &n) == KV_OK && n == 7 &&
              !memcmp(s, "\xc4\xa0hello", 7), "string array element");
    CHECK(gguf_get_array_string(g, "test.strs", 1, &s, &n) == KV_OK && n == 0, "empty string");
    CHECK(gguf_get_array_string(g, "test.strs", 3, &s, &n) == KV_ERR, "string index range");
    CHECK(gguf_get_array_int(g, "test.ints", 0, &iv) == KV_OK && iv == -1, "int array");
    CHECK(gguf_get_array_int(g, "test.ints", 2, &iv) == KV_OK && iv == (1 << 30), "int array 2");
    CHECK(gguf_get_array_float(g, "test.ints", 1, &dv) == KV_OK && dv == 7.0, "int array float");
    CHECK(gguf_get_array_int(g, "test.strs", 0, &iv) == KV_ERR, "int of string array");
    CHECK(gguf_n_tensors(g) == N_TENSORS, "n_tensors %d", gguf_n_tensors(g));
    CHECK(gguf_find_tensor(g, "absent") == NULL, "absent tensor");
    for (int k = 0; k < N_TENSORS; k++) {
        const gguf_tensor *t = gguf_find_tensor(g, tensor_names[k]);
        CHECK(t != NULL && t->type == tensor_types[k], "tensor %s", tensor_names[k]);
        if (!t) continue;
        int64_t ne = t->dims[0] * t->dims[1];
        float got[64], exp[64];
        expected_values(k, exp);
        CHECK(gguf_tensor_to_f32(g, t, got) == KV_OK, "dequant %s", tensor_names[k]);
        double err;
        CHECK(check_close_array(got, exp, ne, DEQUANT_ATOL, DEQUANT_RTOL, &err),
              "%s values (max err %g)", tensor_names[k], err);
        if (t->dims[1] == 2) { /* row access: the second row alone */
            float row[32];
            CHECK(gguf_tensor_rows_to_f32(g, t, 1, 1, row) == KV_OK &&
                      !memcmp(row, exp + 32, sizeof row), "row 1 of %s", tensor_names[k]);
            CHECK(gguf_tensor_rows_to_f32(g, t, 1, 2, row) == KV_ERR, "rows out of range");
        }
    }
    gguf_close(g);

    /* every truncation of the valid file fails cleanly (the header is parsed at open time) */
    int trunc_ok = 1;
    for (size_t cut = 0; cut < b.n; cut++) {
        const char *p = write_file("trunc.gguf", b.p, cut);
        gguf_file *t = NULL;
        if (gguf_open(p, &t) != KV_ERR || !strstr(kv_lasterr(), p)) {
            fprintf(stderr, "truncated at %zu: %s\n", cut, kv_lasterr());
            trunc_ok = 0;
            if (t) gguf_close(t);
        }
    }
    CHECK(trunc_ok, "every truncation of a %zu-byte GGUF is rejected naming the file", b.n);
    free(b.p);

    /* a larger alignment, honoured */
    faults fa = {.alignment = 64};
    b = build_gguf(&fa);
    path = write_file("align64.gguf", b.p, b.n);
    CHECK(gguf_open(path, &g) == KV_OK, "alignment 64: %s", kv_lasterr());
    if (g) {
        const gguf_tensor *t = gguf_find_tensor(g, "q41");
        float got[64], exp[64];
        expected_values(5, exp);
        CHECK(t && gguf_tensor_to_f32(g, t, got) == KV_OK && !memcmp(got, exp, sizeof got),
              "q4_1 at alignment 64");
        gguf_close(g);
    }
    free(b.p);
    faults fv2 = {.version = 2};
    b = build_gguf(&fv2);
    path = write_file("v2.gguf", b.p, b.n);
    CHECK(gguf_open(path, &g) == KV_OK, "v2 accepted: %s", kv_lasterr());
    if (g) gguf_close(g);
    free(b.p);
}

static void test_malformed(void)
{
    expect_open_fail("bad magic", &(faults){.bad_magic = 1}, "magic");
    expect_open_fail("version 1", &(faults){.version = 1}, "version");
    expect_open_fail("version 4", &(faults){.version = 4}, "version");
    expect_open_fail("huge n_kv", &(faults){.n_kv_add = (uint64_t)1 << 60}, "metadata count");
    expect_open_fail("n_kv + 1", &(faults){.n_kv_add = 1}, NULL);
    expect_open_fail("huge n_tensors", &(faults){.n_tensors_add = (uint64_t)1 << 62}, "tensor");
    expect_open_fail("n_tensors + 1", &(faults){.n_tensors_add = 1}, NULL);
    expect_open_fail("huge string", &(faults){.str_len = UINT64_MAX - 3}, "general.name");
    expect_open_fail("long string", &(faults){.str_len = 1000}, "general.name");
    expect_open_fail("huge array", &(faults){.arr_len = (uint64_t)1 << 61}, "test.ints");
    expect_open_fail("n_dims 7", &(faults){.n_dims = 7}, "q8");
    expect_open_fail("n_dims 5", &(faults){.n_dims = 5}, "q8");
    expect_open_fail("dim overflow", &(faults){.dim0 = 32, .dim1 = (uint64_t)1 << 62}, "q8");
    expect_open_fail("dim not block multiple", &(faults){.dim0 = 33}, "q8");
    expect_open_fail("bytes past the end", &(faults){.dim1 = 1000}, "q8");
    expect_open_fail("unknown type", &(faults){.type = 12}, "q8");
    expect_open_fail("misaligned offset", &(faults){.offset_add = 4}, "q8");
    expect_open_fail("offset past the end", &(faults){.offset_add = 1 << 20}, "q8");
    expect_open_fail("offset huge", &(faults){.offset_add = (uint64_t)1 << 63}, "q8");
    expect_open_fail("alignment not power of two", &(faults){.alignment = 48}, "alignment");
    expect_open_fail("duplicate tensor", &(faults){.dup_name = 1}, "duplicate");
    gguf_file *g = NULL;
    CHECK(gguf_open("/nonexistent/x.gguf", &g) == KV_ERR &&
              strstr(kv_lasterr(), "/nonexistent/x.gguf"), "missing file");
    const char *p = write_file("empty.gguf", "", 0);
    CHECK(gguf_open(p, &g) == KV_ERR && strstr(kv_lasterr(), p), "empty file");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kvbench_gguf_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_valid();
    test_malformed();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report("test_loaders_gguf");
}
