/* reduce_needle: the needle-in-a-haystack outputs of the reducer (reduce.h): per mname the grid of
 * scores (variant × length × depth, on the reference's 0..10 scale = 10 × the stored rouge-1 F),
 * the summary table (needle.md, needle.csv: one row per variant with its mean per length and over
 * the grid) and the heatmap figure (plots/<mname>-needle.svg: one panel per method and budget,
 * depth down, length across, the reference's red-yellow-green colour scale with a legend). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/longbench/needle.h"
#include "harness/sweep/reduce.h"
#include "util/util.h"

#define NG_MAX 128

typedef struct {
    const char *key[NG_MAX], *label[NG_MAX], *method[NG_MAX];
    int budget[NG_MAX], nv;
    int length[NG_MAX], nl, depth[NG_MAX], nd;
    double *score;  /* (nv, nl, nd) 0..10, NAN = missing */
} needle_grid;

static int is_needle_row(const pred_row *p, const char *mname)
{
    return !strcmp(p->task, LB_NEEDLE_TASK) && (!mname || !strcmp(p->model, mname));
}

int reduce_has_needle(const reduced *r, const char *mname)
{
    for (int i = 0; i < r->n_rows; i++)
        if (is_needle_row(&r->rows[i], mname)) return 1;
    return 0;
}

static int add_int(int *a, int *n, int v)
{
    int i = 0;
    while (i < *n && a[i] < v) i++;
    if (i < *n && a[i] == v) return i;
    if (*n == NG_MAX) return -1;
    memmove(a + i + 1, a + i, sizeof *a * (size_t)(*n - i));
    a[i] = v, (*n)++;
    return i;
}

static int find_int(const int *a, int n, int v)
{
    for (int i = 0; i < n; i++)
        if (a[i] == v) return i;
    return -1;
}

/* Variants in table order: method rank, then label, then budget. */
static int variant_before(const needle_grid *g, int a, int b)
{
    int ra = method_rank(g->method[a]), rb = method_rank(g->method[b]), c;
    if (ra != rb) return ra < rb;
    if ((c = strcmp(g->label[a], g->label[b]))) return c < 0;
    return g->budget[a] < g->budget[b];
}

static void add_variant(needle_grid *g, const pred_row *p)
{
    for (int v = 0; v < g->nv; v++)
        if (!strcmp(g->key[v], p->key)) return;
    if (g->nv == NG_MAX) return;
    int v = g->nv++;
    g->key[v] = p->key, g->label[v] = p->label, g->method[v] = p->method, g->budget[v] = p->budget;
    for (; v > 0 && variant_before(g, v, v - 1); v--) {
#define SWAP(T, x) { T t_ = g->x[v]; g->x[v] = g->x[v - 1], g->x[v - 1] = t_; }
        SWAP(const char *, key) SWAP(const char *, label) SWAP(const char *, method) SWAP(int, budget)
#undef SWAP
    }
}

static void grid_build(const reduced *r, const char *mname, needle_grid *g)
{
    memset(g, 0, sizeof *g);
    for (int i = 0; i < r->n_rows; i++) {
        const pred_row *p = &r->rows[i];
        if (!is_needle_row(p, mname)) continue;
        int L, d;
        lb_needle_sample_split(p->sample, &L, &d);
        add_int(g->length, &g->nl, L), add_int(g->depth, &g->nd, d);
        add_variant(g, p);
    }
    size_t n = (size_t)g->nv * g->nl * g->nd;
    g->score = kv_malloc(sizeof *g->score * (n ? n : 1));
    for (size_t k = 0; k < n; k++) g->score[k] = NAN;
    for (int i = 0; i < r->n_rows; i++) {
        const pred_row *p = &r->rows[i];
        if (!is_needle_row(p, mname)) continue;
        int L, d, v = 0;
        lb_needle_sample_split(p->sample, &L, &d);
        while (v < g->nv && strcmp(g->key[v], p->key)) v++;
        int li = find_int(g->length, g->nl, L), di = find_int(g->depth, g->nd, d);
        if (v < g->nv && li >= 0 && di >= 0) g->score[((size_t)v * g->nl + li) * g->nd + di] = 10 * p->r->score;
    }
}

