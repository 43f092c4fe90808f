/* store_space: the disk-full estimate and message of a run (see store_space.h). */
#include "harness/sweep/store_space.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "util/util.h"
#include "harness/sweep/store.h"

int store_space_full(int err) { return err == ENOSPC || err == EDQUOT; }

void store_space_estimate(const char *dir, const work_item *items, int n, int *left, double *mean, int *n_stored,
                          double *need, double *avail)
{
    char **paths = NULL;
    int np = 0;
    double total = 0;
    *n_stored = 0;
    store_list_items(dir, 0, &paths, &np);
    for (int i = 0; i < np; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0) total += (double)st.st_size, (*n_stored)++;
    }
    store_paths_free(paths, np);
    *mean = *n_stored ? total / *n_stored : 0;
    *left = 0;
    for (int i = 0; i < n; i++) {
        char p[4700];
        snprintf(p, sizeof p, "%s/%s", dir, items[i].file);
        if (!kv_file_exists(p)) (*left)++;
    }
    *need = *left * *mean;
    struct statvfs vf;
    *avail = statvfs(dir, &vf) == 0 ? (double)vf.f_bavail * (double)vf.f_frsize : -1;
}

static void fmt_bytes(double b, char *buf, size_t n)
{
    if (b < 0) snprintf(buf, n, "?");
    else if (b < 1024) snprintf(buf, n, "%.0f B", b);
    else if (b < 1024.0 * 1024) snprintf(buf, n, "%.1f KiB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024) snprintf(buf, n, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(buf, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
}

void store_space_message(const char *dir, const char *file, const work_item *items, int n, char *msg, size_t cap)
{
    int left, n_stored;
    double mean, need, avail;
    store_space_estimate(dir, items, n, &left, &mean, &n_stored, &need, &avail);
    char sneed[32], smean[32], savail[32];
    fmt_bytes(need, sneed, sizeof sneed), fmt_bytes(mean, smean, sizeof smean), fmt_bytes(avail, savail, sizeof savail);
    if (n_stored)
        snprintf(msg, cap,
                 "disk full writing %s/%s: the item in flight is dropped and nothing stored is damaged; the %d items "
                 "left need about %s (mean item file %s over %d stored), %s is free in %s: free space and run the "
                 "same command again",
                 dir, file, left, sneed, smean, n_stored, savail, dir);
    else
        snprintf(msg, cap,
                 "disk full writing %s/%s: the item in flight is dropped and nothing stored is damaged; no item file "
                 "is stored yet to estimate from (%d items left), %s is free in %s: free space and run the same "
                 "command again",
                 dir, file, left, savail, dir);
}
