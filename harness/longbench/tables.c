/* longbench_tables: the seed's RESULTS layout — per (model, budget) a header block, the 16-task
 * table with Avg, the category table with Avg and the category mapping — and the CSV of the same
 * numbers. Used by `kvbench score --results` and by the reducer. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "harness/longbench/longbench.h"

void lb_result_row_init(lb_result_row *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < LB_N_TASKS; i++) r->task[i] = NAN;
}

static int same_group(const lb_result_row *a, const lb_result_row *b)
{
    return a->budget == b->budget && !strcmp(a->model, b->model);
}

/* Row indices of each group in table order: groups by first appearance, methods by rank, then
 * by appearance. order[] receives n indices; group_start[] the first position of each group. */
static int order_rows(const lb_result_row *rows, int n, int *order, int *group_start)
{
    int *done = kv_calloc((size_t)n + 1, sizeof *done);
    int k = 0, g = 0;
    for (int i = 0; i < n; i++) {
        if (done[i]) continue;
        group_start[g++] = k;
        for (int rank = 0; rank <= method_count(); rank++)
            for (int j = i; j < n; j++)
                if (!done[j] && same_group(&rows[i], &rows[j]) && method_rank(rows[j].method) == rank) {
                    done[j] = 1;
                    order[k++] = j;
                }
    }
    group_start[g] = k;
    free(done);
    return g;
}

/* The text of a value: "incomplete" where a damaged item of the cell was set aside (issue 19),
 * else the hundredths ("" when missing). */
static const char *value_text(long long h, int incomplete, char buf[32])
{
    if (incomplete) return "incomplete";
    lb_hundredths_format(h, buf, 32);
    return buf;
}

/* Is category c (or, c < 0, any task: the Avg) fed by an incomplete task cell? */
static int fed_by_incomplete(const lb_result_row *row, int c)
{
    for (int t = 0; t < LB_N_TASKS; t++)
        if ((row->incomplete >> t & 1u) && (c < 0 || lb_tasks[t].category_index == c)) return 1;
    return 0;
}

static void cell(FILE *f, long long h, int incomplete)
{
    char buf[32];
    fprintf(f, " %s |", value_text(h, incomplete, buf));
}

static int any_incomplete(const lb_result_row *rows, const int *idx, int m)
{
    for (int r = 0; r < m; r++)
        if (rows[idx[r]].incomplete) return 1;
    return 0;
}

static const char *first_nonempty(const lb_result_row *rows, const int *idx, int n, size_t off)
{
    for (int i = 0; i < n; i++) {
        const char *s = (const char *)&rows[idx[i]] + off;
        if (*s) return s;
    }
    return "";
}

/* One markdown table of a group: a row per method with its task scores (by_category 0) or its
 * category scores (1), then Avg. */
static void md_table(FILE *f, const lb_result_row *rows, const int *idx, int m, int by_category)
{
    const int nc = by_category ? LB_N_CATEGORIES : LB_N_TASKS;
    fprintf(f, "| Method |");
    for (int c = 0; c < nc; c++) fprintf(f, " %s |", by_category ? lb_categories[c] : lb_tasks[c].display);
    fprintf(f, " Avg |\n|---|");
    for (int c = 0; c <= nc; c++) fprintf(f, "---:|");
    fprintf(f, "\n");
    for (int r = 0; r < m; r++) {
        const lb_result_row *row = &rows[idx[r]];
        long long cat[LB_N_CATEGORIES], avg;
        lb_aggregate(row->task, cat, &avg);
        fprintf(f, "| %s |", row->method);
        for (int c = 0; c < nc; c++)
            cell(f, by_category ? cat[c] : isnan(row->task[c]) ? -1 : lb_hundredths(row->task[c]),
                 by_category ? fed_by_incomplete(row, c) : (int)(row->incomplete >> c & 1u));
        cell(f, avg, fed_by_incomplete(row, -1));
        fprintf(f, "\n");
    }
}

