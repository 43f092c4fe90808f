/* cmd_show: `kvbench show DIR [filters] [--format md|csv|json] [--samples]` — read a result
 * store's summary.h5 and print its score tables (longbench.h's writers), or per-sample
 * predictions with --samples, filtered by model, budget, method and task. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/cli/show_extras.h"
#include "harness/cli/options.h"
#include "harness/longbench/longbench.h"
#include "harness/sweep/reduce.h"
#include "harness/sweep/store.h"

typedef struct {
    char **model, **method, **label, **variant, **kind, **name;
    int *budget, *n_samples;
    double *score;
    size_t n;
} score_cols;

typedef struct {
    char **model, **task, **sample_id, **label, **method, **variant, **prediction;
    int *sample, *budget, *n_generated, *prompt_tokens;
    double *score;
    size_t n;
} pred_cols;

static size_t ds_len(hid_t g, const char *name)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return (size_t)-1;
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp), H5Dclose(d);
    return (size_t)n;
}

#define RS(g, col, f, n) (f = kv_calloc((n) + 1, sizeof(char *)), h5_read_strs(g, col, f, n))
#define RI(g, col, f, n) (f = kv_calloc((n) + 1, sizeof(int)), h5_read_ints(g, col, f, n))
#define RD(g, col, f, n) (f = kv_calloc((n) + 1, sizeof(double)), h5_read_doubles(g, col, f, n))

static int load_scores(hid_t f, score_cols *c)
{
    hid_t g = H5Gopen2(f, "scores", H5P_DEFAULT);
    if (g < 0) return KV_ERR;
    size_t n = c->n = ds_len(g, "score");
    int rc = RS(g, "model", c->model, n) | RS(g, "method", c->method, n) | RS(g, "label", c->label, n) |
             RS(g, "variant", c->variant, n) | RS(g, "kind", c->kind, n) | RS(g, "name", c->name, n) |
             RI(g, "budget", c->budget, n) | RI(g, "n_samples", c->n_samples, n) | RD(g, "score", c->score, n);
    H5Gclose(g);
    return rc ? KV_ERR : KV_OK;
}

static int load_preds(hid_t f, pred_cols *c)
{
    hid_t g = H5Gopen2(f, "predictions", H5P_DEFAULT);
    if (g < 0) return KV_ERR;
    size_t n = c->n = ds_len(g, "score");
    int rc = RS(g, "model", c->model, n) | RS(g, "task", c->task, n) | RS(g, "sample_id", c->sample_id, n) |
             RS(g, "label", c->label, n) | RS(g, "method", c->method, n) | RS(g, "variant", c->variant, n) |
             RS(g, "prediction", c->prediction, n) | RI(g, "sample", c->sample, n) | RI(g, "budget", c->budget, n) |
             RI(g, "n_generated", c->n_generated, n) | RI(g, "prompt_tokens", c->prompt_tokens, n) |
             RD(g, "score", c->score, n);
    H5Gclose(g);
    return rc ? KV_ERR : KV_OK;
}

static void free_strs(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

typedef struct {
    const char *model, *method, *task;
    int budget;   /* -1 = any */
} filters;

/* Case-insensitive on the display name ("snapkv" matches "SnapKV") or the row label. */
static int method_match(const char *want, const char *method, const char *label)
{
    return !want || !strcasecmp(want, method) || !strcasecmp(want, label);
}

/* The method filter names a method that keeps everything (FullKV), whose rows have budget 0. */
static int asks_baseline(const char *want)
{
    const method_desc *d = method_find(want);
    return d && !d->compresses;
}

static int keep(const filters *f, const char *mname, const char *method, const char *label, int budget, const char *task)
{
    if (f->model && strcmp(f->model, mname)) return 0;
    if (!method_match(f->method, method, label)) return 0;
    if (f->budget >= 0 && budget != f->budget && budget != 0) return 0;
    if (f->task && task && strcmp(f->task, task)) return 0;
    return 1;
}

static void md_cell(const char *s, int max)
{
    int n = 0;
    for (const char *p = s; *p && n < max; p++, n++) {
        if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '|') fputs("\\|", stdout);
        else putchar(*p);
    }
    if ((int)strlen(s) > max) fputs("...", stdout);
}

static void csv_cell(const char *s)
{
    putchar('"');
    for (const char *p = s; *p; p++) {
        if (*p == '"') putchar('"');
        putchar(*p);
    }
    putchar('"');
}