/* Mean of variant v's cells of length index li (li < 0: every length); NAN if any is missing. */
static double grid_mean(const needle_grid *g, int v, int li)
{
    double sum = 0;
    int n = 0;
    for (int l = li < 0 ? 0 : li; l < (li < 0 ? g->nl : li + 1); l++)
        for (int d = 0; d < g->nd; d++) sum += g->score[((size_t)v * g->nl + l) * g->nd + d], n++;
    return n ? sum / n : NAN;
}

static void models_of(const reduced *r, const char **out, int *n)
{
    *n = 0;
    for (int i = 0; i < r->n_rows; i++)
        if (is_needle_row(&r->rows[i], NULL) && (!*n || strcmp(out[*n - 1], r->rows[i].model)))
            out[(*n)++] = r->rows[i].model;
}

static void fmt_score(double x, char *buf, size_t n)
{
    if (isnan(x)) buf[0] = 0;
    else snprintf(buf, n, "%.2f", x);
}

static void write_summary_rows(FILE *f, const needle_grid *g, const char *mname, int csv)
{
    char b[32], lab[32];
    for (int v = 0; v < g->nv; v++) {
        budget_label(g->budget[v], lab, sizeof lab, 1);
        if (csv) fprintf(f, "%s,%s,%s", mname, g->label[v], g->budget[v] ? lab : "");
        else fprintf(f, "| %s | %s |", g->label[v], g->budget[v] ? lab : "all");
        for (int l = 0; l < g->nl; l++) {
            fmt_score(grid_mean(g, v, l), b, sizeof b);
            fprintf(f, csv ? ",%s" : " %s |", b);
        }
        fmt_score(grid_mean(g, v, -1), b, sizeof b);
        fprintf(f, csv ? ",%s\n" : " **%s** |\n", b);
    }
}

int reduce_needle_tables(const reduced *r, FILE *md, FILE *csv)
{
    const char **models = kv_calloc(r->n_rows + 1, sizeof *models);
    int nm;
    models_of(r, models, &nm);
    for (int m = 0; m < nm; m++) {
        needle_grid g;
        grid_build(r, models[m], &g);
        fprintf(md, "%s## %s, needle in a haystack\n\nScore: rouge-1 F x 10 of the answer against the needle "
                    "(0..10), mean over %d depths per length.\n\n| Method | KV Budget |",
                m ? "\n" : "", models[m], g.nd);
        for (int l = 0; l < g.nl; l++) fprintf(md, " %d |", g.length[l]);
        fprintf(md, " Mean |\n|---|---:|");
        for (int l = 0; l <= g.nl; l++) fprintf(md, "---:|");
        fprintf(md, "\n");
        write_summary_rows(md, &g, models[m], 0);
        if (m == 0) {
            fprintf(csv, "model,method,budget");
            for (int l = 0; l < g.nl; l++) fprintf(csv, ",len%d", g.length[l]);
            fprintf(csv, ",mean\n");
        }
        write_summary_rows(csv, &g, models[m], 1);
        free(g.score);
    }
    free(models);
    return ferror(md) || ferror(csv) ? KV_ERR : KV_OK;
}

/* ---- the heatmap ---------------------------------------------------------------------------- */

/* The reference's colour map (LinearSegmentedColormap of #F0496E, #EBB839, #0CD79F over 0..10). */
static void score_colour(double x, char *buf, size_t n)
{
    static const int stop[3][3] = {{0xF0, 0x49, 0x6E}, {0xEB, 0xB8, 0x39}, {0x0C, 0xD7, 0x9F}};
    if (isnan(x)) {
        snprintf(buf, n, "#dddddd");
        return;
    }
    double t = x / 10.0 < 0 ? 0 : x / 10.0 > 1 ? 1 : x / 10.0;
    int k = t < 0.5 ? 0 : 1;
    double u = (t - 0.5 * k) * 2;
    int c[3];
    for (int j = 0; j < 3; j++) c[j] = (int)lround(stop[k][j] + u * (stop[k + 1][j] - stop[k][j]));
    snprintf(buf, n, "#%02x%02x%02x", c[0], c[1], c[2]);
}

enum { PANEL_W = 250, PANEL_H = 170, PM_L = 44, PM_T = 22, PM_B = 28, LEGEND_W = 70, BLOCKS_PER_ROW = 2 };
/* Width of one character of an 11 px bold sans-serif title, a little generous. */
enum { TITLE_CHAR_PX = 7 };

