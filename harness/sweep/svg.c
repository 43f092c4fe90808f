/* svg: shared SVG pieces of the reducer's figures (svg.h). */
#include "harness/sweep/svg.h"

#include <math.h>
#include <stdio.h>

#include "engine/method.h"
#include "harness/sweep/outfile.h"
#include "util/util.h"

const char *const svg_colors[10] = {"#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
                                    "#d62728", "#8c564b", "#e377c2", "#17becf", "#bcbd22"};

void svg_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

void svg_begin(FILE *f, int w, int h, const char *title)
{
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", w, h, w, h);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"20\" "
               "text-anchor=\"middle\" font-size=\"14\">", w / 2);
    svg_escape(f, title);
    fprintf(f, "</text>\n");
}

const char *svg_ramp(double v, char *buf)
{
    if (isnan(v)) return snprintf(buf, 8, "#eeeeee"), buf;
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    snprintf(buf, 8, "#%02x%02x%02x", (int)(255 - v * 247), (int)(255 - v * 207), (int)(255 - v * 148));
    return buf;
}

static int svg_close(FILE *f, const char *tmp, const char *path)
{
    fprintf(f, "</svg>\n");
    return outfile_commit(f, tmp, path);
}

int svg_line_plot(const char *path, const char *title, const char *ylabel, const int *budgets, int nb,
                  const svg_series *s, int ns)
{
    char tmp[4200];
    FILE *f = outfile_open(path, tmp, sizeof tmp);
    if (!f) return KV_ERR;
    const int x0 = 60, x1 = 420, y0 = 300, y1 = 40, W = 620, H = 340;
    svg_begin(f, W, H, title);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", x0, y1, x1 - x0,
            y0 - y1);
#define XP(b) (nb > 1 ? x0 + 10 + (double)(b) * (x1 - x0 - 20) / (nb - 1) : (x0 + x1) / 2.0)
#define YP(v) (y0 - (v) * (y0 - y1))
    for (int t = 0; t <= 5; t++)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%d\" y=\"%.1f\" "
                   "text-anchor=\"end\">%.1f</text>\n", x0, YP(t / 5.0), x1, YP(t / 5.0), x0 - 4, YP(t / 5.0) + 4, t / 5.0);
    for (int b = 0; b < nb; b++) {
        char bl[32];
        budget_label(budgets[b], bl, sizeof bl, 1);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", XP(b), y0 + 14, bl);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">KV budget</text>\n", (x0 + x1) / 2, y0 + 30);
    fprintf(f, "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\" fill=\"#555\">", (y0 + y1) / 2,
            (y0 + y1) / 2);
    svg_escape(f, ylabel);
    fprintf(f, "</text>\n");
    for (int i = 0; i < ns; i++) {
        const char *c = svg_colors[(i + 1) % 10];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", c);
        for (int b = 0; b < nb; b++)
            if (!isnan(s[i].y[b])) fprintf(f, "%.1f,%.1f ", XP(b), YP(s[i].y[b]));
        fprintf(f, "\"/>\n");
        for (int b = 0; b < nb; b++)
            if (!isnan(s[i].y[b])) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", XP(b), YP(s[i].y[b]), c);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">",
                x1 + 20, y1 + 18 * i, x1 + 44, y1 + 18 * i, c, x1 + 50, y1 + 18 * i + 4);
        svg_escape(f, s[i].label);
        fprintf(f, "</text>\n");
    }
#undef XP
#undef YP
    return svg_close(f, tmp, path);
}

int svg_heatmap(const char *path, const char *title, const char *const *rows, const double *const *vals, int nr,
                int n_cols, const char *col_label)
{
    char tmp[4200];
    FILE *f = outfile_open(path, tmp, sizeof tmp);
    if (!f) return KV_ERR;
    const int left = 260, top = 50, cw = n_cols > 60 ? 8 : 14, ch = 16;
    int W = left + n_cols * cw + 120, H = top + nr * ch + 50;
    svg_begin(f, W < 700 ? 700 : W, H, title);
    char c[8];
    for (int r = 0; r < nr; r++) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, top + r * ch + 12);
        svg_escape(f, rows[r]);
        fprintf(f, "</text>\n");
        for (int k = 0; k < n_cols; k++)
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%.3f</title></rect>\n",
                    left + k * cw, top + r * ch, cw, ch, svg_ramp(vals[r][k], c), vals[r][k]);
    }
    for (int k = 0; k < n_cols; k += n_cols > 20 ? 5 : 1)
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", left + k * cw + cw / 2, top + nr * ch + 14, k);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">", left + n_cols * cw / 2, top + nr * ch + 32);
    svg_escape(f, col_label);
    fprintf(f, "</text>\n");
    int sx = left + n_cols * cw + 30;
    for (int t = 0; t <= 10; t++)
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"10\" fill=\"%s\"/>%s", sx, top + (10 - t) * 10,
                svg_ramp(t / 10.0, c), t % 5 ? "\n" : "");
    fprintf(f, "<text x=\"%d\" y=\"%d\">1</text><text x=\"%d\" y=\"%d\">0</text>\n", sx + 20, top + 9, sx + 20, top + 109);
    return svg_close(f, tmp, path);
}