static int show_samples(const pred_cols *c, const filters *f, const char *fmt)
{
    json_t *arr = !strcmp(fmt, "json") ? json_array() : NULL;
    if (!strcmp(fmt, "md"))
        printf("| model | task | sample | id | method | budget | score | tokens | prediction |\n"
               "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | --- |\n");
    else if (!strcmp(fmt, "csv"))
        printf("model,task,sample,sample_id,method,label,budget,variant,score,n_generated,prompt_tokens,prediction\n");
    for (size_t i = 0; i < c->n; i++) {
        if (!keep(f, c->model[i], c->method[i], c->label[i], c->budget[i], c->task[i])) continue;
        if (f->budget >= 0 && c->budget[i] == 0 && f->method && !asks_baseline(f->method)) continue;
        if (arr) {
            json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:i,s:s,s:f,s:i,s:i,s:s}", "model", c->model[i], "task",
                                  c->task[i], "sample", c->sample[i], "sample_id", c->sample_id[i], "method",
                                  c->method[i], "label", c->label[i], "budget", c->budget[i], "variant", c->variant[i],
                                  "score", isnan(c->score[i]) ? -1.0 : c->score[i], "n_generated", c->n_generated[i],
                                  "prompt_tokens", c->prompt_tokens[i], "prediction", c->prediction[i]);
            json_array_append_new(arr, o);
        } else if (!strcmp(fmt, "md")) {
            char bl[32];
            budget_label(c->budget[i], bl, sizeof bl, 1);
            printf("| %s | %s | %d | %s | %s | %s | %.4f | %d | ", c->model[i], c->task[i], c->sample[i],
                   c->sample_id[i], c->label[i], bl, c->score[i], c->n_generated[i]);
            md_cell(c->prediction[i], 100);
            printf(" |\n");
        } else {
            printf("%s,%s,%d,%s,%s,", c->model[i], c->task[i], c->sample[i], c->sample_id[i], c->method[i]);
            csv_cell(c->label[i]);
            printf(",%d,", c->budget[i]);
            csv_cell(c->variant[i]);
            printf(",%.17g,%d,%d,", c->score[i], c->n_generated[i], c->prompt_tokens[i]);
            csv_cell(c->prediction[i]);
            putchar('\n');
        }
    }
    if (arr) {
        char *s = json_dumps(arr, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
        puts(s);
        free(s);
        json_decref(arr);
    }
    return 0;
}


/* json: one record per stored score (tasks, categories, Avg) of summary.h5's /scores. */
static int show_scores_json(const score_cols *c, const filters *f)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n; i++) {
        const char *task = !strcmp(c->kind[i], "task") ? c->name[i] : NULL;
        if (!keep(f, c->model[i], c->method[i], c->label[i], c->budget[i], task)) continue;
        if (f->task && !task) continue;
        json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:i}", "model", c->model[i], "budget", c->budget[i],
                              "method", c->method[i], "label", c->label[i], "variant", c->variant[i], "kind",
                              c->kind[i], "name", c->name[i], "n_samples", c->n_samples[i]);
        json_object_set_new(o, "score", isnan(c->score[i]) ? json_null() : json_real(c->score[i]));
        json_array_append_new(arr, o);
    }
    char *s = json_dumps(arr, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
    puts(s);
    free(s);
    json_decref(arr);
    return 0;
}

/* md and csv: the rows reduce wrote to tables.md and scores.csv (summary.h5's /tables), filtered;
 * unfiltered, the output is those files byte for byte (hardware line included). */
static int show_tables(hid_t h, const filters *f, const char *fmt)
{
    lb_result_row *rows;
    int n, nr = 0;
    if (reduce_read_table_rows(h, &rows, &n) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 1;
    }
    for (int i = 0; i < n; i++) {
        lb_result_row *row = &rows[i];
        if (f->model && strcmp(f->model, row->model)) continue;
        if (f->budget >= 0 && row->budget != f->budget) continue;
        if (!method_match(f->method, row->method_name, row->method)) continue;
        if (f->task)
            for (int t = 0; t < LB_N_TASKS; t++)
                if (strcmp(f->task, lb_tasks[t].name)) row->task[t] = NAN, row->incomplete &= ~(1u << t);
        rows[nr++] = *row;
    }
    int rc = !strcmp(fmt, "csv") ? lb_tables_write_csv(stdout, rows, nr) : lb_tables_write_md(stdout, rows, nr);
    free(rows);
    return rc == KV_OK ? 0 : 1;
}

