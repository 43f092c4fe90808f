/* cmd_verify: `kvbench verify DIR` — check a whole result store without changing it (issue 19):
 * every item file (item_check: opens, required datasets and attributes, sizes), and summary.h5
 * against the items (the item files it lists, its prediction count, and its /tables rows against
 * the rows the items give now). One line per problem; exit 0 when none, 1 otherwise. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/cli/options.h"
#include "harness/sweep/reduce.h"
#include "harness/sweep/store.h"

/* The part of an item path after "/items/", so DIR spelled differently still compares equal. */
static const char *item_rel(const char *p)
{
    const char *s = strstr(p, "/items/");
    return s ? s + 7 : p;
}

static int cmp_rel(const void *a, const void *b)
{
    return strcmp(item_rel(*(char *const *)a), item_rel(*(char *const *)b));
}

static int rows_equal(const lb_result_row *a, const lb_result_row *b)
{
    if (strcmp(a->model, b->model) || a->budget != b->budget || strcmp(a->method, b->method)) return 0;
    for (int t = 0; t < LB_N_TASKS; t++)
        if (isnan(a->task[t]) != isnan(b->task[t]) || (!isnan(a->task[t]) && a->task[t] != b->task[t])) return 0;
    return 1;
}

static long ds_points(hid_t f, const char *name)
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    long n = (long)H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp), H5Dclose(d);
    return n;
}

/* summary.h5 against the readable items in r; prints one line per problem, returns their count. */
static int verify_summary(const char *dir, const reduced *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/summary.h5", dir);
    if (!kv_file_exists(path)) {
        printf("verify: %s missing (run `kvbench reduce %s`)\n", path, dir);
        return 1;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        printf("verify: %s: not a readable HDF5 file (run `kvbench reduce %s`)\n", path, dir);
        return 1;
    }
    int bad = 0;
    long np = ds_points(f, "provenance/items/path");
    char **paths = np > 0 ? kv_calloc((size_t)np, sizeof *paths) : NULL;
    if (np < 0 || (np > 0 && h5_read_strs(f, "provenance/items/path", paths, (size_t)np) != KV_OK)) {
        printf("verify: %s: /provenance/items/path missing or unreadable\n", path);
        bad++;
    } else {
        char **mine = kv_calloc((size_t)r->n_items + 1, sizeof *mine);
        for (int i = 0; i < r->n_items; i++) mine[i] = r->paths[i];
        if (np) qsort(paths, (size_t)np, sizeof *paths, cmp_rel);
        if (r->n_items) qsort(mine, (size_t)r->n_items, sizeof *mine, cmp_rel);
        long i = 0, j = 0, only_sum = 0, only_items = 0;
        while (i < np || j < r->n_items) {
            int c = i >= np ? 1 : j >= r->n_items ? -1 : strcmp(item_rel(paths[i]), item_rel(mine[j]));
            if (c < 0) {
                if (only_sum++ < 5) printf("verify: %s lists %s, which is not a readable item file\n", path, paths[i]);
                i++;
            } else if (c > 0) {
                if (only_items++ < 5) printf("verify: item file %s is not in %s\n", mine[j], path);
                j++;
            } else {
                i++, j++;
            }
        }
        if (only_sum + only_items > 10)
            printf("verify: %s: %ld listed item files missing, %ld item files not listed in all\n", path, only_sum, only_items);
        bad += (only_sum > 0) + (only_items > 0);
        free(mine);
    }
    for (long i = 0; i < np && paths; i++) free(paths[i]);
    free(paths);
    long npred = ds_points(f, "predictions/model");
    if (npred != r->n_rows) {
        printf("verify: %s: %ld predictions, the item files give %d\n", path, npred, r->n_rows);
        bad++;
    }
    lb_result_row *sum_rows = NULL, *item_rows = NULL;
    int ns = 0, ni = 0;
    if (reduce_read_table_rows(f, &sum_rows, &ns) != KV_OK) {
        printf("verify: %s: %s\n", path, kv_lasterr());
        bad++;
    } else if (reduce_table_rows(r, &item_rows, &ni) == KV_OK) {
        int diff = ns != ni;
        for (int k = 0; k < ns && !diff; k++) diff = !rows_equal(&sum_rows[k], &item_rows[k]);
        if (diff) {
            printf("verify: %s: its tables (%d rows) differ from the item files' (%d rows)\n", path, ns, ni);
            bad++;
        }
    }
    free(sum_rows), free(item_rows);
    H5Fclose(f);
    return bad;
}

/* Regular files under folder (recursively). */
static int count_files(const char *folder)
{
    DIR *d = opendir(folder);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", folder, e->d_name);
        n += kv_is_dir(p) ? count_files(p) : 1;
    }
    closedir(d);
    return n;
}

int cmd_verify(int argc, char **argv)
{
    const char *dir = NULL;
    const cli_opt opts[] = {{0}};
    const cli_spec spec = {
        .name = "verify",
        .usage = "kvbench verify DIR",
        .about = "Check a result store without changing it: every item file under DIR/items (opens as HDF5,\n"
                 "format, required datasets and attributes, sizes consistent with its samples and variants),\n"
                 "and DIR/summary.h5 against the items (item files listed, prediction count, table rows).\n"
                 "One line per problem; exit 0 when there is none, 1 otherwise. `kvbench run` moves damaged\n"
                 "item files to DIR/quarantine/ and recomputes them; `kvbench reduce` sets them aside.",
        .opts = opts, .positional = &dir,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (!dir) {
        fprintf(stderr, "kvbench: error: no result folder (verify): kvbench verify DIR\n");
        return 2;
    }
    reduced r;
    if (reduce_load_checked(dir, 0, 0, &r) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 2;
    }
    for (int d = 0; d < r.n_damaged; d++) printf("verify: damaged item file %s: %s\n", r.damaged[d].path, r.damaged[d].why);
    int bad = r.n_damaged;
    /* Items set aside earlier (run or reduce) are missing results until a run recomputes them. */
    char q[4096];
    snprintf(q, sizeof q, "%s/quarantine", dir);
    int nq = 0;
    if (kv_is_dir(q)) {
        nq = count_files(q);
        if (nq) {
            printf("verify: %d damaged item file%s set aside in %s (run the sweep again to recompute them)\n", nq,
                   nq == 1 ? "" : "s", q);
            bad++;
        }
    }
    /* With damaged items the summary cannot match the readable ones; say so once instead. */
    if (r.n_damaged == 0) bad += verify_summary(dir, &r);
    else printf("verify: summary.h5 not compared (damaged item files: `kvbench run` recomputes them)\n");
    if (bad)
        printf("verify: %s: %d problem%s (%d damaged item file%s, %d readable)\n", dir, bad, bad == 1 ? "" : "s",
               r.n_damaged, r.n_damaged == 1 ? "" : "s", r.n_items);
    else
        printf("verify: %s: OK (%d item files, %d results, summary.h5 consistent)\n", dir, r.n_items, r.n_rows);
    reduce_free(&r);
    return bad ? 1 : 0;
}
