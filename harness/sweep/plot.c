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

/* Value of panel p (0 = Avg, 1..6 = categories) for a score row, NAN when missing. */
static double panel_value(const reduced *r, const score_row *s, int p)
{
    if (p == 7) return 100 * analysis_recall_mean(r, s->model, s->key); /* issue 18: recall in % */
    long long h = p == 0 ? s->avg_h : s->cat_h[p - 1];
    return h < 0 ? NAN : h / 100.0;
}

int reduce_plot_model(const reduced *r, const char *mname, FILE *f)
{
    int *budgets = kv_calloc(r->n_scores + 1, sizeof(int));
    int nb = reduce_budgets(r, mname, budgets);
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
        int x0 = ox + ml, x1 = ox + pw - mr, y0 = oy + ph - mb, y1 = oy + mt;
        /* y range from the data of this panel, padded, in whole multiples of 5. */
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
        fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
                (x0 + x1) / 2, y1 - 8, p == 0 ? "Avg" : p == 7 ? "Attention recall (%)" : lb_categories[p - 1]);
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
            const char *color = svg_colors[l % 10];
            for (int i = 0; i < r->n_scores; i++) {
                const score_row *s = &r->scores[i];
                if (strcmp(s->model, mname) || strcmp(s->label, labels[l])) continue;
                if (s->budget == 0) {
                    double v = panel_value(r, s, p);
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
                    double v = panel_value(r, s, p);
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
                    double v = panel_value(r, s, p);
                    if (!isnan(v))
                        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", XPOS(b), YPOS(v), color);
                }
        }
        fprintf(f, "</g>\n");
#undef XPOS
#undef YPOS
    }
    /* Legend in the 8th panel slot and below. */
    int lx = recall ? 20 : 3 * pw + 20, ly = recall ? 30 + 2 * ph + 20 : 30 + ph + 40;
    for (int l = 0; l < nl; l++) {
        int full = !strcmp(methods[l], "FullKV");
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                   "<text x=\"%d\" y=\"%d\">",
                lx, ly + 18 * l, lx + 24, ly + 18 * l, svg_colors[l % 10], full ? " stroke-dasharray=\"6,4\"" : "",
                lx + 30, ly + 18 * l + 4);
        svg_escape(f, labels[l]);
        fprintf(f, "%s</text>\n", full ? " (reference)" : "");
    }
    fprintf(f, "</svg>\n");
    free(budgets);
    return ferror(f) ? KV_ERR : KV_OK;
}