/* The format, the store and the task filter: 0, or 2 with one error line. */
static int check_args(const char *fmt, const char *dir, const filters *f)
{
    if (strcmp(fmt, "md") && strcmp(fmt, "csv") && strcmp(fmt, "json")) {
        fprintf(stderr, "kvbench: error: unknown format '%s' (show --format): md, csv or json\n", fmt);
        return 2;
    }
    if (!dir) {
        fprintf(stderr, "kvbench: error: no result store (show): kvbench show DIR\n");
        return 2;
    }
    if (f->task && !lb_task_find(f->task)) {
        fprintf(stderr, "kvbench: error: unknown task '%s' (show --task): a LongBench task name such as %s\n", f->task,
                lb_tasks[0].name);
        return 2;
    }
    return 0;
}

int cmd_show(int argc, char **argv)
{
    const char *dir = NULL, *fmt = "md";
    filters f = {.budget = -1};
    int samples = 0, kept = -1;
    const cli_opt opts[] = {
        {"--model", "M", OPT_STR, &f.model, 0, "only this model"},
        {"--budget", "B", OPT_BUDGET, &f.budget, 0,
         "only this budget: tokens, or a fraction such as 0.25 (FullKV rows appear under every budget)"},
        {"--method", "X", OPT_STR, &f.method, 0, "only this method: case-insensitive display name, row label or id"},
        {"--task", "T", OPT_STR, &f.task, 0, "only this task"},
        {"--samples", NULL, OPT_FLAG, &samples, 0, "per-sample predictions and scores instead of the tables"},
        {"--format", "md|csv|json", OPT_STR, &fmt, 0, "output format (default md)"},
        {"--kept", "SAMPLE", OPT_INT, &kept, 0,
         "an SVG (stdout) of what each method keeps for this sample index: positions x layers, colour = share\n"
         "of heads (needs a run with engine: {store_kept: true}; --model/--task/--budget pick the panels)"},
        {0},
    };
    const cli_spec spec = {
        .name = "show",
        .usage = "kvbench show DIR|SUMMARY.h5 [--model M] [--budget B] [--method X] [--task T] [--samples]\n"
                 "                    [--format md|csv|json]",
        .about = "Print the score tables of a result store (DIR/summary.h5, written by run or reduce): per\n"
                 "model and budget the 16-task table with Avg and the categories (md), the same as CSV, or\n"
                 "JSON records. --samples prints per-sample predictions and scores instead. Filters match\n"
                 "exactly (method: case-insensitive display name, row label or id such as snapkv); FullKV\n"
                 "rows appear under every budget.",
        .opts = opts, .positional = &dir,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (check_args(fmt, dir, &f)) return 2;
    if (kept >= 0) return show_kept(dir, f.model, f.task, f.budget, kept);
    char path[4096];
    if (kv_is_dir(dir)) snprintf(path, sizeof path, "%s/summary.h5", dir);
    else snprintf(path, sizeof path, "%s", dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t h = kv_file_exists(path) ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (h < 0) {
        fprintf(stderr, "kvbench: error: no readable summary store %s (show): run `kvbench reduce %s` first\n", path, dir);
        return 1;
    }
    int rc;
    if (samples) {
        pred_cols c = {0};
        if (load_preds(h, &c) != KV_OK) {
            fprintf(stderr, "kvbench: error: %s: /predictions unreadable: %s\n", path, kv_lasterr());
            H5Fclose(h);
            return 1;
        }
        rc = show_samples(&c, &f, fmt);
        free_strs(c.model, c.n), free_strs(c.task, c.n), free_strs(c.sample_id, c.n), free_strs(c.label, c.n);
        free_strs(c.method, c.n), free_strs(c.variant, c.n), free_strs(c.prediction, c.n);
        free(c.sample), free(c.budget), free(c.n_generated), free(c.prompt_tokens), free(c.score);
    } else if (strcmp(fmt, "json")) {
        rc = show_tables(h, &f, fmt);
        if (rc == 0 && !f.task) show_recall(dir, f.model, f.budget, fmt); /* recall.csv: issue 18 */
    } else {
        score_cols c = {0};
        if (load_scores(h, &c) != KV_OK) {
            fprintf(stderr, "kvbench: error: %s: /scores unreadable: %s\n", path, kv_lasterr());
            H5Fclose(h);
            return 1;
        }
        rc = show_scores_json(&c, &f);
        free_strs(c.model, c.n), free_strs(c.method, c.n), free_strs(c.label, c.n), free_strs(c.variant, c.n);
        free_strs(c.kind, c.n), free_strs(c.name, c.n);
        free(c.budget), free(c.n_samples), free(c.score);
    }
    H5Fclose(h);
    return rc;
}
