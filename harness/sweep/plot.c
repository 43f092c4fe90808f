/* plot: the SVG figure of one model's results (reduce.h: reduce_plot_model) — Avg and the six
 * categories vs budget, one line per method, FullKV as a dashed reference — written from the
 * reduced score rows, like the tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep/reduce.h"
#include "harness/sweep/analysis_reduce.h"
#include "harness/sweep/svg.h"
#include "util/util.h"

/* Value of panel p (0 = Avg, 1..6 = categories, 7 = attention recall in %) for a score row, NAN when
 * missing. */
static double panel_value(const reduced *r, const score_row *s, int p)
{
    if (p == 7) return 100 * analysis_recall_mean(r, s->model, s->key); /* issue 18 */
    long long h = p == 0 ? s->avg_h : s->cat_h[p - 1];
    return h < 0 ? NAN : h / 100.0;
}

/* One panel's frame: its plot box in SVG pixels, its y range and the budgets on its x axis. */
typedef struct {
    int x0, x1, y0, y1;
    double lo, hi;
    const int *budgets;
    int nb;
} plot_panel;

static double panel_x(const plot_panel *g, int b)
{
    return g->nb > 1 ? g->x0 + 10 + (double)b * (g->x1 - g->x0 - 20) / (g->nb - 1) : (g->x0 + g->x1) / 2.0;
}

static double panel_y(const plot_panel *g, double v) { return g->y0 - (v - g->lo) / (g->hi - g->lo) * (g->y0 - g->y1); }

/* Distinct labels of model mname (with their methods) in table order; returns their count. */
static int plot_labels(const reduced *r, const char *mname, const char **labels, const char **methods)
{
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
        for (int j = i; j > 0 && method_rank(methods[j]) < method_rank(methods[j - 1]); j--) {
            const char *t = labels[j];
            labels[j] = labels[j - 1], labels[j - 1] = t;
            t = methods[j];
            methods[j] = methods[j - 1], methods[j - 1] = t;
        }
    return nl;
}

/* Panel p's y range from its data, padded, in whole multiples of 5 within [0, 100]. */
static void panel_range(const reduced *r, const char *mname, int p, plot_panel *g)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < r->n_scores; i++) {
        if (strcmp(r->scores[i].model, mname)) continue;
        double v = panel_value(r, &r->scores[i], p);
        if (isnan(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (!isfinite(lo)) lo = 0, hi = 100;
    lo = floor(lo / 5) * 5 - 5 < 0 ? 0 : floor(lo / 5) * 5 - 5;
    hi = ceil(hi / 5) * 5 + 5 > 100 ? 100 : ceil(hi / 5) * 5 + 5;
    if (hi <= lo) hi = lo + 5;
    g->lo = lo, g->hi = hi;
}

/* Panel p's title, frame, y grid and budget labels. */
static void panel_axes(FILE *f, const plot_panel *g, int p)
{
    fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
            (g->x0 + g->x1) / 2, g->y1 - 8, p == 0 ? "Avg" : p == 7 ? "Attention recall (%)" : lb_categories[p - 1]);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", g->x0, g->y1,
            g->x1 - g->x0, g->y0 - g->y1);
    double step = 5 * fmax(1, round((g->hi - g->lo) / 20));
    for (double v = g->lo; v <= g->hi + 1e-9; v += step) {
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n",
                g->x0, panel_y(g, v), g->x1, panel_y(g, v), g->x0 - 4, panel_y(g, v) + 4, v);
    }
    for (int b = 0; b < g->nb; b++) {
        char bl[32];
        budget_label(g->budgets[b], bl, sizeof bl, 1);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", panel_x(g, b), g->y0 + 14, bl);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">KV budget</text>\n", (g->x0 + g->x1) / 2,
            g->y0 + 28);
}

/* The rows of label l of model mname in panel p: a dashed line for budget 0 (FullKV), one
 * polyline over the budgets with a dot per point for the others. */
