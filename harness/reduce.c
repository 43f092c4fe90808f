/* reduce: item files → de-duplicated predictions → task/category/Avg scores → summary.h5,
 * tables.md, scores.csv and SVG plots (see reduce.h for the summary schema). */
#include "harness/reduce.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/util.h"
#include "harness/longbench.h"

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

int reduce_load(const char *dir, int remove_stale, reduced *r)
{
    memset(r, 0, sizeof *r);
    if (!kv_is_dir(dir)) {
        kv_seterr("result folder %s not found", dir);
        return KV_ERR;
    }
    store_list_items(dir, remove_stale, &r->paths, &r->n_items);
    r->items = kv_calloc(r->n_items, sizeof *r->items);
    long total = 0;
    for (int i = 0; i < r->n_items; i++) {
        if (store_read_item(r->paths[i], &r->items[i]) != KV_OK) return KV_ERR;
        total += (long)r->items[i].ns * r->items[i].nv;
    }
    r->rows = kv_calloc(total, sizeof *r->rows);
    long n = 0;
    for (int i = 0; i < r->n_items; i++) {
        item_record *it = &r->items[i];
        for (int s = 0; s < it->ns; s++)
            for (int v = 0; v < it->nv; v++) {
                pred_row *p = &r->rows[n++];
                p->model = it->prov.model, p->task = it->prov.task, p->key = it->var_key[v];
                p->label = it->var_label[v], p->method = it->var_method[v], p->budget = it->var_budget[v];
                p->sample = it->samples[s].index, p->id = it->samples[s].id, p->item = i;
                p->r = &it->res[(size_t)s * it->nv + v];
                p->pred = p->r->prediction;
                p->si = &it->samples[s];
            }
    }
    qsort(r->rows, (size_t)n, sizeof *r->rows, cmp_rows);
    /* De-duplicate: keep the first of each (model, variant, task, sample). */
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
    /* Scores per (model, variant). Rows are sorted by model then key, so groups are contiguous. */
    r->scores = kv_calloc(r->n_rows ? r->n_rows : 1, sizeof *r->scores);
    double *raw = kv_malloc(sizeof(double) * (size_t)(r->n_rows + 1));
    for (long a = 0; a < w;) {
        long b = a;
        while (b < w && !strcmp(r->rows[b].model, r->rows[a].model) && !strcmp(r->rows[b].key, r->rows[a].key)) b++;
        score_row *sr = &r->scores[r->n_scores++];
        sr->model = r->rows[a].model, sr->key = r->rows[a].key, sr->label = r->rows[a].label;
        sr->method = r->rows[a].method, sr->budget = r->rows[a].budget;
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
            }
            c = d;
        }
        lb_aggregate(sr->task, sr->cat_h, &sr->avg_h);
        a = b;
    }
    free(raw);
    return KV_OK;
}

