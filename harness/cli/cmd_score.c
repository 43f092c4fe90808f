/* cmd_score: `kvbench score` — re-score LongBench prediction files (the LongBench /
 * KVCache-Factory format: one {"pred", "answers", "all_classes", "length"} object per line)
 * exactly as their eval.py does, one file or a whole KVCache-Factory results folder
 * (DIR/<task>/<Method>.json) into results.csv and the seed's markdown tables. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/cli/options.h"
#include "harness/longbench/longbench.h"
#include "harness/longbench/json.h"

typedef struct {
    char **pred;
    char ***answers;
    int *n_answers;
    char **classes; /* the last line's all_classes, NULL if null */
    int n_classes;
    int n;
} pred_file;

static void pred_file_free(pred_file *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->pred[i]);
        lbj_strings_free(p->answers[i], p->n_answers[i]);
    }
    free(p->pred);
    free(p->answers);
    free(p->n_answers);
    lbj_strings_free(p->classes, p->n_classes);
    memset(p, 0, sizeof *p);
}

/* Reads every line; errors are "PATH:LINE: what" in kv_lasterr(). */
static int pred_file_load(const char *path, pred_file *p)
{
    memset(p, 0, sizeof *p);
    FILE *f = fopen(path, "r");
    if (!f) {
        kv_seterr("%s: cannot open: %s", path, strerror(errno));
        return KV_ERR;
    }
    char *buf = NULL;
    size_t cap = 0;
    long line = 0;
    int n_cap = 0, rc;
    json_t *o;
    while ((rc = lbj_next_object(f, path, &line, &buf, &cap, &o)) == 1) {
        json_t *pv = json_object_get(o, "pred"), *av = json_object_get(o, "answers");
        json_t *cv = json_object_get(o, "all_classes");
        const char *why = NULL;
        if (!pv || !json_is_string(pv)) why = pv ? "field \"pred\" must be a string" : "field \"pred\" is missing";
        else if (!av) why = "field \"answers\" is missing";
        if (!why && p->n == n_cap) {
            n_cap = n_cap ? 2 * n_cap : 64;
            p->pred = kv_realloc(p->pred, (size_t)n_cap * sizeof *p->pred);
            p->answers = kv_realloc(p->answers, (size_t)n_cap * sizeof *p->answers);
            p->n_answers = kv_realloc(p->n_answers, (size_t)n_cap * sizeof *p->n_answers);
        }
        const char *lwhy;
        int have_answers = 0;
        if (!why) {
            if (lbj_strings(av, &p->answers[p->n], &p->n_answers[p->n], &lwhy))
                why = "field \"answers\" must be a list of strings";
            else
                have_answers = 1;
        }
        char **cls = NULL;
        int ncls = 0;
        if (!why && cv && !json_is_null(cv) && lbj_strings(cv, &cls, &ncls, &lwhy))
            why = "field \"all_classes\" must be null or a list of strings";
        if (why) {
            if (have_answers) lbj_strings_free(p->answers[p->n], p->n_answers[p->n]);
            kv_seterr("%s:%ld: %s; expected {\"pred\": str, \"answers\": [str], \"all_classes\": null|[str], "
                      "\"length\": int}", path, line, why);
            json_decref(o);
            rc = KV_ERR;
            break;
        }
        p->pred[p->n] = kv_strdup(json_string_value(pv));
        p->n++;
        /* eval.py: all_classes = data["all_classes"] on every line, the last one is used */
        lbj_strings_free(p->classes, p->n_classes);
        p->classes = cls;
        p->n_classes = ncls;
        json_decref(o);
    }
    free(buf);
    fclose(f);
    if (rc == KV_ERR) {
        pred_file_free(p);
        return KV_ERR;
    }
    if (p->n == 0) {
        kv_seterr("%s: no predictions (the reference divides by their count)", path);
        return KV_ERR;
    }
    return KV_OK;
}

/* Raw per-sample scores (malloc'd) of a loaded file. */
static int pred_file_score(const lb_task *t, const pred_file *p, const char *path, double **raw)
{
    double *r = kv_malloc((size_t)p->n * sizeof *r);
    for (int i = 0; i < p->n; i++) {
        if (lb_score_sample(t, p->pred[i], (const char *const *)p->answers[i], p->n_answers[i],
                            (const char *const *)p->classes, p->n_classes, &r[i])) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s: sample %d: %s", path, i, kv_lasterr());
            kv_seterr("%s", msg);
            free(r);
            return KV_ERR;
        }
    }
    *raw = r;
    return KV_OK;
}

