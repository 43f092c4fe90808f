/* sched: the coordinator's dynamic scheduling rule as a pure state machine, and a discrete-event
 * simulation of a whole run with it. A unit is one worker (a rank, or a tensor-parallel group).
 * Rule: a unit keeps its loaded model while items for that model remain and takes that model's
 * longest remaining item; a unit that must (re)load takes the model with the most remaining work
 * per unit already on it (so units spread over models), then that model's longest item. */
#ifndef KV_SCHED_H
#define KV_SCHED_H

typedef struct {
    int n_items, n_models, n_units;
    const int *item_model;    /* (n_items) */
    const double *item_cost;  /* (n_items) */
    char *taken;              /* (n_items) */
    int *order;               /* (n_items) item indices, longest first */
    int *cursor;              /* (n_models + 1) first untaken position of each model in order */
    int *end;                 /* (n_models) end of each model's run in order */
    double *remaining;        /* (n_models) cost not yet handed out */
    int *units_on;            /* (n_models) units whose loaded model it is */
    int *unit_model;          /* (n_units) loaded model or -1 */
    int n_left;
} sched;

void sched_init(sched *s, int n_items, const int *item_model, const double *item_cost, int n_models, int n_units);
void sched_free(sched *s);
/* The next item for `unit` (-1 when none is left). Updates the unit's loaded model. */
int sched_next(sched *s, int unit);
/* The unit leaves (stopped or finished); it no longer counts as holding its model. */
void sched_unit_done(sched *s, int unit);

typedef struct {
    double makespan;      /* seconds until the last unit finishes */
    double busy;          /* summed over units: item time + load time */
    double idle;          /* summed over units: makespan - busy */
    double load;          /* summed load time */
    int loads;            /* model loads */
    double lower_bound;   /* max(total work / units, longest item) */
} sched_stats;

/* Simulate a run: each unit takes items by the rule above; loading model m costs load_cost[m]. */
sched_stats sched_simulate(int n_items, const int *item_model, const double *item_cost, int n_models,
                           const double *load_cost, int n_units);
/* Baseline for comparison: static round-robin sharding of the same list (item i to unit i % n). */
sched_stats sched_simulate_static(int n_items, const int *item_model, const double *item_cost, int n_models,
                                  const double *load_cost, int n_units);

#endif