void reduce_free(reduced *r)
{
    for (int i = 0; i < r->n_items; i++) item_record_free(&r->items[i]);
    free(r->items);
    store_paths_free(r->paths, r->n_items);
    free(r->rows);
    free(r->scores);
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
static int budget_list(const reduced *r, const char *mname, int *out)
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

static const score_row *sort_scores_base;
static int cmp_score_rank(const void *a, const void *b)
{
    const score_row *x = &sort_scores_base[*(const int *)a], *y = &sort_scores_base[*(const int *)b];
    int rx = lb_method_rank(x->method), ry = lb_method_rank(y->method);
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
    sort_scores_base = r->scores;
    qsort(idx, (size_t)n, sizeof *idx, cmp_score_rank);
    return n;
}

int reduce_table_rows(const reduced *r, const char *hardware, lb_result_row **out, int *n_out)
{
    const char **models = kv_calloc(r->n_scores + 1, sizeof *models);
    int *budgets = kv_calloc(r->n_scores + 1, sizeof *budgets), *idx = kv_calloc(r->n_scores + 1, sizeof *idx);
    int cap = 16, n = 0;
    lb_result_row *rows = kv_calloc(cap, sizeof *rows);
    int nm = model_list(r, models);
    for (int m = 0; m < nm; m++) {
        int nb = budget_list(r, models[m], budgets);
        if (nb == 0) budgets[nb++] = 0; /* FullKV only */
        for (int b = 0; b < nb; b++) {
            int k = rows_for(r, models[m], budgets[b], idx);
            for (int j = 0; j < k; j++) {
                const score_row *s = &r->scores[idx[j]];
                if (n == cap) rows = kv_realloc(rows, sizeof *rows * (size_t)(cap *= 2));
                lb_result_row *row = &rows[n++];
                lb_result_row_init(row);
                snprintf(row->model, sizeof row->model, "%s", s->model);
                row->budget = budgets[b];
                budget_label(budgets[b], row->budget_label, sizeof row->budget_label, 1);
                snprintf(row->method, sizeof row->method, "%s", s->label);
                snprintf(row->attention, sizeof row->attention, "kvbench");
                snprintf(row->hardware, sizeof row->hardware, "%s", hardware ? hardware : "");
                for (int t = 0; t < LB_N_TASKS; t++) row->task[t] = s->task[t];
            }
        }
    }
    free(models), free(budgets), free(idx);
    *out = rows;
    *n_out = n;
    return KV_OK;
}

/* ---- SVG --------------------------------------------------------------------------------- */

static const char *const plot_colors[] = {"#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
                                          "#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22"};

static void svg_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* Value of panel p (0 = Avg, 1..6 = categories) for a score row, NAN when missing. */
static double panel_value(const score_row *s, int p)
{
    long long h = p == 0 ? s->avg_h : s->cat_h[p - 1];
    return h < 0 ? NAN : h / 100.0;
}

int reduce_plot_model(const reduced *r, const char *mname, FILE *f)
{
    int *budgets = kv_calloc(r->n_scores + 1, sizeof(int));
    int nb = budget_list(r, mname, budgets);
    /* Distinct labels of the mname in table order; FullKV drawn as a reference line. */
    const char *labels[32];
    const char *methods[32];
    int nl = 0;
    for (int i = 0; i < r->n_scores && nl < 32; i++) {
        const score_row *s = &r->scores[i];
        if (strcmp(s->model, mname)) continue;
        int seen = 0;
        for (int j = 0; j < nl; j++) seen |= !strcmp(labels[j], s->label);
        if (!seen) labels[nl] = s->label, methods[nl] = s->method, nl++;
    }
    /* Order the legend like the tables. */
    for (int i = 1; i < nl; i++)
        for (int j = i; j > 0 && lb_method_rank(methods[j]) < lb_method_rank(methods[j - 1]); j--) {
            const char *t = labels[j];
            labels[j] = labels[j - 1], labels[j - 1] = t;
            t = methods[j];
            methods[j] = methods[j - 1], methods[j - 1] = t;
        }
    const int pw = 300, ph = 220, cols = 4, rows = 2, ml = 45, mr = 10, mt = 30, mb = 35;
    int W = cols * pw, H = rows * ph + 40 + 20 * ((nl + 3) / 4);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"20\" "
               "text-anchor=\"middle\" font-size=\"15\">", W / 2);
    svg_escape(f, mname);
    fprintf(f, ": LongBench score vs KV budget</text>\n");
    for (int p = 0; p < 7; p++) {
        int ox = (p % cols) * pw, oy = 30 + (p / cols) * ph;
        int x0 = ox + ml, x1 = ox + pw - mr, y0 = oy + ph - mb, y1 = oy + mt;
        /* y range from the data of this panel, padded, in whole multiples of 5. */
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < r->n_scores; i++) {
            if (strcmp(r->scores[i].model, mname)) continue;
            double v = panel_value(&r->scores[i], p);
            if (isnan(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (!isfinite(lo)) lo = 0, hi = 100;
        lo = floor(lo / 5) * 5 - 5 < 0 ? 0 : floor(lo / 5) * 5 - 5;
        hi = ceil(hi / 5) * 5 + 5 > 100 ? 100 : ceil(hi / 5) * 5 + 5;
        if (hi <= lo) hi = lo + 5;
        fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
                (x0 + x1) / 2, y1 - 8, p == 0 ? "Avg" : lb_categories[p - 1]);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", x0, y1,
                x1 - x0, y0 - y1);
#define XPOS(b) (nb > 1 ? x0 + 10 + (double)(b) * (x1 - x0 - 20) / (nb - 1) : (x0 + x1) / 2.0)
#define YPOS(v) (y0 - ((v) - lo) / (hi - lo) * (y0 - y1))
        double step = 5 * fmax(1, round((hi - lo) / 20));
        for (double v = lo; v <= hi + 1e-9; v += step) {
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                       "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
                    x0, YPOS(v), x1, YPOS(v), x0 - 4, YPOS(v) + 4, v);
        }
        for (int b = 0; b < nb; b++) {
            char bl[32];
            budget_label(budgets[b], bl, sizeof bl, 1);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", XPOS(b), y0 + 14, bl);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">KV budget</text>\n", (x0 + x1) / 2,
                y0 + 28);
        for (int l = 0; l < nl; l++) {
            const char *color = plot_colors[l % 10];
            for (int i = 0; i < r->n_scores; i++) {
                const score_row *s = &r->scores[i];
                if (strcmp(s->model, mname) || strcmp(s->label, labels[l])) continue;
                if (s->budget == 0) {
                    double v = panel_value(s, p);
                    if (!isnan(v))
                        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                                   "stroke-dasharray=\"6,4\" stroke-width=\"1.5\"/>\n",
                                x0, YPOS(v), x1, YPOS(v), color);
                }
            }
            /* One polyline over the budgets for non-FullKV labels. */
            int started = 0;
            for (int b = 0; b < nb; b++)
                for (int i = 0; i < r->n_scores; i++) {
                    const score_row *s = &r->scores[i];
                    if (strcmp(s->model, mname) || strcmp(s->label, labels[l]) || s->budget != budgets[b]) continue;
                    double v = panel_value(s, p);
                    if (isnan(v)) continue;
                    if (!started) fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
                    fprintf(f, "%s%.1f,%.1f", started ? " " : "", XPOS(b), YPOS(v));
                    started = 1;
                }
            if (started) fprintf(f, "\"/>\n");
            for (int b = 0; b < nb; b++)
                for (int i = 0; i < r->n_scores; i++) {
                    const score_row *s = &r->scores[i];
                    if (strcmp(s->model, mname) || strcmp(s->label, labels[l]) || s->budget != budgets[b]) continue;
                    double v = panel_value(s, p);
                    if (!isnan(v))
                        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", XPOS(b), YPOS(v), color);
                }
        }
        fprintf(f, "</g>\n");