int lb_tables_write_md(FILE *f, const lb_result_row *rows, int n)
{
    int *order = kv_malloc(((size_t)n + 1) * sizeof *order);
    int *gs = kv_malloc(((size_t)n + 2) * sizeof *gs);
    int ng = order_rows(rows, n, order, gs);
    for (int g = 0; g < ng; g++) {
        const int *idx = order + gs[g];
        int m = gs[g + 1] - gs[g];
        const lb_result_row *h = &rows[idx[0]];
        if (g) fprintf(f, "\n");
        char bl[32];
        if (h->budget_label[0]) snprintf(bl, sizeof bl, "%s", h->budget_label);
        else snprintf(bl, sizeof bl, "%d", h->budget);
        fprintf(f, "## %s, KV budget %s\n\n", h->model, bl);
        fprintf(f, "- **Model**: %s\n", h->model);
        fprintf(f, "- **KV Budget**: %s\n", bl);
        fprintf(f, "- **Attention**: %s\n", first_nonempty(rows, idx, m, offsetof(lb_result_row, attention)));
        fprintf(f, "- **Hardware**: %s\n\n", first_nonempty(rows, idx, m, offsetof(lb_result_row, hardware)));

        md_table(f, rows, idx, m, 0);
        fprintf(f, "\n");
        md_table(f, rows, idx, m, 1);

        fprintf(f, "\n| Category | Tasks |\n|---|---|\n");
        for (int c = 0; c < LB_N_CATEGORIES; c++) {
            fprintf(f, "| %s |", lb_categories[c]);
            int first = 1;
            for (int t = 0; t < LB_N_TASKS; t++)
                if (lb_tasks[t].category_index == c) {
                    fprintf(f, "%s%s", first ? " " : ", ", lb_tasks[t].display);
                    first = 0;
                }
            fprintf(f, " |\n");
        }
        if (any_incomplete(rows, idx, m))
            fprintf(f, "\nincomplete: an item file of the cell was damaged and set aside in quarantine/; "
                       "`kvbench run` recomputes it.\n");
    }
    free(order);
    free(gs);
    return ferror(f) ? (kv_seterr("writing the markdown tables failed"), KV_ERR) : KV_OK;
}

/* A CSV field, quoted when it holds a comma, quote or newline (RFC 4180). */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_value(FILE *f, long long h, int incomplete)
{
    char buf[32];
    fprintf(f, ",%s", value_text(h, incomplete, buf));
}

int lb_tables_write_csv(FILE *f, const lb_result_row *rows, int n)
{
    int *order = kv_malloc(((size_t)n + 1) * sizeof *order);
    int *gs = kv_malloc(((size_t)n + 2) * sizeof *gs);
    order_rows(rows, n, order, gs);
    fprintf(f, "model,budget,method");
    for (int t = 0; t < LB_N_TASKS; t++) fprintf(f, ",%s", lb_tasks[t].name);
    for (int c = 0; c < LB_N_CATEGORIES; c++) fprintf(f, ",%s", lb_categories[c]);
    fprintf(f, ",Avg\n");
    for (int i = 0; i < n; i++) {
        const lb_result_row *row = &rows[order[i]];
        long long cat[LB_N_CATEGORIES], avg;
        lb_aggregate(row->task, cat, &avg);
        csv_field(f, row->model);
        if (row->budget_label[0] && strchr(row->budget_label, '%')) /* CSV: the fraction as a number */
            fprintf(f, ",%.10g,", atof(row->budget_label) / 100);
        else fprintf(f, ",%d,", row->budget);
        csv_field(f, row->method);
        for (int t = 0; t < LB_N_TASKS; t++)
            csv_value(f, isnan(row->task[t]) ? -1 : lb_hundredths(row->task[t]), row->incomplete >> t & 1u);
        for (int c = 0; c < LB_N_CATEGORIES; c++) csv_value(f, cat[c], fed_by_incomplete(row, c));
        csv_value(f, avg, fed_by_incomplete(row, -1));
        fprintf(f, "\n");
    }
    free(order);
    free(gs);
    return ferror(f) ? (kv_seterr("writing the CSV failed"), KV_ERR) : KV_OK;
}
