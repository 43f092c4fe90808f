/* reduce: item files → de-duplicated predictions → task/category/Avg scores → summary.h5,
 * tables.md, scores.csv and SVG plots (see reduce.h for the summary schema). */
#include "harness/sweep/reduce.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"
#include "harness/longbench/longbench.h"
#include "harness/sweep/item_check.h"
#include "harness/sweep/analysis_reduce.h"
#include "harness/sweep/outfile.h"

static int cmp_rows(const void *a, const void *b)
{
    const pred_row *x = a, *y = b;
    int c;
    if ((c = strcmp(x->model, y->model))) return c;
    if ((c = strcmp(x->key, y->key))) return c;
    int tx = lb_task_index(x->task), ty = lb_task_index(y->task);
    if (tx != ty) return tx - ty;
    if ((c = strcmp(x->task, y->task))) return c;
    if (x->sample != y->sample) return x->sample - y->sample;
    return x->item - y->item; /* items are in path order: the first path wins */
}

int reduce_load(const char *dir, int remove_stale, reduced *r) { return reduce_load_checked(dir, remove_stale, 1, r); }

/* Reads and checks every item file of dir into r->items; a damaged one is set aside (item_check.h)
 * and, with quarantine, moved out. *total: the prediction rows of the good items. */
static int load_items(const char *dir, int remove_stale, int quarantine, reduced *r, long *total)
{
    int n_paths = 0;
    store_list_items(dir, remove_stale, &r->paths, &n_paths);
    r->items = kv_calloc(n_paths, sizeof *r->items);
    r->damaged = kv_calloc(n_paths + 1, sizeof *r->damaged);
    *total = 0;
    for (int i = 0; i < n_paths; i++) {
        /* The tables come from the rest, and the damaged file's (model, task) cells are marked
         * incomplete (score_variants). */
        reduce_damage *dm = &r->damaged[r->n_damaged];
        if (item_check(r->paths[i], 1, &r->items[r->n_items], dm->why, sizeof dm->why) != KV_OK) {
            snprintf(dm->path, sizeof dm->path, "%s", r->paths[i]);
            if (item_path_cell(r->paths[i], dm->model, sizeof dm->model, dm->task, sizeof dm->task) != KV_OK)
                dm->model[0] = dm->task[0] = 0;
            if (quarantine &&
                item_quarantine(dir, r->paths[i], dm->why, "its cells are marked incomplete until `run` recomputes it") != KV_OK) {
                for (int j = i; j < n_paths; j++) free(r->paths[j]);
                return KV_ERR;
            }
            r->n_damaged++;
            free(r->paths[i]);
            continue;
        }
        r->paths[r->n_items] = r->paths[i];
        *total += (long)r->items[r->n_items].ns * r->items[r->n_items].nv;
        r->n_items++;
    }
    return KV_OK;
}

/* One row per (item, sample, variant), sorted, then de-duplicated: the first of each (model,
 * variant, task, sample) is kept. */
static void collect_rows(reduced *r, long total)
{
    r->rows = kv_calloc(total, sizeof *r->rows);
    long n = 0;
    for (int i = 0; i < r->n_items; i++) {
        item_record *it = &r->items[i];
        for (int s = 0; s < it->ns; s++)
            for (int v = 0; v < it->nv; v++) {
                pred_row *p = &r->rows[n++];
                p->model = it->prov.model, p->task = it->prov.task, p->key = it->var[v].key, p->var = &it->var[v];
                p->label = it->var[v].label, p->method = it->var[v].method, p->budget = it->var[v].budget;
                p->sample = it->samples[s].index, p->id = it->samples[s].id, p->item = i;
                p->r = &it->res[(size_t)s * it->nv + v];
                p->pred = p->r->prediction;
                p->si = &it->samples[s];
            }
    }
    qsort(r->rows, (size_t)n, sizeof *r->rows, cmp_rows);
    long w = 0;
    for (long i = 0; i < n; i++) {
        if (w > 0) {
            pred_row *q = &r->rows[w - 1], *p = &r->rows[i];
            if (!strcmp(q->model, p->model) && !strcmp(q->key, p->key) && !strcmp(q->task, p->task) &&
                q->sample == p->sample) {
                r->duplicates++;
                continue;
            }
        }
        r->rows[w++] = r->rows[i];
    }
    r->n_rows = (int)w;
}

