/* fuzz_common: what every libFuzzer target here shares. The loaders take paths (they mmap or
 * stream files, as the real commands do), so each input is written to a per-process scratch file
 * and the loader is run on that path: the code under test is exactly the code `kvbench` runs. */
#ifndef KV_FUZZ_COMMON_H
#define KV_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Scratch folder for this process: $TMPDIR/kvfuzz.<pid> (created once, reused by every input). */
static const char *fuzz_dir(void)
{
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/kvfuzz.%d", t && *t ? t : "/tmp", (int)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

/* Writes data to fuzz_dir()/name and returns the path (static buffer). Aborts if the scratch file
 * cannot be written: that is a broken fuzzing setup, not a finding. */
static const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}
#endif
