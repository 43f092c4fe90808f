/* util: error convention, allocation that dies loudly, whole-file reads, a monotonic clock. */
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char last_error[1024];
static void (*fatal_hook)(int);
static int current_rank = -1;

void kv_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *kv_lasterr(void) { return last_error; }

void kv_set_fatal_hook(void (*hook)(int code)) { fatal_hook = hook; }
void kv_set_rank(int rank) { current_rank = rank; }

void kv_die(const char *fmt, ...)
{
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    /* One write(2) for the whole line: ranks dying at once share stderr, and pieces written
     * separately interleave ("kvbench: error: kvbench: error: ..."). */
    char line[8192], msg[7000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n = current_rank >= 0 ? snprintf(line, sizeof line, "kvbench: error: %s [host %s, rank %d]\n", msg, host, current_rank)
                              : snprintf(line, sizeof line, "kvbench: error: %s\n", msg);
    if (n < 0) n = 0;
    if (n >= (int)sizeof line) n = (int)sizeof line - 1, line[n - 1] = '\n';
    fflush(stderr);
    if (write(STDERR_FILENO, line, (size_t)n) < 0) { /* nothing more to say */ }
    if (fatal_hook) fatal_hook(1);
    /* _exit, not exit: library exit handlers must not run on a fatal path. HDF5's closes every
     * file still open, and one whose write failed (disk full, EFBIG) crashes it (SIGSEGV in
     * H5F__close_cb, found by tests/t_bad_inputs.sh), turning a clean error into a signal. */
    fflush(NULL);
    _exit(1);
}

/* Buffers from KV_HUGE_MIN bytes up (weights, the prefix store, decode scratch) start on a 2 MiB
 * boundary and ask the kernel for transparent huge pages: decode attention reads kept rows scattered
 * over each layer's K/V, and with 4 KiB pages every few rows cost a TLB walk (batched step 1.08x
 * faster with q8 activations, 1.31x with fp32, medians of a noisy VM: BENCHMARKS §5.7.9). Where THP is "madvise" (Debian's default) nothing else
 * would give them; "never" ignores the advice. Still one free() each. */
#define KV_HUGE_PAGE ((size_t)2 << 20)
#define KV_HUGE_MIN ((size_t)4 << 20)

void *kv_malloc(size_t n)
{
    void *p;
#ifdef MADV_HUGEPAGE
    if (n >= KV_HUGE_MIN && n <= SIZE_MAX - KV_HUGE_PAGE) {
        const size_t whole = (n + KV_HUGE_PAGE - 1) / KV_HUGE_PAGE * KV_HUGE_PAGE;
        p = aligned_alloc(KV_HUGE_PAGE, whole);
        if (!p) kv_die("out of memory allocating %zu bytes", n);
        (void)madvise(p, whole, MADV_HUGEPAGE); /* advice: refused (no THP), the pages stay small */
        return p;
    }
#endif
    p = malloc(n ? n : 1);
    if (!p) kv_die("out of memory allocating %zu bytes", n);
    return p;
}

long long kv_huge_page_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    long long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %lld kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

void *kv_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) kv_die("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *kv_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) kv_die("out of memory reallocating %zu bytes", n);
    return q;
}

char *kv_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kv_malloc(n);
    memcpy(d, s, n);
    return d;
}

int kv_read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        kv_seterr("%s: cannot open: %s", path, strerror(errno));
        return KV_ERR;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = kv_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = kv_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        kv_seterr("%s: read error", path);
        return KV_ERR;
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return KV_OK;
}

int kv_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int kv_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

double kv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int kv_map_file(const char *path, const uint8_t **map, size_t *size)
{
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        kv_seterr("%s: cannot open: %s", path, strerror(errno));
        return KV_ERR;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        kv_seterr("%s: not a regular file", path);
        close(fd);
        return KV_ERR;
    }
    if (st.st_size == 0) { /* mmap of 0 bytes is an error; an empty file is the caller's to name */
        close(fd);
        return KV_OK;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        kv_seterr("%s: mmap failed: %s", path, strerror(errno));
        return KV_ERR;
    }
    *map = m;
    *size = (size_t)st.st_size;
    return KV_OK;
}

void kv_unmap_file(const uint8_t *map, size_t size)
{
    if (map) munmap((void *)map, size);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double kv_median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