/* The task scores of one (model, variant) from its rows [a, b) (sorted by task); raw is scratch. */
static void score_tasks(const reduced *r, long a, long b, score_row *sr, double *raw)
{
    for (int t = 0; t < LB_N_TASKS; t++) sr->task[t] = NAN;
    for (long c = a; c < b;) {
        long d = c;
        int nr = 0, nan = 0;
        while (d < b && !strcmp(r->rows[d].task, r->rows[c].task)) {
            raw[nr++] = r->rows[d].r->score;
            nan |= isnan(r->rows[d].r->score);
            d++;
        }
        int t = lb_task_index(r->rows[c].task);
        if (t >= 0) {
            sr->task[t] = nan ? NAN : lb_task_score(raw, nr);
            sr->n_samples[t] = nr;
            sr->longbench = 1;
        }
        c = d;
    }
}

/* Scores per (model, variant). Rows are sorted by model then key, so groups are contiguous. */
static void score_variants(reduced *r)
{
    const long w = r->n_rows;
    r->scores = kv_calloc(r->n_rows ? r->n_rows : 1, sizeof *r->scores);
    double *raw = kv_malloc(sizeof(double) * (size_t)(r->n_rows + 1));
    for (long a = 0; a < w;) {
        long b = a;
        while (b < w && !strcmp(r->rows[b].model, r->rows[a].model) && !strcmp(r->rows[b].key, r->rows[a].key)) b++;
        score_row *sr = &r->scores[r->n_scores++];
        sr->model = r->rows[a].model, sr->var = r->rows[a].var, sr->key = r->rows[a].key, sr->label = r->rows[a].label;
        sr->method = r->rows[a].method, sr->budget = r->rows[a].budget;
        score_tasks(r, a, b, sr, raw);
        /* Incomplete: a damaged item of this model and task was set aside, so the cell's samples
         * are not all there; the cell shows as missing rather than as a score over fewer samples. */
        for (int d = 0; d < r->n_damaged; d++) {
            int t = lb_task_index(r->damaged[d].task);
            if (t >= 0 && !strcmp(r->damaged[d].model, sr->model)) sr->task[t] = NAN, sr->incomplete |= 1u << t, sr->longbench = 1;
        }
        lb_aggregate(sr->task, sr->cat_h, &sr->avg_h);
        a = b;
    }
    free(raw);
}

int reduce_load_checked(const char *dir, int remove_stale, int quarantine, reduced *r)
{
    memset(r, 0, sizeof *r);
    if (!kv_is_dir(dir)) {
        kv_seterr("result folder %s not found", dir);
        return KV_ERR;
    }
    long total;
    if (load_items(dir, remove_stale, quarantine, r, &total) != KV_OK) return KV_ERR;
    collect_rows(r, total);
    score_variants(r);
    return KV_OK;
}

void reduce_free(reduced *r)
{
    for (int i = 0; i < r->n_items; i++) item_record_free(&r->items[i]);
    free(r->items);
    store_paths_free(r->paths, r->n_items);
    free(r->rows);
    free(r->scores);
    free(r->damaged);
    memset(r, 0, sizeof *r);
}

