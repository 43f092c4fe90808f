/* kept_plot: kept positions of one sample, one panel per variant (kept_plot.h). */
#include "harness/sweep/kept_plot.h"

#include <stdlib.h>
#include <string.h>

#include "harness/sweep/analysis.h"
#include "harness/sweep/analysis_reduce.h"
#include "harness/sweep/svg.h"
#include "util/util.h"

#define KP_MAX_COLS 600
#define KP_MAX_PANELS 64

static int row_matches(const reduced *r, const pred_row *p, const char *mname, const char *task, int sample,
                       int budget)
{
    int idx;
    const item_analysis *a = analysis_of_row(r, p, &idx);
    return a && a->kept.n && p->sample == sample && (!mname || !strcmp(mname, p->model)) &&
           (!task || !strcmp(task, p->task)) && (budget < 0 || p->budget == 0 || p->budget == budget);
}

/* Mean of frac over the positions of column col of ncols (0 when the bin is empty). */
static double bin_mean(const float *frac, int L, int ncols, int col)
{
    int j0 = (int)((long)col * L / ncols), j1 = (int)((long)(col + 1) * L / ncols);
    double s = 0;
    for (int j = j0; j < j1; j++) s += frac[j];
    return j1 > j0 ? s / (j1 - j0) : 0;
}

/* One panel at y offset oy: layers × binned positions, colour = head fraction. */
static void panel(FILE *f, const kept_sets *k, int view, const char *label, int oy, int cw, int ncols)
{
    const int L = k->prompt_tokens[view], left = 150, rh = 6;
    float *frac = kv_calloc((size_t)L + 1, sizeof(float));
    char c[8];
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"12\">", left - 8, oy + k->n_layers * rh / 2 + 4);
    svg_escape(f, label);
    fprintf(f, "</text>\n");
    for (int l = 0; l < k->n_layers; l++) {
        memset(frac, 0, sizeof(float) * L);
        for (int h = 0; h < k->n_heads; h++) {
            long r = kept_row(k, view, l, h);
            for (long i = k->off[r]; i < k->off[r + 1]; i++)
                if (k->pos[i] >= 0 && k->pos[i] < L) frac[k->pos[i]] += 1.0f / k->n_heads;
        }
        /* runs of one colour drawn as one rectangle; nothing kept: background */
        for (int col = 0, run = 0; col <= ncols; col++) {
            char cur[8] = "";
            if (col < ncols) svg_ramp(bin_mean(frac, L, ncols, col), cur);
            if (col > run && (col == ncols || strcmp(cur, c))) {
                if (strcmp(c, "#ffffff"))
                    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", left + run * cw,
                            oy + l * rh, (col - run) * cw, rh, c);
                run = col;
            }
            memcpy(c, cur, sizeof c);
        }
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", left, oy,
            ncols * cw, k->n_layers * rh);
    free(frac);
}

int kept_plot_sample(const reduced *r, const char *mname, const char *task, int sample, int budget, FILE *f)
{
    const pred_row *rows[KP_MAX_PANELS];
    int n = 0;
    for (int i = 0; i < r->n_rows && n < KP_MAX_PANELS; i++) {
        const pred_row *p = &r->rows[i];
        if (!row_matches(r, p, mname, task, sample, budget)) continue;
        if (!mname) mname = p->model;
        if (!task) task = p->task;
        if (!strcmp(mname, p->model) && !strcmp(task, p->task)) rows[n++] = p;
    }
    if (!n) {
        kv_seterr("no kept sets for sample %d%s%s (run the sweep with engine: {store_kept: true})", sample,
                  task ? " of task " : "", task ? task : "");
        return KV_ERR;
    }
    int idx;
    const item_analysis *a0 = analysis_of_row(r, rows[0], &idx);
    const int L = a0->kept.prompt_tokens[idx], ncols = L < KP_MAX_COLS ? L : KP_MAX_COLS;
    const int cw = ncols > 300 ? 1 : ncols > 150 ? 2 : 4, ph = a0->kept.n_layers * 6 + 14;
    char title[512];
    snprintf(title, sizeof title, "%s, %s sample %d (%d prompt tokens): kept positions", mname, task, sample, L);
    svg_begin(f, 150 + ncols * cw + 40 > 900 ? 150 + ncols * cw + 40 : 900, 50 + n * ph + 30, title);
    for (int i = 0; i < n; i++) {
        const item_analysis *a = analysis_of_row(r, rows[i], &idx);
        char label[160];
        char bl[32];
        budget_label(rows[i]->budget, bl, sizeof bl, 1);
        snprintf(label, sizeof label, "%s%s%s", rows[i]->label, rows[i]->budget ? " @ " : "", rows[i]->budget ? bl : "");
        panel(f, &a->kept, idx, label, 40 + i * ph, cw, ncols);
    }
    fprintf(f, "<text x=\"150\" y=\"%d\" fill=\"#555\">x: prompt position 0 .. %d; y: layer (0 on top); colour: "
               "fraction of heads keeping the position</text>\n</svg>\n", 50 + n * ph + 10, L - 1);
    return ferror(f) ? KV_ERR : KV_OK;
}
