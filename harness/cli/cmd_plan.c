/* cmd_plan: `kvbench plan SWEEP.yaml` — validate a sweep exactly as `run` does, then print the
 * grid, the work items still missing in the output folder, the ranks' roles and an estimated
 * cost (the scheduler simulated on the planned ranks); runs nothing and writes nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "harness/cli/commands.h"
#include "harness/sweep/kept_store.h"
#include "harness/cli/options.h"
#include "harness/sweep/exec.h"
#include "harness/longbench/longbench.h"
#include "harness/sweep/run_plan.h"
#include "engine/memplan.h"
#include "harness/sweep/sched.h"

static void fmt_dur(double s, char *b, size_t n)
{
    if (s < 120) snprintf(b, n, "%.1f s", s);
    else if (s < 7200) snprintf(b, n, "%.1f min", s / 60);
    else snprintf(b, n, "%.1f h", s / 3600);
}

static int env_ranks(void)
{
    const char *v[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", NULL};
    for (int i = 0; v[i]; i++)
        if (getenv(v[i])) return atoi(getenv(v[i]));
    return 1;
}

/* The sweep, its models, tasks, variants and the size of the grid. */
static void print_grid(const sweep *s, const sweep_variant *vars, int nv, const run_plan *p, const char *out_dir)
{
    printf("sweep %s (%s, hash %016llx)%s\n", s->name, s->file, (unsigned long long)s->hash,
           exec_fake_selected(s) ? "  [FAKE ENGINE: test seam, no model is run]" : "");
    printf("  preset %s, data %s, output %s\n", preset_name(s->preset), s->data_dir, out_dir);
    printf("\nmodels (%d):\n", s->n_models);
    for (int m = 0; m < s->n_models; m++) {
        const sweep_model *md = &s->models[m];
        printf("  %-28s %s\n", md->name, md->path);
        if (md->n_layers)
            printf("    %d layers, %d heads (%d KV), dim %d, %.2fB params; family %s, dtype %s, tensor_parallel %d, "
                   "max_prompt_tokens %d\n",
                   md->n_layers, md->n_heads, md->n_kv_heads, md->dim, cost_params(md) / 1e9, md->family, md->dtype,
                   md->tensor_parallel, sweep_model_max_prompt_tokens(md));
    }
    printf("\ntasks (%d):\n", s->n_tasks);
    long samples = 0;
    for (int t = 0; t < s->n_tasks; t++) {
        const task_data *d = &p->data[t];
        long sum = 0;
        int mx = 0;
        for (int k = 0; k < d->n; k++) sum += d->est_tokens[k], mx = d->est_tokens[k] > mx ? d->est_tokens[k] : mx;
        printf("  %-22s %4d of %4d samples, est. prompt tokens mean %6.0f max %6d\n", s->tasks[t], d->n, d->n_in_file,
               d->n ? (double)sum / d->n : 0.0, mx);
        samples += d->n;
    }
    printf("\nvariants (%d): budgets", nv);
    for (int b = 0; b < s->n_budgets; b++) {
        char bl[32];
        budget_label(s->budgets[b], bl, sizeof bl, 1);
        printf(" %s", bl);
    }
    printf("\n");
    for (int v = 0; v < nv; v++) printf("  %-20s %s\n", vars[v].label, vars[v].key);
    printf("\ngrid: %d models x %ld samples x %d variants = %ld results; %d already stored in %s (%d item files)\n",
           s->n_models, samples, nv, p->n_cells, p->n_done, out_dir, p->n_item_files);
}

/* The work items still missing, the longest first. */
static void print_work(const sweep *s, const run_plan *p, int show)
{
    double total = 0;
    for (int i = 0; i < p->n_items; i++) total += p->items[i].cost;
    printf("work: %d items (model, task, up to %d samples, every missing variant; one prefill per sample)\n",
           p->n_items, s->engine.samples_per_item);
    for (int i = 0; i < p->n_items && i < show; i++) {
        char d[32];
        fmt_dur(p->items[i].cost, d, sizeof d);
        printf("  %-60s %2d samples %3d variants %7d tokens  est. %s\n", p->items[i].file, p->items[i].n_samples,
               p->items[i].n_variants, p->items[i].est_tokens, d);
    }
    if (p->n_items > show) printf("  ... %d more\n", p->n_items - show);
}

/* The extra item-file bytes of store_kept / attention_recall (issue 18): kept sets as CSR (kept_store.h)
 * with min(budget, L) positions per (layer, head), L each sample's estimated prompt length. */
