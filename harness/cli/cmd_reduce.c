/* cmd_reduce: `kvbench reduce DIR` — rebuild DIR/summary.h5, tables.md, scores.csv and plots/
 * from the item files (the same reducer rank 0 runs at the end of `run`). */
#include <stdio.h>
#include <string.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/sweep/reduce.h"

static const char reduce_help[] =
    "usage: kvbench reduce DIR\n"
    "\n"
    "Merge every finished item file under DIR/items into DIR/summary.h5 (scores, predictions,\n"
    "provenance), DIR/tables.md (per model and budget the 16-task table with Avg and the category\n"
    "table, methods as rows), DIR/scores.csv and DIR/plots/<model>.svg. A result stored twice\n"
    "(same model, task, sample, variant) is counted once: the item file whose path sorts first\n"
    "wins. Temporaries of running or killed ranks are ignored. Safe to run while a sweep runs.\n";

int cmd_reduce(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(reduce_help, stdout);
            return 0;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "kvbench: error: unknown argument '%s' (reduce): kvbench reduce DIR\n", argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "kvbench: error: no result folder (reduce): kvbench reduce DIR\n");
        return 2;
    }
    reduced r;
    double t0 = kv_now();
    if (reduce_load(dir, 0, &r) != KV_OK || reduce_write(dir, &r) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    printf("reduce: %d item files, %d results (%d duplicates dropped), %d (model, variant) rows -> "
           "%s/{summary.h5,tables.md,scores.csv,plots/} in %.2fs\n",
           r.n_items, r.n_rows, r.duplicates, r.n_scores, dir, kv_now() - t0);
    reduce_free(&r);
    return 0;
}
