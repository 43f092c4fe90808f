/* svg: the small SVG writer the reducer's figures share (plot.c's score panels, and issue 18's
 * recall, overlap and kept-set pictures): escaping, the document header, the line colours, a colour
 * ramp, a line plot over budgets and a heatmap. */
#ifndef KV_SVG_H
#define KV_SVG_H

#include <stdio.h>

extern const char *const svg_colors[10];

void svg_escape(FILE *f, const char *s);
/* <svg> with a white background and a centred title. */
void svg_begin(FILE *f, int w, int h, const char *title);
/* "#rrggbb" for v in [0, 1] on a white → dark blue ramp (NaN: light grey) into buf[8]. */
const char *svg_ramp(double v, char *buf);

typedef struct {
    const char *label;
    double *y;           /* one value per budget, NaN when missing */
} svg_series;
/* A whole file at path: y in [0, 1] against the budgets (equally spaced), one line per series. */
int svg_line_plot(const char *path, const char *title, const char *ylabel, const int *budgets, int nb,
                  const svg_series *s, int ns);
/* A whole file at path: one row per named vector of n_cols values in [0, 1], the colour ramp, a
 * value scale. */
int svg_heatmap(const char *path, const char *title, const char *const *rows, const double *const *vals, int nr,
                int n_cols, const char *col_label);

#endif
