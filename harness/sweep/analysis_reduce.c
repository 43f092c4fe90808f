/* analysis_reduce: recall tables, kept-set overlap and their plots (analysis_reduce.h). */
#include "harness/sweep/analysis_reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/method.h"
#include "harness/sweep/analysis.h"
#include "harness/sweep/outfile.h"
#include "harness/sweep/svg.h"
#include "util/util.h"

const item_analysis *analysis_of_row(const reduced *r, const pred_row *p, int *idx)
{
    const item_record *it = &r->items[p->item];
    *idx = (int)(p->r - it->res);
    return it->an;
}

/* Rows [*b, *e) of r->rows with the same (model, key) as row i: contiguous, sorted by task, sample. */
static void key_range(const reduced *r, int i, int *b, int *e)
{
    *b = i, *e = i;
    while (*e < r->n_rows && !strcmp(r->rows[*e].model, r->rows[i].model) && !strcmp(r->rows[*e].key, r->rows[i].key))
        (*e)++;
}

/* ---- recall ---- */

double analysis_recall_mean(const reduced *r, const char *mname, const char *key)
{
    double sum = 0;
    int n = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const pred_row *p = &r->rows[i];
        int idx;
        const item_analysis *a = analysis_of_row(r, p, &idx);
        if (!a || !a->recall || isnan(a->recall[idx]) || strcmp(p->model, mname) || strcmp(p->key, key)) continue;
        sum += a->recall[idx], n++;
    }
    return n ? sum / n : NAN;
}

typedef struct {
    const char *model, *label, *method;
    int budget, n, n_layers;
    double sum, layer[256];
} recall_row;

/* Table order: model, method (as the score tables), label, budget. */
static int cmp_recall(const void *a, const void *b)
{
    const recall_row *x = a, *y = b;
    int c = strcmp(x->model, y->model);
    if (!c) c = method_rank(x->method) - method_rank(y->method);
    if (!c) c = strcmp(x->label, y->label);
    return c ? c : (x->budget > y->budget) - (x->budget < y->budget);
}

static int collect_recall(const reduced *r, recall_row *out)
{
    int n = 0;
    for (int i = 0, b, e; i < r->n_rows; i = e) {
        key_range(r, i, &b, &e);
        recall_row *rr = &out[n];
        memset(rr, 0, sizeof *rr);
        rr->model = r->rows[b].model, rr->label = r->rows[b].label, rr->budget = r->rows[b].budget;
        rr->method = r->rows[b].method;
        for (int k = b; k < e; k++) {
            int idx;
            const item_analysis *a = analysis_of_row(r, &r->rows[k], &idx);
            if (!a || !a->recall || isnan(a->recall[idx])) continue;
            rr->n_layers = a->n_layers < 256 ? a->n_layers : 256;
            rr->sum += a->recall[idx];
            for (int l = 0; l < rr->n_layers; l++) rr->layer[l] += a->recall_layer[(long)idx * a->n_layers + l];
            rr->n++;
        }
        if (rr->n) n++;
    }
    qsort(out, n, sizeof *out, cmp_recall);
    return n;
}

static int write_recall(const char *dir, const recall_row *rr, int n)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/recall.csv", dir);
    FILE *f = outfile_open(path, tmp, sizeof tmp);
    if (!f) return KV_ERR;
    fprintf(f, "model,method,budget,n,recall");
    for (int l = 0; n && l < rr[0].n_layers; l++) fprintf(f, ",layer_%d", l);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s,\"%s\",%d,%d,%.6f", rr[i].model, rr[i].label, rr[i].budget, rr[i].n, rr[i].sum / rr[i].n);
        for (int l = 0; l < rr[i].n_layers; l++) fprintf(f, ",%.6f", rr[i].layer[l] / rr[i].n);
        fputc('\n', f);
    }
    if (outfile_commit(f, tmp, path) != KV_OK) return KV_ERR;
    snprintf(path, sizeof path, "%s/tables.md", dir);
    if (!(f = outfile_open_append(path, tmp, sizeof tmp))) return KV_ERR;
    fprintf(f, "\n## Attention recall\n\nMean share of the full model's attention mass (the variant's own query against "
               "the whole prompt and its generated tokens) that falls on the kept positions; 1 = FullKV.\n\n"
               "| model | method | budget | recall | samples |\n|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        char bl[32];
        budget_label(rr[i].budget, bl, sizeof bl, 1);
        fprintf(f, "| %s | %s | %s | %.4f | %d |\n", rr[i].model, rr[i].label, rr[i].budget ? bl : "full",
                rr[i].sum / rr[i].n, rr[i].n);
    }
    return outfile_commit(f, tmp, path);
}