static void draw_panel(FILE *f, const needle_grid *g, int v, int x0, int y0)
{
    char col[16], lab[32];
    int pw = PANEL_W - PM_L - 10, ph = PANEL_H - PM_T - PM_B;
    double cw = (double)pw / g->nl, chh = (double)ph / g->nd;
    budget_label(g->budget[v], lab, sizeof lab, 1);
    char title[256];
    int tn = snprintf(title, sizeof title, "%s%s%s (mean %.2f)", g->label[v], g->budget[v] ? ", budget " : "",
                      g->budget[v] ? lab : "", grid_mean(g, v, -1));
    /* a long method name gets a smaller font rather than running into the next panel */
    int avail = PANEL_W - 12;
    char fit[64] = "";
    if (tn * TITLE_CHAR_PX > avail) snprintf(fit, sizeof fit, " font-size=\"%.1f\"", 11.0 * avail / (tn * TITLE_CHAR_PX));
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\"%s>%s</text>\n", x0 + 6, y0 + 15, fit, title);
    for (int l = 0; l < g->nl; l++)
        for (int d = 0; d < g->nd; d++) {
            double x = g->score[((size_t)v * g->nl + l) * g->nd + d];
            score_colour(x, col, sizeof col);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" stroke=\"white\">"
                       "<title>length %d, depth %d%%: %.2f</title></rect>\n",
                    x0 + PM_L + l * cw, y0 + PM_T + d * chh, cw, chh, col, g->length[l], g->depth[d], x);
        }
    for (int d = 0; d < g->nd; d++)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n", x0 + PM_L - 4,
                y0 + PM_T + (d + 0.5) * chh + 4, g->depth[d]);
    for (int l = 0; l < g->nl; l++)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x0 + PM_L + (l + 0.5) * cw,
                y0 + PM_T + ph + 14, g->length[l]);
}

static void draw_legend(FILE *f, int x0, int y0)
{
    char col[16];
    fprintf(f, "<text x=\"%d\" y=\"%d\">score</text>\n", x0, y0 + 15);
    for (int i = 0; i < 50; i++) {
        score_colour(10.0 * (49 - i) / 49, col, sizeof col);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"3\" fill=\"%s\"/>\n", x0, y0 + 22 + 3 * i, col);
    }
    for (int k = 0; k <= 10; k += 5)
        fprintf(f, "<text x=\"%d\" y=\"%d\">%d</text>\n", x0 + 20, y0 + 22 + 147 * (10 - k) / 10 + 4, k);
}

int reduce_needle_heatmap(const reduced *r, const char *mname, FILE *f)
{
    needle_grid g;
    grid_build(r, mname, &g);
    /* One block per method label (FullKV, then each method with its budgets left to right), two
     * blocks side by side per row. */
    int row[NG_MAX], colm[NG_MAX], nrow = 0, ncol = 1;
    for (int v = 0; v < g.nv; v++) {
        int same = v > 0 && !strcmp(g.label[v], g.label[v - 1]);
        row[v] = same ? row[v - 1] : nrow++;
        colm[v] = same ? colm[v - 1] + 1 : 0;
        if (colm[v] + 1 > ncol) ncol = colm[v] + 1;
    }
    int bw = ncol * PANEL_W, brows = (nrow + BLOCKS_PER_ROW - 1) / BLOCKS_PER_ROW;
    int W = (nrow < BLOCKS_PER_ROW ? nrow : BLOCKS_PER_ROW) * bw + LEGEND_W, H = brows * PANEL_H + 50;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
    fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">%s: needle in a haystack "
               "(depth down, context length in tokens across; rouge-1 F x 10)</text>\n", mname);
    for (int v = 0; v < g.nv; v++)
        draw_panel(f, &g, v, (row[v] % BLOCKS_PER_ROW) * bw + colm[v] * PANEL_W,
                   40 + row[v] / BLOCKS_PER_ROW * PANEL_H);
    draw_legend(f, W - LEGEND_W, 40);
    fprintf(f, "</svg>\n");
    free(g.score);
    return ferror(f) ? KV_ERR : KV_OK;
}