/* Models in sorted order (rows are sorted by model). */
static int model_list(const reduced *r, const char **out)
{
    int n = 0;
    for (int i = 0; i < r->n_scores; i++)
        if (!n || strcmp(out[n - 1], r->scores[i].model)) out[n++] = r->scores[i].model;
    return n;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Distinct budgets > 0 of one model, ascending. */
int reduce_budgets(const reduced *r, const char *mname, int *out)
{
    int n = 0;
    for (int i = 0; i < r->n_scores; i++) {
        if (strcmp(r->scores[i].model, mname) || r->scores[i].budget <= 0) continue;
        int seen = 0;
        for (int j = 0; j < n; j++) seen |= out[j] == r->scores[i].budget;
        if (!seen) out[n++] = r->scores[i].budget;
    }
    qsort(out, (size_t)n, sizeof *out, cmp_int);
    return n;
}

/* qsort_r comparator of score-row indices (ctx: the score rows): method table order, then key. */
static int cmp_score_rank(const void *a, const void *b, void *ctx)
{
    const score_row *base = ctx, *x = &base[*(const int *)a], *y = &base[*(const int *)b];
    int rx = method_rank(x->method), ry = method_rank(y->method);
    if (rx != ry) return rx - ry;
    return strcmp(x->key, y->key);
}

/* Score rows of a model in table order (FullKV, SnapKV, ...), given budget or FullKV. */
static int rows_for(const reduced *r, const char *mname, int budget, int *idx)
{
    int n = 0;
    for (int i = 0; i < r->n_scores; i++)
        if (!strcmp(r->scores[i].model, mname) && (r->scores[i].budget == budget || r->scores[i].budget == 0))
            idx[n++] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_score_rank, r->scores);
    return n;
}

static void hardware_string(const reduced *r, char *buf, size_t n);

int reduce_table_rows(const reduced *r, lb_result_row **out, int *n_out)
{
    char hardware[128];
    hardware_string(r, hardware, sizeof hardware);
    const char **models = kv_calloc(r->n_scores + 1, sizeof *models);
    int *budgets = kv_calloc(r->n_scores + 1, sizeof *budgets), *idx = kv_calloc(r->n_scores + 1, sizeof *idx);
    int cap = 16, n = 0;
    lb_result_row *rows = kv_calloc(cap, sizeof *rows);
    int nm = model_list(r, models);
    for (int m = 0; m < nm; m++) {
        int nb = reduce_budgets(r, models[m], budgets);
        if (nb == 0) budgets[nb++] = 0; /* FullKV only */
        for (int b = 0; b < nb; b++) {
            int k = rows_for(r, models[m], budgets[b], idx);
            for (int j = 0; j < k; j++) {
                const score_row *s = &r->scores[idx[j]];
                if (!s->longbench) continue; /* needle results only: needle.md */
                if (n == cap) rows = kv_realloc(rows, sizeof *rows * (size_t)(cap *= 2));
                lb_result_row *row = &rows[n++];
                lb_result_row_init(row);
                snprintf(row->model, sizeof row->model, "%s", s->model);
                row->budget = budgets[b];
                budget_label(budgets[b], row->budget_label, sizeof row->budget_label, 1);
                snprintf(row->method, sizeof row->method, "%s", s->label);
                snprintf(row->method_name, sizeof row->method_name, "%s", s->method);
                snprintf(row->attention, sizeof row->attention, "kvbench");
                snprintf(row->hardware, sizeof row->hardware, "%s", hardware);
                for (int t = 0; t < LB_N_TASKS; t++) row->task[t] = s->task[t];
                row->incomplete = s->incomplete;
            }
        }
    }
    free(models), free(budgets), free(idx);
    *out = rows;
    *n_out = n;
    return KV_OK;
}

/* ---- summary.h5 -------------------------------------------------------------------------- */

/* The string columns of /tables (lb_result_row's char arrays), for the write and the read. */
#define TABLE_STR_FIELDS(X) X(model) X(method) X(method_name) X(attention) X(hardware)