/* plots/<model>-recall.svg: recall vs budget, one line per method label. */
static int plot_recall(const char *dir, const recall_row *rr, int n, const char *mname)
{
    int budgets[64], nb = 0;
    const char *labels[32];
    int nl = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(rr[i].model, mname) || !rr[i].budget) continue;
        int seen = 0;
        for (int k = 0; k < nb; k++) seen |= budgets[k] == rr[i].budget;
        if (!seen && nb < 64) budgets[nb++] = rr[i].budget;
        seen = 0;
        for (int k = 0; k < nl; k++) seen |= !strcmp(labels[k], rr[i].label);
        if (!seen && nl < 32) labels[nl++] = rr[i].label;
    }
    for (int i = 1; i < nb; i++)
        for (int j = i; j > 0 && budgets[j] < budgets[j - 1]; j--) {
            int t = budgets[j];
            budgets[j] = budgets[j - 1], budgets[j - 1] = t;
        }
    svg_series *s = kv_calloc(nl ? nl : 1, sizeof *s);
    for (int l = 0; l < nl; l++) {
        s[l].label = labels[l];
        s[l].y = kv_malloc(sizeof(double) * (nb ? nb : 1));
        for (int b = 0; b < nb; b++) {
            s[l].y[b] = NAN;
            for (int i = 0; i < n; i++)
                if (!strcmp(rr[i].model, mname) && !strcmp(rr[i].label, labels[l]) && rr[i].budget == budgets[b])
                    s[l].y[b] = rr[i].sum / rr[i].n;
        }
    }
    char path[4096], title[512];
    snprintf(path, sizeof path, "%s/plots/%s-recall.svg", dir, mname);
    snprintf(title, sizeof title, "%s: attention recall vs KV budget", mname);
    int rc = svg_line_plot(path, title, "attention recall", budgets, nb, s, nl);
    for (int l = 0; l < nl; l++) free(s[l].y);
    free(s);
    return rc;
}

/* ---- overlap ---- */

static int inter_count(const int *a, long na, const int *b, long nb)
{
    int c = 0;
    for (long i = 0, j = 0; i < na && j < nb;) {
        if (a[i] == b[j]) c++, i++, j++;
        else if (a[i] < b[j]) i++;
        else j++;
    }
    return c;
}

/* Adds, per layer, the head-mean Jaccard of two views to acc[l]; 0 when either has no kept sets. */
static int add_jaccard(const reduced *r, const pred_row *x, const pred_row *y, double *acc, int *n_layers)
{
    int ix, iy;
    const item_analysis *a = analysis_of_row(r, x, &ix), *b = analysis_of_row(r, y, &iy);
    if (!a || !b || !a->kept.n || !b->kept.n || a->kept.n_layers != b->kept.n_layers ||
        a->kept.n_heads != b->kept.n_heads)
        return 0;
    const kept_sets *ka = &a->kept, *kb = &b->kept;
    *n_layers = ka->n_layers;
    for (int l = 0; l < ka->n_layers; l++) {
        double sum = 0;
        for (int h = 0; h < ka->n_heads; h++) {
            long ra = kept_row(ka, ix, l, h), rb = kept_row(kb, iy, l, h);
            long na = ka->off[ra + 1] - ka->off[ra], nb = kb->off[rb + 1] - kb->off[rb];
            int in = inter_count(ka->pos + ka->off[ra], na, kb->pos + kb->off[rb], nb);
            sum += na + nb - in ? (double)in / (double)(na + nb - in) : 1.0;
        }
        acc[l] += sum / ka->n_heads;
    }
    return 1;
}

/* Mean per-layer Jaccard of two (model, key) row ranges over their common (task, sample). */
static int pair_overlap(const reduced *r, int b1, int e1, int b2, int e2, double *acc, int *n_layers)
{
    int n = 0;
    memset(acc, 0, sizeof(double) * 256);
    for (int i = b1, j = b2; i < e1 && j < e2;) {
        const pred_row *x = &r->rows[i], *y = &r->rows[j];
        int c = strcmp(x->task, y->task);
        if (!c) c = x->sample - y->sample;
        if (c < 0) i++;
        else if (c > 0) j++;
        else n += add_jaccard(r, x, y, acc, n_layers), i++, j++;
    }
    return n;
}