static void panel_series(FILE *f, const reduced *r, const char *mname, const char *label, const char *color,
                         const plot_panel *g, int p)
{
    for (int i = 0; i < r->n_scores; i++) {
        const score_row *s = &r->scores[i];
        if (strcmp(s->model, mname) || strcmp(s->label, label) || s->budget != 0) continue;
        double v = panel_value(r, s, p);
        if (!isnan(v))
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-dasharray=\"6,4\" stroke-width=\"1.5\"/>\n",
                    g->x0, panel_y(g, v), g->x1, panel_y(g, v), color);
    }
    for (int pass = 0; pass < 2; pass++) { /* 0: the polyline, 1: its dots */
        int started = 0;
        for (int b = 0; b < g->nb; b++)
            for (int i = 0; i < r->n_scores; i++) {
                const score_row *s = &r->scores[i];
                if (strcmp(s->model, mname) || strcmp(s->label, label) || s->budget != g->budgets[b]) continue;
                double v = panel_value(r, s, p);
                if (isnan(v)) continue;
                if (pass) {
                    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", panel_x(g, b), panel_y(g, v),
                            color);
                    continue;
                }
                if (!started) fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
                fprintf(f, "%s%.1f,%.1f", started ? " " : "", panel_x(g, b), panel_y(g, v));
                started = 1;
            }
        if (started) fprintf(f, "\"/>\n");
    }
}

/* The legend from (lx, ly) down; FullKV dashed, as its reference line. */
static void plot_legend(FILE *f, const char **labels, const char **methods, int nl, int lx, int ly)
{
    for (int l = 0; l < nl; l++) {
        const method_desc *d = method_find(methods[l]);
        int full = d && !d->compresses;
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                   "<text x=\"%d\" y=\"%d\">",
                lx, ly + 18 * l, lx + 24, ly + 18 * l, svg_colors[l % 10], full ? " stroke-dasharray=\"6,4\"" : "",
                lx + 30, ly + 18 * l + 4);
        svg_escape(f, labels[l]);
        fprintf(f, "%s</text>\n", full ? " (reference)" : "");
    }
}

int reduce_plot_model(const reduced *r, const char *mname, FILE *f)
{
    int *budgets = kv_calloc(r->n_scores + 1, sizeof(int));
    int nb = reduce_budgets(r, mname, budgets);
    const char *labels[32], *methods[32];
    int nl = plot_labels(r, mname, labels, methods);
    const int pw = 300, ph = 220, cols = 4, rows = 2, ml = 45, mr = 10, mt = 30, mb = 35;
    /* With attention recall in the items, its panel takes the 8th slot and the legend goes below. */
    int recall = 0;
    for (int i = 0; i < r->n_scores && !recall; i++)
        recall = !strcmp(r->scores[i].model, mname) && !isnan(analysis_recall_mean(r, mname, r->scores[i].key));
    int W = cols * pw, H = rows * ph + 40 + 20 * ((nl + 3) / 4) + (recall ? 18 * nl : 0);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"20\" "
               "text-anchor=\"middle\" font-size=\"15\">", W / 2);
    svg_escape(f, mname);
    fprintf(f, ": LongBench score vs KV budget</text>\n");
    for (int p = 0; p < 7 + recall; p++) {
        int ox = (p % cols) * pw, oy = 30 + (p / cols) * ph;
        plot_panel g = {.x0 = ox + ml, .x1 = ox + pw - mr, .y0 = oy + ph - mb, .y1 = oy + mt, .budgets = budgets, .nb = nb};
        panel_range(r, mname, p, &g);
        panel_axes(f, &g, p);
        for (int l = 0; l < nl; l++) panel_series(f, r, mname, labels[l], svg_colors[l % 10], &g, p);
        fprintf(f, "</g>\n");
    }
    /* Legend in the 8th panel slot and below. */
    plot_legend(f, labels, methods, nl, recall ? 20 : 3 * pw + 20, recall ? 30 + 2 * ph + 20 : 30 + ph + 40);
    fprintf(f, "</svg>\n");
    free(budgets);
    return ferror(f) ? KV_ERR : KV_OK;
}
