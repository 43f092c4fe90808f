/* show_extras: show --kept and the recall table (show_extras.h). */
#include "harness/cli/show_extras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep/kept_plot.h"
#include "harness/sweep/reduce.h"
#include "util/util.h"

int show_kept(const char *dir, const char *mname, const char *task, int budget, int sample)
{
    if (!kv_is_dir(dir)) {
        fprintf(stderr, "kvbench: error: show --kept needs the result folder (its item files), not %s\n", dir);
        return 1;
    }
    reduced r;
    if (reduce_load_checked(dir, 0, 0, &r) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    int rc = kept_plot_sample(&r, mname, task, sample, budget, stdout);
    if (rc != KV_OK) fprintf(stderr, "kvbench: error: %s: %s\n", dir, kv_lasterr());
    reduce_free(&r);
    return rc == KV_OK ? 0 : 1;
}

void show_recall(const char *dir, const char *mname, int budget, const char *fmt)
{
    char path[4096], line[65536];
    snprintf(path, sizeof path, "%s/recall.csv", dir);
    FILE *f = kv_is_dir(dir) ? fopen(path, "r") : NULL;
    if (!f || !fgets(line, sizeof line, f)) {
        if (f) fclose(f);
        return;
    }
    int md = !strcmp(fmt, "md");
    if (md) printf("\n## Attention recall\n\n| model | method | budget | samples | recall |\n|---|---|---|---|---|\n");
    else printf("\n%s", line);
    while (fgets(line, sizeof line, f)) {
        char m[512], label[512];
        int b = 0, n = 0;
        double rec = 0;
        if (sscanf(line, "%511[^,],\"%511[^\"]\",%d,%d,%lf", m, label, &b, &n, &rec) != 5) continue;
        if ((mname && strcmp(mname, m)) || (budget >= 0 && b != budget && b != 0)) continue;
        if (!md) fputs(line, stdout);
        else {
            char bl[32];
            budget_label(b, bl, sizeof bl, 1);
            printf("| %s | %s | %s | %d | %.4f |\n", m, label, b ? bl : "full", n, rec);
        }
    }
    fclose(f);
}
