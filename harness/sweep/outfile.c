/* outfile: temporary + rename for the reducer's text outputs (see outfile.h). */
#include "harness/sweep/outfile.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

FILE *outfile_open(const char *final, char *tmp, size_t n)
{
    snprintf(tmp, n, "%s.tmp.%d", final, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) kv_seterr("cannot create %s: %s", tmp, strerror(errno));
    return f;
}

FILE *outfile_open_append(const char *final, char *tmp, size_t n)
{
    FILE *f = outfile_open(final, tmp, n);
    FILE *old = f ? fopen(final, "r") : NULL;
    if (!old) return f;
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, old)) > 0) fwrite(buf, 1, got, f);
    if (ferror(old)) {
        kv_seterr("cannot read %s", final);
        fclose(old);
        outfile_discard(f, tmp);
        return NULL;
    }
    fclose(old);
    return f;
}

int outfile_commit(FILE *f, const char *tmp, const char *final)
{
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, final) != 0) {
        unlink(tmp);
        kv_seterr("cannot write %s", final);
        return KV_ERR;
    }
    return KV_OK;
}

void outfile_discard(FILE *f, const char *tmp)
{
    fclose(f);
    unlink(tmp);
}