typedef struct {
    const char *model, *la, *lb;
    int budget, n, n_layers;
    double jac[256];
} overlap_row;

static int collect_overlap(const reduced *r, overlap_row **out)
{
    int starts[4096], ns = 0, cap = 16, n = 0;
    for (int i = 0, b, e; i < r->n_rows && ns < 4096; i = e) key_range(r, i, &b, &e), starts[ns++] = b;
    *out = kv_malloc(sizeof **out * cap);
    for (int p = 0; p < ns; p++)
        for (int q = p + 1; q < ns; q++) {
            const pred_row *x = &r->rows[starts[p]], *y = &r->rows[starts[q]];
            if (strcmp(x->model, y->model) || x->budget != y->budget || !x->budget) continue;
            int e1 = p + 1 < ns ? starts[p + 1] : r->n_rows, e2 = q + 1 < ns ? starts[q + 1] : r->n_rows;
            if (n == cap) *out = kv_realloc(*out, sizeof **out * (cap *= 2));
            overlap_row *o = &(*out)[n];
            o->n = pair_overlap(r, starts[p], e1, starts[q], e2, o->jac, &o->n_layers);
            if (!o->n) continue;
            o->model = x->model, o->la = x->label, o->lb = y->label, o->budget = x->budget;
            for (int l = 0; l < o->n_layers; l++) o->jac[l] /= o->n;
            n++;
        }
    return n;
}

static int write_overlap(const char *dir, const overlap_row *o, int n)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/overlap.csv", dir);
    FILE *f = outfile_open(path, tmp, sizeof tmp);
    if (!f) return KV_ERR;
    fprintf(f, "model,budget,layer,method_a,method_b,jaccard,n\n");
    for (int i = 0; i < n; i++)
        for (int l = 0; l < o[i].n_layers; l++)
            fprintf(f, "%s,%d,%d,\"%s\",\"%s\",%.6f,%d\n", o[i].model, o[i].budget, l, o[i].la, o[i].lb, o[i].jac[l],
                    o[i].n);
    int rc = outfile_commit(f, tmp, path);
    /* one heatmap per (model, budget): rows the method pairs, columns the layers */
    for (int i = 0; i < n && rc == KV_OK; i++) {
        /* the pairs of one (model, budget) are not adjacent: draw each group once, at its first pair */
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(o[j].model, o[i].model) && o[j].budget == o[i].budget;
        if (seen) continue;
        const char *rows[256];
        const double *vals[256];
        char names[256][160];
        int nr = 0;
        for (int k = i; k < n && nr < 256; k++) {
            if (strcmp(o[k].model, o[i].model) || o[k].budget != o[i].budget) continue;
            snprintf(names[nr], sizeof names[nr], "%s / %s", o[k].la, o[k].lb);
            rows[nr] = names[nr], vals[nr++] = o[k].jac;
        }
        char title[512], bl[32];
        budget_label(o[i].budget, bl, sizeof bl, 1);
        snprintf(path, sizeof path, "%s/plots/%s-overlap-%s.svg", dir, o[i].model, bl);
        snprintf(title, sizeof title, "%s, budget %s: Jaccard overlap of kept sets per layer (mean over heads, samples)",
                 o[i].model, bl);
        rc = svg_heatmap(path, title, rows, vals, nr, o[i].n_layers, "layer");
    }
    return rc;
}

int analysis_reduce_write(const char *dir, const reduced *r)
{
    recall_row *rr = kv_calloc(r->n_rows + 1, sizeof *rr);
    int n = collect_recall(r, rr), rc = KV_OK;
    if (n) {
        rc = write_recall(dir, rr, n);
        for (int i = 0; i < n && rc == KV_OK; i++)
            if (!i || strcmp(rr[i].model, rr[i - 1].model)) rc = plot_recall(dir, rr, n, rr[i].model);
    }
    free(rr);
    overlap_row *o = NULL;
    int no = rc == KV_OK ? collect_overlap(r, &o) : 0;
    if (no) rc = write_overlap(dir, o, no);
    free(o);
    return rc;
}
