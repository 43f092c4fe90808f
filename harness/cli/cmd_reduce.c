/* cmd_reduce: `kvbench reduce DIR` — rebuild DIR/summary.h5, tables.md, scores.csv and plots/
 * from the item files (the same reducer rank 0 runs at the end of `run`). */
#include <stdio.h>
#include <string.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/cli/options.h"
#include "harness/sweep/reduce.h"
#include "harness/sweep/store.h"

int cmd_reduce(int argc, char **argv)
{
    const char *dir = NULL, *to = NULL;
    const cli_opt opts[] = {
        {"--to", "OTHER_DIR", OPT_STR, &to, 0,
         "write summary.h5, tables, CSV and plots to OTHER_DIR and leave DIR untouched (damaged item\n"
         "files are skipped, not moved): a reader's snapshot while a run writes DIR"},
        {0},
    };
    const cli_spec spec = {
        .name = "reduce",
        .usage = "kvbench reduce DIR [--to OTHER_DIR]",
        .about = "Merge every finished item file under DIR/items into DIR/summary.h5 (scores, predictions,\n"
                 "provenance), DIR/tables.md (per model and budget the 16-task table with Avg and the category\n"
                 "table, methods as rows), DIR/scores.csv and DIR/plots/<model>.svg. A result stored twice\n"
                 "(same model, task, sample, variant) is counted once: the item file whose path sorts first\n"
                 "wins. Temporaries of running or killed ranks are ignored. Safe to run while a sweep runs.",
        .opts = opts, .positional = &dir,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (!dir) {
        fprintf(stderr, "kvbench: error: no result folder (reduce): kvbench reduce DIR\n");
        return 2;
    }
    reduced r;
    double t0 = kv_now();
    const char *out = to ? to : dir;
    if (to && store_mkdirs(to) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    if (reduce_load_checked(dir, 0, !to, &r) != KV_OK || reduce_write(out, &r) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    printf("reduce: %d item files, %d results (%d duplicates dropped), %d (model, variant) rows -> "
           "%s/{summary.h5,tables.md,scores.csv,plots/} in %.2fs\n",
           r.n_items, r.n_rows, r.duplicates, r.n_scores, out, kv_now() - t0);
    if (r.n_damaged)
        printf("reduce: %d damaged item file%s set aside%s%s%s; their cells are marked incomplete "
               "(run the sweep again to recompute them)\n",
               r.n_damaged, r.n_damaged == 1 ? "" : "s", to ? "" : " in ", to ? "" : dir, to ? "" : "/quarantine/");
    reduce_free(&r);
    return 0;
}
