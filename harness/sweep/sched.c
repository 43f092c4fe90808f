/* sched: dynamic longest-first scheduling with model affinity, and its simulation (see sched.h). */
#include "harness/sweep/sched.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* qsort_r comparator of item indices (ctx: the sched with item_model, item_cost): grouped by model,
 * longest first inside each model, index order on ties. */
static int cmp_longest(const void *a, const void *b, void *ctx)
{
    const sched *s = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (s->item_model[x] != s->item_model[y]) return s->item_model[x] - s->item_model[y];
    if (s->item_cost[x] != s->item_cost[y]) return s->item_cost[x] > s->item_cost[y] ? -1 : 1;
    return x - y;
}

void sched_init(sched *s, int n_items, const int *item_model, const double *item_cost, int n_models, int n_units)
{
    memset(s, 0, sizeof *s);
    s->n_items = n_items, s->n_models = n_models, s->n_units = n_units;
    s->item_model = item_model, s->item_cost = item_cost;
    s->taken = kv_calloc(n_items, 1);
    s->order = kv_malloc(sizeof(int) * (size_t)(n_items ? n_items : 1));
    for (int i = 0; i < n_items; i++) s->order[i] = i;
    /* Grouped by model, longest first inside each model. */
    qsort_r(s->order, (size_t)n_items, sizeof(int), cmp_longest, s);
    s->cursor = kv_calloc(n_models + 1, sizeof(int));
    s->remaining = kv_calloc(n_models, sizeof(double));
    s->units_on = kv_calloc(n_models, sizeof(int));
    s->unit_model = kv_malloc(sizeof(int) * (size_t)(n_units ? n_units : 1));
    for (int u = 0; u < n_units; u++) s->unit_model[u] = -1;
    /* cursor[m] = start of model m's run in order; cursor[n_models] = end. */
    for (int m = 0, p = 0; m <= n_models; m++) {
        while (p < n_items && item_model[s->order[p]] < m) p++;
        s->cursor[m] = p;
    }
    s->end = kv_calloc(n_models + 1, sizeof(int));
    for (int m = 0; m < n_models; m++) s->end[m] = s->cursor[m + 1];
    for (int i = 0; i < n_items; i++) s->remaining[item_model[i]] += item_cost[i];
    s->n_left = n_items;
}

void sched_free(sched *s)
{
    free(s->taken), free(s->order), free(s->cursor), free(s->remaining), free(s->units_on), free(s->unit_model), free(s->end);
    memset(s, 0, sizeof *s);
}

/* End (exclusive) of model m's run in order. */
static int model_end(const sched *s, int m) { return s->end[m]; }

static int take_from(sched *s, int m)
{
    int end = model_end(s, m);
    for (int p = s->cursor[m]; p < end; p++) {
        int i = s->order[p];
        if (s->taken[i]) continue;
        s->taken[i] = 1;
        s->cursor[m] = p + 1;
        s->remaining[m] -= s->item_cost[i];
        s->n_left--;
        return i;
    }
    return -1;
}

static int model_has_items(const sched *s, int m) { return s->cursor[m] < model_end(s, m); }

int sched_next(sched *s, int unit)
{
    int cur = s->unit_model[unit];
    if (cur >= 0 && model_has_items(s, cur)) return take_from(s, cur);
    /* Switch: the model with the most remaining work per unit already on it. */
    int best = -1;
    double best_score = -1;
    for (int m = 0; m < s->n_models; m++) {
        if (!model_has_items(s, m)) continue;
        double score = s->remaining[m] / (1.0 + s->units_on[m] - (cur == m));
        if (score > best_score) best_score = score, best = m;
    }
    if (best < 0) return -1;
    if (cur >= 0) s->units_on[cur]--;
    s->unit_model[unit] = best;
    s->units_on[best]++;
    return take_from(s, best);
}

void sched_unit_done(sched *s, int unit)
{
    if (s->unit_model[unit] >= 0) s->units_on[s->unit_model[unit]]--;
    s->unit_model[unit] = -1;
}

/* Unit u runs an item of model `model` costing `cost`, loading the model first if it holds another. */
static void run_on(sched_stats *st, double *clock, int *loaded, int u, int model, const double *load_cost, double cost)
{
    if (model != loaded[u]) {
        clock[u] += load_cost[model];
        st->load += load_cost[model];
        st->loads++;
        loaded[u] = model;
    }
    clock[u] += cost;
}

static sched_stats simulate(int n_items, const int *item_model, const double *item_cost, int n_models,
                            const double *load_cost, int n_units, int dynamic)
{
    sched_stats st = {0};
    double *clock = kv_calloc(n_units, sizeof(double));
    int *loaded = kv_malloc(sizeof(int) * (size_t)n_units);
    char *active = kv_malloc((size_t)n_units);
    for (int u = 0; u < n_units; u++) loaded[u] = -1, active[u] = 1;
    double total = 0, longest = 0;
    for (int i = 0; i < n_items; i++) {
        total += item_cost[i];
        if (item_cost[i] > longest) longest = item_cost[i];
    }
    if (dynamic) {
        sched s;
        sched_init(&s, n_items, item_model, item_cost, n_models, n_units);
        for (;;) {
            /* The unit that becomes free first asks next (ties: lowest unit). */
            int u = -1;
            for (int k = 0; k < n_units; k++)
                if (active[k] && (u < 0 || clock[k] < clock[u])) u = k;
            if (u < 0) break;
            int i = sched_next(&s, u);
            if (i < 0) {
                active[u] = 0;
                sched_unit_done(&s, u);
                continue;
            }
            run_on(&st, clock, loaded, u, item_model[i], load_cost, item_cost[i]);
        }
        sched_free(&s);
    } else {
        for (int i = 0; i < n_items; i++) {
            int u = i % n_units;
            run_on(&st, clock, loaded, u, item_model[i], load_cost, item_cost[i]);
        }
    }
    for (int u = 0; u < n_units; u++) {
        if (clock[u] > st.makespan) st.makespan = clock[u];
        st.busy += clock[u];
    }
    st.idle = st.makespan * n_units - st.busy;
    st.lower_bound = total / n_units > longest ? total / n_units : longest;
    free(clock), free(loaded), free(active);
    return st;
}

sched_stats sched_simulate(int n_items, const int *item_model, const double *item_cost, int n_models,
                           const double *load_cost, int n_units)
{
    return simulate(n_items, item_model, item_cost, n_models, load_cost, n_units, 1);
}

sched_stats sched_simulate_static(int n_items, const int *item_model, const double *item_cost, int n_models,
                                  const double *load_cost, int n_units)
{
    return simulate(n_items, item_model, item_cost, n_models, load_cost, n_units, 0);
}
