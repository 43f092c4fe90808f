/* test_scheduler: the coordinator's pure scheduling rule (sched.h) without MPI — every item handed
 * out exactly once, longest first per model, model affinity, spreading of units over models —
 * and a simulated run with many ranks and thousands of items of LongBench-like cost spread,
 * compared with static round-robin sharding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep/sched.h"
#include "harness/sweep/workplan.h"
#include "tests/check.h"

/* Idle share the dynamic schedule must stay under on the simulated grid: with thousands of
 * items and longest first, the tail is a fraction of one item per unit. */
#define MAX_IDLE_FRACTION 0.03
/* Makespan vs the lower bound max(total/units, longest item) plus the load time per unit. */
#define MAX_MAKESPAN_OVER_BOUND 1.03

static void test_each_item_once(void)
{
    enum { N = 50, M = 3, U = 4 };
    int imodel[N];
    double cost[N];
    for (int i = 0; i < N; i++) imodel[i] = i % M, cost[i] = (double)((i * 37) % 50 + 1);
    sched s;
    sched_init(&s, N, imodel, cost, M, U);
    int seen[N] = {0}, got = 0, last_cost_ok = 1;
    double prev[U];
    int prev_model[U];
    for (int u = 0; u < U; u++) prev[u] = INFINITY, prev_model[u] = -1;
    for (int round = 0; round < 2 * N; round++) {
        int u = round % U;
        int i = sched_next(&s, u);
        if (i < 0) continue;
        seen[i]++;
        got++;
        /* Inside one model, a unit sees non-increasing costs (longest first). */
        if (imodel[i] == prev_model[u] && cost[i] > prev[u]) last_cost_ok = 0;
        prev[u] = cost[i], prev_model[u] = imodel[i];
    }
    int dup = 0;
    for (int i = 0; i < N; i++) dup |= seen[i] != 1;
    CHECK(got == N && !dup, "every item exactly once (got %d)", got);
    CHECK(last_cost_ok, "longest first within a model");
    CHECK(sched_next(&s, 0) == -1, "exhausted scheduler returns -1");
    sched_free(&s);
}

static void test_affinity(void)
{
    /* Two models; one unit keeps model 0 until its items run out. */
    int imodel[6] = {0, 0, 0, 1, 1, 1};
    double cost[6] = {5, 9, 1, 100, 2, 3};
    sched s;
    sched_init(&s, 6, imodel, cost, 2, 1);
    int first = sched_next(&s, 0);
    CHECK(first == 3, "a fresh unit starts on the model with most work, longest item (got %d)", first);
    int a = sched_next(&s, 0), b = sched_next(&s, 0);
    CHECK(a == 5 && b == 4, "it stays on model 1, longest first (got %d, %d)", a, b);
    int c = sched_next(&s, 0);
    CHECK(c == 1, "then switches to model 0's longest (got %d)", c);
    sched_free(&s);

    /* Two units, two equal models: they spread instead of piling onto one model. */
    int m2[4] = {0, 0, 1, 1};
    double c2[4] = {10, 10, 10, 10};
    sched_init(&s, 4, m2, c2, 2, 2);
    int x = sched_next(&s, 0), y = sched_next(&s, 1);
    CHECK(m2[x] != m2[y], "two units take different models (%d, %d)", m2[x], m2[y]);
    sched_free(&s);
}

static void test_edges(void)
{
    sched s;
    sched_init(&s, 0, NULL, NULL, 1, 3);
    CHECK(sched_next(&s, 2) == -1, "no items: -1");
    sched_free(&s);
    int imodel[1] = {0};
    double cost[1] = {1};
    sched_init(&s, 1, imodel, cost, 1, 8);
    CHECK(sched_next(&s, 5) == 0 && sched_next(&s, 6) == -1, "more units than items");
    sched_free(&s);
}

/* Deterministic LCG + Box-Muller for a log-normal prompt length distribution. */
static unsigned long long rng_state = 88172645463325252ULL;
static double uniform(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static void test_simulation(void)
{
    /* Three 8B-class models x 16 tasks x ~200 samples (items of 1 sample), LongBench-like prompt
     * lengths: log-normal around 8k tokens, 0.5k..30k, truncated per model. */
    enum { MODELS = 3, PER_MODEL = 3200, N = MODELS * PER_MODEL, UNITS = 64 };
    sweep_model m = {.n_layers = 32, .n_heads = 32, .n_kv_heads = 8, .dim = 4096, .hidden_dim = 14336,
                     .vocab_size = 128256, .head_dim = 128, .tensor_parallel = 1};
    cost_device dev = cost_device_for("cuda", "bf16");
    int *imodel = malloc(sizeof(int) * N);
    double *cost = malloc(sizeof(double) * N);
    const int trunc[MODELS] = {7950, 127500, 127500};
    double longest = 0, shortest = INFINITY;
    for (int i = 0; i < N; i++) {
        imodel[i] = i / PER_MODEL;
        double z = sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
        int L = (int)exp(log(8000.0) + 0.8 * z);
        if (L < 500) L = 500;
        if (L > 30000) L = 30000;
        if (L > trunc[imodel[i]]) L = trunc[imodel[i]];
        int task = (int)(uniform() * 16);
        int n_new = task < 6 ? 32 : (task < 9 ? 512 : 64);
        cost[i] = cost_sample(&m, &dev, L, n_new, 31, 1024);
        if (cost[i] > longest) longest = cost[i];
        if (cost[i] < shortest) shortest = cost[i];
    }
    double load[MODELS] = {8, 8, 8};
    sched_stats d = sched_simulate(N, imodel, cost, MODELS, load, UNITS);
    sched_stats st = sched_simulate_static(N, imodel, cost, MODELS, load, UNITS);
    double idle_frac = d.idle / (d.makespan * UNITS), static_idle = st.idle / (st.makespan * UNITS);
    printf("simulation: %d items (cost %.3f..%.3f s), %d units: dynamic makespan %.1f s (bound %.1f), idle %.2f%%, "
           "%d loads; static round-robin makespan %.1f s, idle %.2f%%\n",
           N, shortest, longest, UNITS, d.makespan, d.lower_bound, 100 * idle_frac, d.loads, st.makespan,
           100 * static_idle);
    CHECK(idle_frac < MAX_IDLE_FRACTION, "dynamic idle %.2f%% < %.1f%%", 100 * idle_frac, 100 * MAX_IDLE_FRACTION);
    /* The bound plus the loads actually done, spread over the units. */
    double bound = d.lower_bound + d.load / UNITS;
    CHECK(d.makespan <= MAX_MAKESPAN_OVER_BOUND * bound, "makespan %.1f within %.0f%% of bound %.1f", d.makespan,
          100 * (MAX_MAKESPAN_OVER_BOUND - 1), bound);
    CHECK(d.makespan < st.makespan, "dynamic (%.1f) beats static sharding (%.1f)", d.makespan, st.makespan);
    /* Affinity: far fewer loads than items; at most a few per unit. */
    CHECK(d.loads <= 2 * UNITS, "model loads %d <= 2 per unit", d.loads);

    /* Tiny worlds still balance: 2 units, 48 items. */
    sched_stats small = sched_simulate(48, imodel, cost, 1, load, 2);
    CHECK(small.makespan <= small.lower_bound + longest + load[0], "2 units: makespan %.2f", small.makespan);
    free(imodel), free(cost);
}

int main(void)
{
    test_each_item_once();
    test_affinity();
    test_edges();
    test_simulation();
    return check_report("test_scheduler");
}
