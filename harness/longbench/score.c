/* longbench_score: task lookup, per-sample and per-task scoring as LongBench's eval.py scorer()
 * does it, and the category/Avg aggregation of the seed's tables (DESIGN §5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/longbench/longbench.h"
#include "harness/longbench/metrics.h"

const lb_task *lb_task_find(const char *name)
{
    int i = lb_task_index(name);
    return i < 0 ? NULL : &lb_tasks[i];
}

int lb_task_index(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < LB_N_TASKS; i++)
        if (!strcmp(lb_tasks[i].name, name)) return i;
    return -1;
}

const char *lb_metric_name(lb_metric m)
{
    static const char *const names[] = {"qa_f1", "rouge_l", "classification", "retrieval", "count", "code_sim"};
    return (unsigned)m < sizeof names / sizeof names[0] ? names[m] : "?";
}

/* scorer(): for first-line tasks prediction = prediction.lstrip('\n').split('\n')[0]; then
 * score = max(score, metric(prediction, ground_truth)) over the answers, starting at 0. */
int lb_score_sample(const lb_task *t, const char *pred, const char *const *answers, int n_answers,
                    const char *const *all_classes, int n_classes, double *score)
{
    char *line = t->first_line_only ? metric_first_line(pred) : NULL;
    const char *p = line ? line : pred;
    double best = 0.0;
    int rc = KV_OK;
    if (t->metric == LB_METRIC_CLASSIFICATION && !all_classes) {
        kv_seterr("task %s needs all_classes (the reference iterates over them)", t->name);
        rc = KV_ERR;
    }
    for (int a = 0; a < n_answers && rc == KV_OK; a++) {
        double s = 0;
        switch (t->metric) {
        case LB_METRIC_QA_F1: s = metric_qa_f1(p, answers[a]); break;
        case LB_METRIC_ROUGE_L: s = metric_rouge_l(p, answers[a]); break;
        case LB_METRIC_CLASSIFICATION: s = metric_classification(p, answers[a], all_classes, n_classes); break;
        case LB_METRIC_RETRIEVAL: rc = metric_retrieval(p, answers[a], &s); break;
        case LB_METRIC_COUNT: s = metric_count(p, answers[a]); break;
        case LB_METRIC_CODE_SIM: s = metric_code_sim(p, answers[a]); break;
        }
        if (s > best) best = s; /* Python max keeps the first on ties */
    }
    free(line);
    *score = best;
    return rc;
}

/* Python round(x, 2): the double nearest to the exact decimal value of x rounded to two places,
 * ties (only possible when x is exactly representable) to even — which is what glibc's correctly
 * rounded %.2f produces; strtod brings it back to the nearest double like Python does. */
static double py_round2(double x)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%.2f", x);
    return strtod(buf, NULL);
}

double lb_task_score(const double *raw, int n)
{
    double total = 0.;
    for (int i = 0; i < n; i++) total += raw[i];
    return py_round2(100 * total / n);
}

long long lb_hundredths(double score) { return llround(score * 100.0); }

/* Mean of integer hundredths rounded half-up: floor((2·sum + n) / (2n)). Scores are >= 0. */
static long long mean_half_up(long long sum, long long n) { return (2 * sum + n) / (2 * n); }

void lb_aggregate(const double task[LB_N_TASKS], long long cat_h[LB_N_CATEGORIES], long long *avg_h)
{
    long long sum[LB_N_CATEGORIES] = {0}, cnt[LB_N_CATEGORIES] = {0}, total = 0;
    int missing[LB_N_CATEGORIES] = {0}, any_missing = 0;
    for (int i = 0; i < LB_N_TASKS; i++) {
        int c = lb_tasks[i].category_index;
        if (isnan(task[i])) {
            missing[c] = 1;
            any_missing = 1;
            continue;
        }
        long long h = lb_hundredths(task[i]);
        sum[c] += h;
        cnt[c]++;
        total += h;
    }
    for (int c = 0; c < LB_N_CATEGORIES; c++)
        cat_h[c] = (missing[c] || !cnt[c]) ? -1 : mean_half_up(sum[c], cnt[c]);
    *avg_h = any_missing ? -1 : mean_half_up(total, LB_N_TASKS);
}

void lb_hundredths_format(long long h, char *buf, size_t n)
{
    if (h < 0) snprintf(buf, n, "%s", "");
    else snprintf(buf, n, "%lld.%02lld", h / 100, h % 100);
}