static int score_file(const char *task, const char *path, int per_sample)
{
    const lb_task *t = lb_task_find(task);
    if (!t) {
        fprintf(stderr, "kvbench: error: unknown task '%s' (--task): expected one of the 16 English tasks", task);
        for (int i = 0; i < LB_N_TASKS; i++) fprintf(stderr, "%s%s", i ? ", " : " ", lb_tasks[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    pred_file p;
    double *raw;
    if (pred_file_load(path, &p) || pred_file_score(t, &p, path, &raw)) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        pred_file_free(&p);
        return 1;
    }
    if (per_sample)
        for (int i = 0; i < p.n; i++) printf("%.17g\n", raw[i]);
    printf("%.2f\n", lb_task_score(raw, p.n));
    free(raw);
    pred_file_free(&p);
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Default model and budget from a KVCache-Factory folder name "<model>_<budget>". */
static void guess_header(const char *dir, char *model_name, size_t nm, int *budget)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/') tmp[--l] = 0;
    const char *base = strrchr(tmp, '/');
    base = base ? base + 1 : tmp;
    snprintf(model_name, nm, "%s", base);
    char *us = strrchr(model_name, '_');
    if (us && us[1] && strspn(us + 1, "0123456789") == strlen(us + 1)) {
        *budget = atoi(us + 1);
        *us = 0;
    }
}

/* The rows of a results folder: one per method, its header from the folder (or the options). */
typedef struct {
    lb_result_row *rows;
    int n_rows, n_files;
    const lb_result_row *proto; /* model, budget, attention, hardware of every row */
} score_rows;

/* The sorted names of the *.json files of tdir (the caller frees each and the array); -1 if no folder. */
static int list_json(const char *tdir, char ***out)
{
    DIR *d = opendir(tdir);
    if (!d) return -1;
    char **names = NULL;
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".json")) continue;
        names = kv_realloc(names, (size_t)(nn + 1) * sizeof *names);
        names[nn++] = kv_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, name_cmp);
    *out = names;
    return nn;
}

/* The row of `method`, added (from the proto) on first sight. */
static lb_result_row *method_row(score_rows *sr, const char *method)
{
    int r = 0;
    while (r < sr->n_rows && strcmp(sr->rows[r].method, method)) r++;
    if (r == sr->n_rows) {
        sr->rows = kv_realloc(sr->rows, (size_t)(sr->n_rows + 1) * sizeof *sr->rows);
        lb_result_row *row = &sr->rows[r];
        lb_result_row_init(row);
        snprintf(row->model, sizeof row->model, "%s", sr->proto->model);
        row->budget = sr->proto->budget;
        snprintf(row->method, sizeof row->method, "%s", method);
        snprintf(row->attention, sizeof row->attention, "%s", sr->proto->attention);
        snprintf(row->hardware, sizeof row->hardware, "%s", sr->proto->hardware);
        sr->n_rows++;
    }
    return &sr->rows[r];
}

/* Scores every DIR/<task>/<Method>.json of task t into its method's row; 1 with an error printed. */
static int score_task_dir(score_rows *sr, const char *dir, int t)
{
    char tdir[4096];
    snprintf(tdir, sizeof tdir, "%s/%s", dir, lb_tasks[t].name);
    char **names;
    int nn = list_json(tdir, &names);
    for (int i = 0; i < nn; i++) {
        char path[8192], method[64];
        snprintf(path, sizeof path, "%s/%s", tdir, names[i]);
        snprintf(method, sizeof method, "%.*s", (int)(strlen(names[i]) - 5), names[i]);
        pred_file p;
        double *raw;
        if (pred_file_load(path, &p) || pred_file_score(&lb_tasks[t], &p, path, &raw)) {
            fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
            pred_file_free(&p);
            for (int k = i; k < nn; k++) free(names[k]);
            free(names);
            return 1;
        }
        method_row(sr, method)->task[t] = lb_task_score(raw, p.n);
        sr->n_files++;
        free(raw);
        pred_file_free(&p);
        free(names[i]);
    }
    if (nn >= 0) free(names);
    return 0;
}

/* Says which folders of dir were not scored, so a typo is visible. */
static void warn_unscored(const char *dir)
{
    DIR *top = opendir(dir);
    struct dirent *te;
    while (top && (te = readdir(top))) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, te->d_name);
        if (te->d_name[0] != '.' && lb_task_index(te->d_name) < 0 && kv_is_dir(sub))
            fprintf(stderr, "score: skipping %s (not one of the 16 English LongBench tasks)\n", sub);
    }
    if (top) closedir(top);
}