#undef XPOS
#undef YPOS
    }
    /* Legend in the 8th panel slot and below. */
    int lx = 3 * pw + 20, ly = 30 + ph + 40;
    for (int l = 0; l < nl; l++) {
        int full = !strcmp(methods[l], "FullKV");
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                   "<text x=\"%d\" y=\"%d\">",
                lx, ly + 18 * l, lx + 24, ly + 18 * l, plot_colors[l % 10], full ? " stroke-dasharray=\"6,4\"" : "",
                lx + 30, ly + 18 * l + 4);
        svg_escape(f, labels[l]);
        fprintf(f, "%s</text>\n", full ? " (reference)" : "");
    }
    fprintf(f, "</svg>\n");
    free(budgets);
    return ferror(f) ? KV_ERR : KV_OK;
}

/* ---- summary.h5 -------------------------------------------------------------------------- */

static int write_summary(const char *path, const reduced *r)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        kv_seterr("cannot create %s", path);
        return KV_ERR;
    }
    int rc = KV_OK;
    char created[64];
    store_utc_now(created, sizeof created);
    rc |= h5_attr_str(f, "format", "kvbench-summary-1");
    /* Scores: 16 tasks + 6 categories + Avg per (model, variant). */
    int per = LB_N_TASKS + LB_N_CATEGORIES + 1, ns = r->n_scores * per;
    const char **mcol = kv_calloc(ns + 1, sizeof(char *)), **method = kv_calloc(ns + 1, sizeof(char *));
    const char **label = kv_calloc(ns + 1, sizeof(char *)), **var = kv_calloc(ns + 1, sizeof(char *));
    const char **kind = kv_calloc(ns + 1, sizeof(char *)), **name = kv_calloc(ns + 1, sizeof(char *));
    int *budget = kv_calloc(ns + 1, sizeof(int)), *nsamp = kv_calloc(ns + 1, sizeof(int));
    double *score = kv_calloc(ns + 1, sizeof(double));
    for (int i = 0; i < r->n_scores; i++) {
        const score_row *s = &r->scores[i];
        for (int k = 0; k < per; k++) {
            int j = i * per + k;
            mcol[j] = s->model, method[j] = s->method, label[j] = s->label, var[j] = s->key, budget[j] = s->budget;
            if (k < LB_N_TASKS) {
                kind[j] = "task", name[j] = lb_tasks[k].name, score[j] = s->task[k], nsamp[j] = s->n_samples[k];
            } else if (k < LB_N_TASKS + LB_N_CATEGORIES) {
                int c = k - LB_N_TASKS;
                kind[j] = "category", name[j] = lb_categories[c];
                score[j] = s->cat_h[c] < 0 ? NAN : s->cat_h[c] / 100.0;
                for (int t = 0; t < LB_N_TASKS; t++)
                    if (lb_tasks[t].category_index == c) nsamp[j] += s->n_samples[t];
            } else {
                kind[j] = "avg", name[j] = "Avg", score[j] = s->avg_h < 0 ? NAN : s->avg_h / 100.0;
                for (int t = 0; t < LB_N_TASKS; t++) nsamp[j] += s->n_samples[t];
            }
        }
    }
    hid_t g = H5Gcreate2(f, "scores", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= h5_write_strs(g, "model", mcol, ns, 0);
    rc |= h5_write_ints(g, "budget", budget, ns, 0);
    rc |= h5_write_strs(g, "method", method, ns, 0);
    rc |= h5_write_strs(g, "label", label, ns, 0);
    rc |= h5_write_strs(g, "variant", var, ns, 0);
    rc |= h5_write_strs(g, "kind", kind, ns, 0);
    rc |= h5_write_strs(g, "name", name, ns, 0);
    rc |= h5_write_doubles(g, "score", score, ns, 0);
    rc |= h5_write_ints(g, "n_samples", nsamp, ns, 0);
    H5Gclose(g);
    free(mcol), free(method), free(label), free(var), free(kind), free(name), free(budget), free(nsamp), free(score);

    /* Predictions. */
    int n = r->n_rows;
    const char **s1 = kv_calloc(n + 1, sizeof(char *));
    int *iv = kv_calloc(n + 1, sizeof(int));
    double *dv = kv_calloc(n + 1, sizeof(double));
    g = H5Gcreate2(f, "predictions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
#define PS(col, expr) do { for (int i = 0; i < n; i++) s1[i] = (expr); rc |= h5_write_strs(g, col, s1, n, 0); } while (0)
#define PI(col, expr) do { for (int i = 0; i < n; i++) iv[i] = (expr); rc |= h5_write_ints(g, col, iv, n, 0); } while (0)
#define PD(col, expr) do { for (int i = 0; i < n; i++) dv[i] = (expr); rc |= h5_write_doubles(g, col, dv, n, 0); } while (0)
    const pred_row *p = r->rows;
    PS("model", p[i].model);
    PS("task", p[i].task);
    PI("sample", p[i].sample);
    PS("sample_id", p[i].id);
    PS("variant", p[i].key);
    PS("label", p[i].label);
    PS("method", p[i].method);
    PI("budget", p[i].budget);
    PS("prediction", p[i].pred);
    PD("score", p[i].r->score);
    PI("n_generated", p[i].r->n_generated);
    PI("stopped", p[i].r->stopped);
    PD("kept_mean", p[i].r->kept_mean);
    PI("kept_min", p[i].r->kept_min);
    PI("kept_max", p[i].r->kept_max);
    PI("kept_expected", p[i].r->kept_expected);
    PI("prompt_tokens_raw", p[i].si->prompt_tokens_raw);
    PI("prompt_tokens", p[i].si->prompt_tokens);
    PI("item", p[i].item);
    H5Gclose(g);
    free(s1), free(iv), free(dv);

    /* Variants. */
    g = H5Gcreate2(f, "variants", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    {
        int nvs = 0;
        const char **k = kv_calloc(r->n_scores + 1, sizeof(char *)), **l = kv_calloc(r->n_scores + 1, sizeof(char *));
        const char **m = kv_calloc(r->n_scores + 1, sizeof(char *));
        int *b = kv_calloc(r->n_scores + 1, sizeof(int));
        for (int i = 0; i < r->n_scores; i++) {
            int seen = 0;
            for (int j = 0; j < nvs; j++) seen |= !strcmp(k[j], r->scores[i].key);
            if (seen) continue;
            k[nvs] = r->scores[i].key, l[nvs] = r->scores[i].label, m[nvs] = r->scores[i].method;
            b[nvs] = r->scores[i].budget, nvs++;
        }
        rc |= h5_write_strs(g, "key", k, nvs, 0);
        rc |= h5_write_strs(g, "label", l, nvs, 0);
        rc |= h5_write_strs(g, "method", m, nvs, 0);
        rc |= h5_write_ints(g, "budget", b, nvs, 0);
        free(k), free(l), free(m), free(b);
    }
    H5Gclose(g);

    /* Provenance. */
    g = H5Gcreate2(f, "provenance", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= h5_attr_str(g, "format", "kvbench-summary-1");
    rc |= h5_attr_str(g, "created", created);
    rc |= h5_attr_str(g, "engine_rev", store_engine_rev());
    rc |= h5_attr_int(g, "n_items", r->n_items);
    rc |= h5_attr_int(g, "duplicates_dropped", r->duplicates);
    hid_t gi = H5Gcreate2(g, "items", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ni = r->n_items;
    const char **s2 = kv_calloc(ni + 1, sizeof(char *));
    int *i2 = kv_calloc(ni + 1, sizeof(int));
    double *d2 = kv_calloc(ni + 1, sizeof(double));
#define IS(col, expr) do { for (int i = 0; i < ni; i++) s2[i] = (expr); rc |= h5_write_strs(gi, col, s2, ni, 0); } while (0)
#define II(col, expr) do { for (int i = 0; i < ni; i++) i2[i] = (expr); rc |= h5_write_ints(gi, col, i2, ni, 0); } while (0)
#define ID(col, expr) do { for (int i = 0; i < ni; i++) d2[i] = (expr); rc |= h5_write_doubles(gi, col, d2, ni, 0); } while (0)
    const item_record *it = r->items;
    IS("path", r->paths[i]);
    IS("sweep", it[i].prov.sweep);
    IS("sweep_hash", it[i].prov.sweep_hash);
    IS("model", it[i].prov.model);
    IS("model_path", it[i].prov.model_path);
    IS("model_hash", it[i].prov.model_hash);
    IS("family", it[i].prov.family);
    IS("dtype", it[i].prov.dtype);
    IS("chat", it[i].prov.chat);
    IS("task", it[i].prov.task);
    IS("data_file", it[i].prov.data_file);
    IS("data_hash", it[i].prov.data_hash);
    IS("preset", it[i].prov.preset);
    IS("engine_rev", it[i].prov.engine_rev);
    IS("host", it[i].prov.host);
    IS("device", it[i].prov.device);
    IS("backend", it[i].prov.backend);
    IS("created", it[i].prov.created);
    II("rank", it[i].prov.rank);
    II("world", it[i].prov.world);
    II("max_prompt_tokens", it[i].prov.max_prompt_tokens);
    II("tensor_parallel", it[i].prov.tensor_parallel);
    II("max_new_tokens", it[i].prov.max_new_tokens);
    ID("load_s", it[i].prov.load_s);
    ID("io_s", it[i].prov.io_s);
    free(s2), free(i2), free(d2);
    H5Gclose(gi);
    H5Gclose(g);
    if (H5Fclose(f) < 0) rc = KV_ERR;
    if (rc != KV_OK) kv_seterr("cannot write %s", path);
    return rc ? KV_ERR : KV_OK;
}

/* Open DIR/name.tmp.<pid> for writing; finish with commit_file. */
static FILE *open_tmp(const char *final, char *tmp, size_t n)
{
    snprintf(tmp, n, "%s.tmp.%d", final, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) kv_seterr("cannot create %s: %s", tmp, strerror(errno));
    return f;
}

static int commit_file(FILE *f, const char *tmp, const char *final)
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

int reduce_write(const char *dir, const reduced *r)
{
    char final[4096], tmp[4200];
    remove_stale_outputs(dir);
    snprintf(final, sizeof final, "%s/plots", dir);
    remove_stale_outputs(final);
    snprintf(final, sizeof final, "%s/summary.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", final, (int)getpid());
    if (write_summary(tmp, r) != KV_OK || rename(tmp, final) != 0) {
        unlink(tmp);
        return KV_ERR;
    }
    char hw[128];
    hardware_string(r, hw, sizeof hw);
    lb_result_row *rows;
    int nr;
    reduce_table_rows(r, hw, &rows, &nr);
    snprintf(final, sizeof final, "%s/tables.md", dir);
    FILE *f = open_tmp(final, tmp, sizeof tmp);
    if (!f) return free(rows), KV_ERR;
    if (lb_tables_write_md(f, rows, nr) != KV_OK) {
        fclose(f), unlink(tmp), free(rows);
        return KV_ERR;
    }
    if (commit_file(f, tmp, final) != KV_OK) return free(rows), KV_ERR;
    snprintf(final, sizeof final, "%s/scores.csv", dir);
    if (!(f = open_tmp(final, tmp, sizeof tmp))) return free(rows), KV_ERR;
    if (lb_tables_write_csv(f, rows, nr) != KV_OK) {
        fclose(f), unlink(tmp), free(rows);
        return KV_ERR;
    }
    free(rows);
    if (commit_file(f, tmp, final) != KV_OK) return KV_ERR;
    snprintf(final, sizeof final, "%s/plots", dir);
    if (store_mkdirs(final) != KV_OK) return KV_ERR;
    const char **models = kv_calloc(r->n_scores + 1, sizeof *models);
    int nm = model_list(r, models);
    for (int m = 0; m < nm; m++) {
        snprintf(final, sizeof final, "%s/plots/%s.svg", dir, models[m]);
        if (!(f = open_tmp(final, tmp, sizeof tmp))) return free(models), KV_ERR;
        reduce_plot_model(r, models[m], f);
        if (commit_file(f, tmp, final) != KV_OK) return free(models), KV_ERR;
    }
    free(models);
    return KV_OK;
}