static int write_table_rows(hid_t f, const lb_result_row *rows, int n)
{
    hid_t g = H5Gcreate2(f, "tables", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char **sv = kv_calloc(n + 1, sizeof *sv);
    int *budget = kv_calloc(n + 1, sizeof *budget), rc = g < 0 ? KV_ERR : KV_OK;
    int *incomplete = kv_calloc(n + 1, sizeof *incomplete);
    double *task = kv_calloc((size_t)n * LB_N_TASKS + 1, sizeof *task);
#define TABLE_WRITE_STR(field)                           \
    for (int i = 0; i < n; i++) sv[i] = rows[i].field;   \
    rc |= h5_write_strs(g, #field, sv, n, 0);
    TABLE_STR_FIELDS(TABLE_WRITE_STR)
    for (int i = 0; i < n; i++) {
        budget[i] = rows[i].budget, incomplete[i] = (int)rows[i].incomplete;
        memcpy(&task[(size_t)i * LB_N_TASKS], rows[i].task, sizeof rows[i].task);
    }
    rc |= h5_write_ints(g, "budget", budget, n, 0);
    rc |= h5_write_ints(g, "incomplete", incomplete, n, 0);
    rc |= h5_write_doubles(g, "task", task, n, LB_N_TASKS);
    free(sv), free(budget), free(incomplete), free(task);
    if (g >= 0) H5Gclose(g);
    return rc ? KV_ERR : KV_OK;
}

int reduce_read_table_rows(hid_t f, lb_result_row **out, int *n_out)
{
    *out = NULL, *n_out = 0;
    if (H5Lexists(f, "tables", H5P_DEFAULT) <= 0) {
        kv_seterr("no /tables group (a summary written by an older kvbench): run `kvbench reduce DIR` again");
        return KV_ERR;
    }
    hid_t g = H5Gopen2(f, "tables", H5P_DEFAULT), d = H5Dopen2(g, "budget", H5P_DEFAULT), sp = H5Dget_space(d);
    int n = (int)H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp), H5Dclose(d);
    lb_result_row *rows = kv_calloc(n + 1, sizeof *rows);
    char **sv = kv_calloc(n + 1, sizeof *sv);
    int *budget = kv_calloc(n + 1, sizeof *budget), *incomplete = kv_calloc(n + 1, sizeof *incomplete);
    double *task = kv_calloc((size_t)n * LB_N_TASKS + 1, sizeof *task);
    int rc = h5_read_ints(g, "budget", budget, n) | h5_read_doubles(g, "task", task, (size_t)n * LB_N_TASKS);
    /* "incomplete" since issue 19's marking; a summary without it has no incomplete cell */
    if (rc == KV_OK && H5Lexists(g, "incomplete", H5P_DEFAULT) > 0) rc = h5_read_ints(g, "incomplete", incomplete, n);
    for (int i = 0; i < n && rc == KV_OK; i++) {
        rows[i].budget = budget[i], rows[i].incomplete = (unsigned)incomplete[i];
        memcpy(rows[i].task, &task[(size_t)i * LB_N_TASKS], sizeof rows[i].task);
    }
#define TABLE_READ_STR(field)                                                                     \
    if (rc == KV_OK && (rc = h5_read_strs(g, #field, sv, n)) == KV_OK)                            \
        for (int i = 0; i < n; i++) {                                                             \
            snprintf(rows[i].field, sizeof rows[i].field, "%s", sv[i]);                           \
            free(sv[i]);                                                                          \
        }
    TABLE_STR_FIELDS(TABLE_READ_STR)
    H5Gclose(g);
    free(sv), free(budget), free(incomplete), free(task);
    if (rc != KV_OK) {
        free(rows);
        kv_seterr("/tables unreadable: %s", kv_lasterr());
        return KV_ERR;
    }
    *out = rows, *n_out = n;
    return KV_OK;
}

/* One row of /scores: a (model, variant) score of one kind (task, category, Avg). */
typedef struct {
    const char *model, *method, *label, *variant, *kind, *name;
    int budget, n_samples, incomplete; /* incomplete: a damaged item feeding the cell was set aside */
    double score;
} score_cell;

static const col_desc score_cols[] = {
    {"model", COL_STR, offsetof(score_cell, model)},     {"budget", COL_INT, offsetof(score_cell, budget)},
    {"method", COL_STR, offsetof(score_cell, method)},   {"label", COL_STR, offsetof(score_cell, label)},
    {"variant", COL_STR, offsetof(score_cell, variant)}, {"kind", COL_STR, offsetof(score_cell, kind)},
    {"name", COL_STR, offsetof(score_cell, name)},       {"score", COL_DBL, offsetof(score_cell, score)},
    {"n_samples", COL_INT, offsetof(score_cell, n_samples)}, {"incomplete", COL_INT, offsetof(score_cell, incomplete)},
};

/* /scores: 16 tasks + 6 categories + Avg per (model, variant). */
static int write_scores(hid_t f, const reduced *r)
{
    int per = LB_N_TASKS + LB_N_CATEGORIES + 1, n = r->n_scores * per, rc = KV_OK;
    score_cell *cells = kv_calloc(n + 1, sizeof *cells);
    for (int i = 0; i < r->n_scores; i++) {
        const score_row *s = &r->scores[i];
        for (int k = 0; k < per; k++) {
            score_cell *c = &cells[i * per + k];
            *c = (score_cell){.model = s->model, .method = s->method, .label = s->label, .variant = s->key,
                              .budget = s->budget};
            if (k < LB_N_TASKS) {
                c->kind = "task", c->name = lb_tasks[k].name, c->score = s->task[k], c->n_samples = s->n_samples[k];
                c->incomplete = (int)(s->incomplete >> k & 1u);
            } else if (k < LB_N_TASKS + LB_N_CATEGORIES) {
                int cat = k - LB_N_TASKS;
                c->kind = "category", c->name = lb_categories[cat];
                c->score = s->cat_h[cat] < 0 ? NAN : s->cat_h[cat] / 100.0;
                for (int t = 0; t < LB_N_TASKS; t++)
                    if (lb_tasks[t].category_index == cat)
                        c->n_samples += s->n_samples[t], c->incomplete |= (int)(s->incomplete >> t & 1u);
            } else {
                c->kind = "avg", c->name = "Avg", c->score = s->avg_h < 0 ? NAN : s->avg_h / 100.0;
                for (int t = 0; t < LB_N_TASKS; t++) c->n_samples += s->n_samples[t];
                c->incomplete = s->incomplete != 0;
            }
        }
    }
    hid_t g = H5Gcreate2(f, "scores", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (size_t c = 0; c < sizeof score_cols / sizeof score_cols[0]; c++)
        rc |= h5_write_col(g, &score_cols[c], cells, sizeof *cells, NULL, n, 0);
    H5Gclose(g);
    free(cells);
    return rc ? KV_ERR : KV_OK;
}

/* /predictions: the row's identity, then every result column (ITEM_RESULT_FIELDS) and every
 * per-sample measurement (ITEM_SAMPLE_FIELDS but index and id, which are sample, sample_id). */
static int write_predictions(hid_t f, const reduced *r)
{
    static const col_desc pred_ids[] = {
        {"model", COL_STR, offsetof(pred_row, model)},   {"task", COL_STR, offsetof(pred_row, task)},
        {"sample", COL_INT, offsetof(pred_row, sample)}, {"sample_id", COL_STR, offsetof(pred_row, id)},
        {"variant", COL_STR, offsetof(pred_row, key)},   {"label", COL_STR, offsetof(pred_row, label)},
        {"method", COL_STR, offsetof(pred_row, method)}, {"budget", COL_INT, offsetof(pred_row, budget)},
        {"item", COL_INT, offsetof(pred_row, item)},
    };
    int n = r->n_rows, rc = KV_OK;
    const pred_row *p = r->rows;
    const void **rres = kv_calloc(n + 1, sizeof(void *)), **rsmp = kv_calloc(n + 1, sizeof(void *));
    for (int i = 0; i < n; i++) rres[i] = p[i].r, rsmp[i] = p[i].si;
    hid_t g = H5Gcreate2(f, "predictions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (size_t c = 0; c < sizeof pred_ids / sizeof pred_ids[0]; c++)
        rc |= h5_write_col(g, &pred_ids[c], p, sizeof *p, NULL, n, 0);
    for (int c = 0; c < item_result_ncols; c++) rc |= h5_write_col(g, &item_result_cols[c], NULL, 0, rres, n, 0);
    for (int c = 0; c < item_sample_ncols; c++)
        if (strcmp(item_sample_cols[c].name, "index") && strcmp(item_sample_cols[c].name, "id"))
            rc |= h5_write_col(g, &item_sample_cols[c], NULL, 0, rsmp, n, 0);
    H5Gclose(g);
    free(rres), free(rsmp);
    return rc ? KV_ERR : KV_OK;
}

/* /variants: ITEM_VARIANT_FIELDS of each distinct key, in first-seen order of the score rows. */
static int write_variants(hid_t f, const reduced *r)
{
    int nvs = 0, rc = KV_OK;
    const void **vrow = kv_calloc(r->n_scores + 1, sizeof(void *));
    for (int i = 0; i < r->n_scores; i++) {
        int seen = 0;
        for (int j = 0; j < nvs; j++) seen |= !strcmp(((const item_variant *)vrow[j])->key, r->scores[i].key);
        if (!seen) vrow[nvs++] = r->scores[i].var;
    }
    hid_t g = H5Gcreate2(f, "variants", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int c = 0; c < item_variant_ncols; c++) rc |= h5_write_col(g, &item_variant_cols[c], NULL, 0, vrow, nvs, 0);
    H5Gclose(g);
    free(vrow);
    return rc ? KV_ERR : KV_OK;
}

/* /provenance: attributes, and /provenance/items: the item file's path, then ITEM_PROV_FIELDS
 * (stop_ids as "2,9"). */
static int write_provenance(hid_t f, const reduced *r, const char *created)
{
    int rc = KV_OK, ni = r->n_items;
    hid_t g = H5Gcreate2(f, "provenance", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= h5_attr_str(g, "format", "kvbench-summary-1");
    rc |= h5_attr_str(g, "created", created);
    rc |= h5_attr_str(g, "engine_rev", store_engine_rev());
    rc |= h5_attr_int(g, "n_items", r->n_items);
    rc |= h5_attr_int(g, "duplicates_dropped", r->duplicates);
    hid_t gi = H5Gcreate2(g, "items", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= h5_write_strs(gi, "path", (const char *const *)r->paths, ni, 0);
    for (int c = 0; c < item_prov_ncols; c++)
        rc |= h5_write_col(gi, &item_prov_cols[c], ni ? &r->items[0].prov : NULL, sizeof *r->items, NULL, ni, 0);
    H5Gclose(gi);
    H5Gclose(g);
    return rc ? KV_ERR : KV_OK;
}

static int write_summary(const char *path, const reduced *r, const lb_result_row *rows, int n_rows)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        kv_seterr("cannot create %s", path);
        return KV_ERR;
    }
    char created[64];
    store_utc_now(created, sizeof created);
    int rc = h5_attr_str(f, "format", "kvbench-summary-1");
    rc |= write_scores(f, r);
    rc |= write_table_rows(f, rows, n_rows);
    rc |= write_predictions(f, r);
    rc |= write_variants(f, r);
    rc |= write_provenance(f, r, created);
    if (H5Fclose(f) < 0) rc = KV_ERR;
    if (rc != KV_OK) kv_seterr("cannot write %s", path);
    return rc ? KV_ERR : KV_OK;
}

/* The hardware column: the distinct devices of the items ("cpu", "cuda: NVIDIA H200", ...). */
static void hardware_string(const reduced *r, char *buf, size_t n)
{
    buf[0] = 0;
    for (int i = 0; i < r->n_items; i++) {
        const char *d = r->items[i].prov.device;
        if (!d || !*d || strstr(buf, d)) continue;
        if (buf[0]) strncat(buf, ", ", n - strlen(buf) - 1);
        strncat(buf, d, n - strlen(buf) - 1);
    }
}

/* Temporaries of the reduced outputs (summary.h5, tables.md, scores.csv, plots) left by a reducer
 * that was killed: only one run or reduce writes a folder at a time, so any that exist are stale. */
static void remove_stale_outputs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4352];
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".tmp.")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static int model_has_longbench(const reduced *r, const char *mname)
{
    for (int i = 0; i < r->n_scores; i++)
        if (r->scores[i].longbench && !strcmp(r->scores[i].model, mname)) return 1;
    return 0;
}

/* needle.md, needle.csv and plots/<model>-needle.svg when the items hold needle results. */
static int write_needle(const char *dir, const reduced *r, const char **models, int nm)
{
    char final[4096], tmp[4200], tmp2[4200], final2[4096];
    if (!reduce_has_needle(r, NULL)) return KV_OK;
    snprintf(final, sizeof final, "%s/needle.md", dir);
    snprintf(final2, sizeof final2, "%s/needle.csv", dir);
    FILE *md = outfile_open(final, tmp, sizeof tmp), *csv = md ? outfile_open(final2, tmp2, sizeof tmp2) : NULL;
    if (!csv) return md ? (outfile_discard(md, tmp), KV_ERR) : KV_ERR;
    if (reduce_needle_tables(r, md, csv) != KV_OK) {
        outfile_discard(md, tmp), outfile_discard(csv, tmp2);
        return KV_ERR;
    }
    if (outfile_commit(md, tmp, final) != KV_OK || outfile_commit(csv, tmp2, final2) != KV_OK) return KV_ERR;
    for (int m = 0; m < nm; m++) {
        if (!reduce_has_needle(r, models[m])) continue;
        snprintf(final, sizeof final, "%s/plots/%s-needle.svg", dir, models[m]);
        FILE *f = outfile_open(final, tmp, sizeof tmp);
        if (!f) return KV_ERR;
        reduce_needle_heatmap(r, models[m], f);
        if (outfile_commit(f, tmp, final) != KV_OK) return KV_ERR;
    }
    return KV_OK;
}

int reduce_write(const char *dir, const reduced *r)
{
    char final[4096], tmp[4200];
    remove_stale_outputs(dir);
    snprintf(final, sizeof final, "%s/plots", dir);
    remove_stale_outputs(final);
    /* Reduce once, render many: these rows are tables.md, scores.csv and summary.h5's /tables. */
    lb_result_row *rows;
    int nr;
    reduce_table_rows(r, &rows, &nr);
    snprintf(final, sizeof final, "%s/summary.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", final, (int)getpid());
    if (write_summary(tmp, r, rows, nr) != KV_OK || rename(tmp, final) != 0) {
        unlink(tmp);
        free(rows);
        return KV_ERR;
    }
    snprintf(final, sizeof final, "%s/tables.md", dir);
    FILE *f = outfile_open(final, tmp, sizeof tmp);
    if (!f) return free(rows), KV_ERR;
    if (lb_tables_write_md(f, rows, nr) != KV_OK) {
        outfile_discard(f, tmp), free(rows);
        return KV_ERR;
    }
    if (outfile_commit(f, tmp, final) != KV_OK) return free(rows), KV_ERR;
    snprintf(final, sizeof final, "%s/scores.csv", dir);
    if (!(f = outfile_open(final, tmp, sizeof tmp))) return free(rows), KV_ERR;
    if (lb_tables_write_csv(f, rows, nr) != KV_OK) {
        outfile_discard(f, tmp), free(rows);
        return KV_ERR;
    }
    free(rows);
    if (outfile_commit(f, tmp, final) != KV_OK) return KV_ERR;
    snprintf(final, sizeof final, "%s/plots", dir);
    if (store_mkdirs(final) != KV_OK) return KV_ERR;
    const char **models = kv_calloc(r->n_scores + 1, sizeof *models);
    int nm = model_list(r, models);
    for (int m = 0; m < nm; m++) {
        if (!model_has_longbench(r, models[m])) continue;
        snprintf(final, sizeof final, "%s/plots/%s.svg", dir, models[m]);
        if (!(f = outfile_open(final, tmp, sizeof tmp))) return free(models), KV_ERR;
        reduce_plot_model(r, models[m], f);
        if (outfile_commit(f, tmp, final) != KV_OK) return free(models), KV_ERR;
    }
    int rc = write_needle(dir, r, models, nm);
    free(models);
    if (rc != KV_OK) return rc;
    return analysis_reduce_write(dir, r); /* recall and kept-set overlap, when the items hold them */
}