/* DIR/results.csv and DIR/results.md, the table also on stdout; returns the exit status. */
static int write_tables(const char *dir, const score_rows *sr)
{
    char csv[4096], md[4096];
    snprintf(csv, sizeof csv, "%s/results.csv", dir);
    snprintf(md, sizeof md, "%s/results.md", dir);
    FILE *fc = fopen(csv, "w"), *fm = fopen(md, "w");
    int rc = 0;
    if (!fc || !fm) {
        fprintf(stderr, "kvbench: error: cannot write (%s): %s\n", !fc ? csv : md, strerror(errno));
        rc = 1;
    } else if (lb_tables_write_csv(fc, sr->rows, sr->n_rows) || lb_tables_write_md(fm, sr->rows, sr->n_rows) ||
               lb_tables_write_md(stdout, sr->rows, sr->n_rows)) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        rc = 1;
    }
    if (fc && fclose(fc)) rc = 1;
    if (fm && fclose(fm)) rc = 1;
    if (!rc) fprintf(stderr, "score: %d files, %d methods → %s, %s\n", sr->n_files, sr->n_rows, csv, md);
    return rc;
}

static int score_results(const char *dir, const char *model_name, int budget, const char *attention, const char *hardware)
{
    char gmodel[256] = "";
    int gbudget = 0;
    guess_header(dir, gmodel, sizeof gmodel, &gbudget);
    if (!model_name) model_name = gmodel;
    if (budget < 0) budget = gbudget;
    if (!kv_is_dir(dir)) {
        fprintf(stderr, "kvbench: error: not a folder (%s): expected a KVCache-Factory results folder DIR/<task>/<Method>.json\n", dir);
        return 2;
    }
    lb_result_row proto;
    lb_result_row_init(&proto);
    snprintf(proto.model, sizeof proto.model, "%s", model_name);
    proto.budget = budget;
    snprintf(proto.attention, sizeof proto.attention, "%s", attention);
    snprintf(proto.hardware, sizeof proto.hardware, "%s", hardware);
    score_rows sr = {.proto = &proto};
    for (int t = 0; t < LB_N_TASKS; t++)
        if (score_task_dir(&sr, dir, t)) {
            free(sr.rows);
            return 1;
        }
    warn_unscored(dir);
    if (!sr.n_files) {
        fprintf(stderr, "kvbench: error: no prediction files (%s): expected DIR/<task>/<Method>.json for the 16 tasks\n", dir);
        free(sr.rows);
        return 1;
    }
    int rc = write_tables(dir, &sr);
    free(sr.rows);
    return rc;
}

int cmd_score(int argc, char **argv)
{
    const char *task = NULL, *file = NULL, *results = NULL, *model_name = NULL, *attention = "", *hardware = "";
    int per_sample = 0, budget = -1;
    const cli_opt opts[] = {
        {"--task", "TASK", OPT_STR, &task, 0, "one of the 16 English tasks (narrativeqa ... repobench-p)"},
        {"--per-sample", NULL, OPT_FLAG, &per_sample, 0, "print each sample's score (max over answers, %.17g) first, one per line"},
        {"--results", "DIR", OPT_STR, &results, 0, "a KVCache-Factory results folder: DIR/<task>/<Method>.json; writes\n"
                                                  "DIR/results.csv and DIR/results.md and prints the markdown"},
        {"--model", "NAME", OPT_STR, &model_name, 0, "table header; default from DIR's name <model>_<budget>"},
        {"--budget", "N", OPT_INT, &budget, 0, "table header; default from DIR's name <model>_<budget>"},
        {"--attention", "TEXT", OPT_STR, &attention, 0, "table header string (default empty)"},
        {"--hardware", "TEXT", OPT_STR, &hardware, 0, "table header string (default empty)"},
        {0},
    };
    const cli_spec spec = {
        .name = "score",
        .usage = "kvbench score --task TASK FILE.jsonl [--per-sample]\n"
                 "       kvbench score --results DIR [--model NAME] [--budget N] [--attention TEXT] [--hardware TEXT]",
        .about = "Scores LongBench predictions exactly as LongBench's / KVCache-Factory's eval.py.\n"
                 "FILE.jsonl has one {\"pred\", \"answers\", \"all_classes\", \"length\"} object per line\n"
                 "(like eval.py, the last line's all_classes is used for every sample).",
        .opts = opts, .positional = &file, .positional_what = "expected one FILE.jsonl",
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (results) {
        if (task || file) {
            fprintf(stderr, "kvbench: error: --results takes no --task or FILE (score): use one form\n");
            return 2;
        }
        return score_results(results, model_name, budget, attention, hardware);
    }
    if (!task || !file) {
        fprintf(stderr, "kvbench: error: missing %s (score): expected --task TASK FILE.jsonl or --results DIR\n",
                !task ? "--task" : "FILE.jsonl");
        return 2;
    }
    return score_file(task, file, per_sample);
}