static void print_analysis_size(const sweep *s, const sweep_variant *vars, const run_plan *p)
{
    if (!s->engine.store_kept && !s->engine.attention_recall) return;
    double kept = 0, recall = 0;
    for (int i = 0; i < p->n_items; i++) {
        const work_item *it = &p->items[i];
        const sweep_model *md = &s->models[it->model];
        int L = it->n_samples ? it->est_tokens / it->n_samples : 0;
        for (int j = 0; j < it->n_variants; j++) {
            int b = vars[it->variants[j]].budget, c = b ? budget_resolve(b, L) : L;
            if (s->engine.store_kept) kept += kept_sets_bytes(it->n_samples, md->n_layers, md->n_heads, c < L ? c : L);
            recall += (double)it->n_samples * (8.0 * (1 + md->n_layers) + (s->engine.store_kept ? 8.0 * 64 : 0));
        }
    }
    printf("analysis (issue 18): %s%s%s: est. %.1f MiB extra in the item files (kept sets %.1f MiB, recall %.1f MiB)\n",
           s->engine.store_kept ? "store_kept" : "", s->engine.store_kept && s->engine.attention_recall ? " + " : "",
           s->engine.attention_recall ? "attention_recall" : "", (kept + recall) / 1048576, kept / 1048576,
           recall / 1048576);
}

/* Who does what on `ranks` ranks in groups of tp. */
static void print_roles(int ranks, int tp)
{
    int units = ranks / tp;
    printf("\nroles (%d rank%s, %d group%s of %d):\n", ranks, ranks == 1 ? "" : "s", units, units == 1 ? "" : "s", tp);
    printf("  rank 0: coordinator (hands out items longest first, keeps each group on its model) and %s\n",
           tp > 1 ? "leader of group 0" : "worker");
    if (tp > 1)
        printf("  ranks g*%d .. g*%d+%d: group g (MPI_Comm_split by rank / %d); rank g*%d leads and talks to rank 0\n",
               tp, tp, tp - 1, tp, tp);
    else if (ranks == 2)
        printf("  rank 1: worker\n");
    else if (ranks > 2)
        printf("  ranks 1..%d: workers\n", ranks - 1);
}

/* The scheduler simulated on the planned groups: total work, wall time, model loads, idle. */
static void print_cost(const sweep *s, const run_plan *p, int units, int tp)
{
    double total = 0;
    for (int i = 0; i < p->n_items; i++) total += p->items[i].cost;
    /* Estimated cost: the scheduler simulated with these items; loading reads the weights once
     * at ~2 GB/s per group-> */
    int *im = kv_calloc(p->n_items + 1, sizeof(int));
    double *ic = kv_calloc(p->n_items + 1, sizeof(double)), *lc = kv_calloc(s->n_models, sizeof(double));
    for (int i = 0; i < p->n_items; i++) im[i] = p->items[i].model, ic[i] = p->items[i].cost;
    for (int m = 0; m < s->n_models; m++) {
        cost_device dev = cost_device_for(s->engine.backend, s->models[m].dtype);
        lc[m] = cost_params(&s->models[m]) * dev.bytes_per_weight / tp / 2e9;
    }
    sched_stats st = sched_simulate(p->n_items, im, ic, s->n_models, lc, units);
    char a[32], b[32], c[32];
    fmt_dur(total, a, sizeof a);
    fmt_dur(st.makespan, b, sizeof b);
    fmt_dur(st.load, c, sizeof c);
    const char *dev = s->engine.backend && !strcmp(s->engine.backend, "cpu") ? "CPU (50 GFLOP/s, 10 GB/s)"
                                                                           : "GPU (H200 class at ~50% of peak)";
    printf("\nestimated cost on %s: %s of work in total; on %d group%s: %s wall (%d model loads, %s), "
           "idle %.1f%%\n",
           dev, a, units, units == 1 ? "" : "s", b, st.loads, c,
           st.makespan > 0 ? 100 * st.idle / (st.makespan * units) : 0.0);
    printf("  (a rough model: prefill FLOPs + bandwidth-bound batched decode at full max_new_tokens; use it to size "
           "jobs, not as a benchmark)\n");
    free(im), free(ic), free(lc);
}

/* Per model and prompt length (powers of 4 from 1k up to the model's prompt cap, and the cap): the
 * backend bytes one sample of every variant peaks at (engine/memplan.h), per rank of its TP group. */
