/* test_cublas_load: cuBLAS is opened at run time, not linked (kernels/cublas_load.h). Runs without
 * a GPU: a process that has not started the CUDA backend holds no cuBLAS memory; kv_cublas_load
 * resolves the real entry points (the library names its own status codes through them), costs the
 * ~90 MiB only then, and a bad KVBENCH_CUBLAS_LIB fails with a line naming the path. Built without
 * CUDA (no KV_HAVE_CUDA from the Makefile) there is no loader: the test says so and checks nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cublas_load.h"
#include "tests/check.h"

/* Below this the process has not loaded libcublasLt (its static data alone is ~84 MiB). */
#define ANON_BEFORE_MAX_KIB (24 * 1024)
/* Loading it must show: that cost is why it is deferred. */
#define ANON_LOAD_MIN_KIB (32 * 1024)

static long rss_anon_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "RssAnon:", 8)) v = atol(line + 8);
    if (f) fclose(f);
    return v;
}

static int mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) found |= strstr(line, name) != NULL;
    if (f) fclose(f);
    return found;
}

int main(void)
{
#ifndef KV_HAVE_CUDA
    printf("test_cublas_load: built without CUDA, no loader to test\n");
    printf("test_cublas_load: %d passed, %d failed\n", check_passed, check_failed);
    return 0;
#else
    char err[1024] = "";
    CHECK(!mapped("libcublas"), "libcublas is mapped before kv_cublas_load");
    long before = rss_anon_kib();
    CHECK(before > 0 && before < ANON_BEFORE_MAX_KIB, "RssAnon %ld KiB before loading cuBLAS", before);

    setenv("KVBENCH_CUBLAS_LIB", "/nonexistent/libcublas.so.13", 1);
    CHECK(kv_cublas_load(err, sizeof err) == -1, "a missing KVBENCH_CUBLAS_LIB loads");
    CHECK(strstr(err, "/nonexistent/libcublas.so.13") != NULL, "error names the path: %s", err);
    CHECK(strstr(err, "KVBENCH_CUBLAS_LIB") != NULL, "error names the variable: %s", err);
    unsetenv("KVBENCH_CUBLAS_LIB");

    int rc = kv_cublas_load(err, sizeof err);
    CHECK(rc == 0, "kv_cublas_load: %s", err);
    if (rc == 0) {
        CHECK(mapped("libcublasLt"), "libcublasLt mapped after loading");
        long after = rss_anon_kib();
        CHECK(after - before >= ANON_LOAD_MIN_KIB, "loading cuBLAS added %ld KiB of RssAnon", after - before);
        /* through the resolved pointer: the library's own names for two status codes */
        CHECK(!strcmp(kv_cublas_status_name(0), "CUBLAS_STATUS_SUCCESS"), "status 0 -> %s", kv_cublas_status_name(0));
        CHECK(!strcmp(kv_cublas_status_name(7), "CUBLAS_STATUS_INVALID_VALUE"), "status 7 -> %s",
              kv_cublas_status_name(7));
        CHECK(kv_cublas_load(err, sizeof err) == 0, "a second load is a no-op");
    }
    printf("test_cublas_load: %d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
#endif
}