static void print_memory(const sweep *s, const sweep_variant *vars, int nv)
{
    int max_new = s->engine.max_new_tokens;
    for (int t = 0; t < s->n_tasks && max_new <= 0; t++) {
        const lb_task *task = lb_task_find(s->tasks[t]);
        max_new = task && task->max_new_tokens > max_new ? task->max_new_tokens : max_new;
    }
    variant *vs = kv_malloc(sizeof(variant) * (size_t)(nv > 0 ? nv : 1));
    for (int i = 0; i < nv; i++) vs[i] = vars[i].v;
    printf("memory per sample (%d variants decoded together, %d new tokens; prefix store + max(prefill + "
           "statistics, views + tails), per rank):\n", nv, max_new);
    for (int m = 0; m < s->n_models; m++) {
        const sweep_model *sm = &s->models[m];
        if (sm->n_layers <= 0) continue; /* shape unknown (fake executor) */
        model_config cfg = {.n_layers = sm->n_layers, .n_heads = sm->n_heads, .n_kv_heads = sm->n_kv_heads,
                            .head_dim = sm->head_dim, .dim = sm->dim, .hidden_dim = sm->hidden_dim};
        int cap = sweep_model_max_prompt_tokens(sm);
        if (cap <= 0) cap = 131072;
        printf("  %s (tensor_parallel %d):", sm->name, sm->tensor_parallel);
        for (int L = 1024;; L *= 4) {
            int len = L < cap ? L : cap;
            mem_plan mp;
            mem_plan_sample(&cfg, sm->tensor_parallel, len, vs, nv, max_new, &mp);
            printf(" L %d: %.2f GB (prefix %.2f, statistics %.2f)%s", len, mp.peak / 1e9, mp.prefix / 1e9,
                   mp.stats / 1e9, len == cap ? "\n" : ";");
            if (len == cap) break;
        }
    }
    free(vs);
}

int cmd_plan(int argc, char **argv)
{
    const char *path = NULL, *out_dir = NULL;
    int ranks = 0, show = 5;
    const cli_opt opts[] = {
        {"--output", "DIR", OPT_STR, &out_dir, 0, "result folder to compare against (default: the sweep's output)"},
        {"--ranks", "N", OPT_INT, &ranks, 0, "ranks to plan for (default: the mpirun/srun size if launched, else 1)"},
        {"--items", "N", OPT_INT, &show, 0, "list the N longest items (default 5)"},
        {0},
    };
    const cli_spec spec = {
        .name = "plan",
        .usage = "kvbench plan SWEEP.yaml [--output DIR] [--ranks N] [--items N]",
        .about = "Validate the sweep (the same checks as run: YAML shape, tasks, methods and knobs, budgets\n"
                 "against each method, model configs and tensor_parallel, data files) and print the grid,\n"
                 "the work items still missing in the output folder, the ranks' roles and an estimated cost.\n"
                 "Nothing is run or written.",
        .opts = opts, .positional = &path,
    };
    int prc = cli_parse(&spec, argc, argv);
    if (prc != CLI_OK) return cli_exit(prc);
    if (!path) {
        fprintf(stderr, "kvbench: error: no sweep file (plan): kvbench plan SWEEP.yaml\n");
        return 2;
    }
    if (ranks <= 0) ranks = env_ranks();
    sweep s;
    sweep_variant *vars = NULL;
    int nv;
    if (sweep_load(path, &s) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        return 2;
    }
    int fake = exec_fake_selected(&s);
    if (sweep_variants(&s, &vars, &nv) != KV_OK || (!fake && sweep_check_models(&s) != KV_OK)) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        free(vars), sweep_free(&s);
        return 2;
    }
    int tp = s.models[0].tensor_parallel;
    if (ranks % tp) {
        fprintf(stderr, "kvbench: error: tensor_parallel %d does not divide %d ranks (plan --ranks): a multiple of %d\n",
                tp, ranks, tp);
        free(vars), sweep_free(&s);
        return 2;
    }
    if (!out_dir) out_dir = s.output;
    run_plan p;
    if (run_plan_prepare(&s, vars, nv, out_dir, 0, &p) != KV_OK) {
        fprintf(stderr, "kvbench: error: %s\n", kv_lasterr());
        free(vars), sweep_free(&s);
        return 2;
    }
    print_grid(&s, vars, nv, &p, out_dir);
    print_work(&s, &p, show);
    print_analysis_size(&s, vars, &p);
    print_roles(ranks, tp);
    print_cost(&s, &p, ranks / tp, tp);
    print_memory(&s, vars, nv);
    run_plan_free(&p);
    free(vars);
    sweep_free(&s);
    return 0;
}
