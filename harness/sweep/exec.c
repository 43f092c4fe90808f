/* exec: item executors (the real engine and the fake test seam), storing an item with its
 * provenance, and the planner's scan of task files (see exec.h). */
#include "harness/sweep/exec.h"
#include "harness/sweep/analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/util.h"
#include "harness/longbench/longbench.h"
#include "harness/sweep/exec_needle.h"

void exec_ctx_init(exec_ctx *c, const sweep *s, const sweep_variant *vars, int nv, const char *out_dir, int rank,
                   int world)
{
    memset(c, 0, sizeof *c);
    c->s = s, c->vars = vars, c->nv = nv, c->out_dir = out_dir, c->rank = rank, c->world = world;
    c->tp = 1;
    c->loaded_model = -1;
    c->task_samples = kv_calloc(s->n_tasks, sizeof *c->task_samples);
    c->task_n = kv_calloc(s->n_tasks, sizeof *c->task_n);
    c->task_hash = kv_calloc(s->n_tasks, sizeof *c->task_hash);
    gethostname(c->host, sizeof c->host - 1);
    snprintf(c->device, sizeof c->device, "%s", exec_fake_selected(s) ? "fake" : "unknown");
}

void exec_ctx_free(exec_ctx *c)
{
    if (c->engine) engine_close(c->engine);
    for (int t = 0; t < c->s->n_tasks; t++) {
        if (c->task_samples[t] && sweep_task_is_needle(c->s->tasks[t])) free(c->task_samples[t]); /* the haystack */
        else if (c->task_samples[t]) lb_samples_free((lb_sample *)c->task_samples[t], c->task_n[t]);
        free(c->task_hash[t]);
    }
    free(c->task_samples), free(c->task_n), free(c->task_hash);
    memset(c, 0, sizeof *c);
}

int exec_fake_selected(const sweep *s)
{
    const char *e = getenv("KVBENCH_FAKE_ENGINE");
    return s->engine.fake || (e && *e && strcmp(e, "0"));
}

/* ---- the timing list (exec.h) --------------------------------------------------------------- */

void exec_timing_add(exec_timing *a, const exec_timing *b)
{
#define TIMING_ADD(name, label) a->name += b->name;
    EXEC_TIMING_FIELDS(TIMING_ADD)
    a->items += b->items, a->samples += b->samples;
}

double exec_timing_seconds(const exec_timing *t)
{
#define TIMING_SUM(name, label) +t->name
    return 0 EXEC_TIMING_FIELDS(TIMING_SUM);
}

void exec_timing_pack(const exec_timing *t, double *m)
{
    int i = 0;
#define TIMING_PACK(name, label) m[i++] = t->name;
    EXEC_TIMING_FIELDS(TIMING_PACK)
    m[i++] = t->items, m[i] = t->samples;
}

void exec_timing_unpack(const double *m, exec_timing *t)
{
    int i = 0;
#define TIMING_UNPACK(name, label) t->name = m[i++];
    EXEC_TIMING_FIELDS(TIMING_UNPACK)
    t->items = (int)m[i++], t->samples = (int)m[i];
}

void exec_timing_print(FILE *f, const exec_timing *t, double wall, int units)
{
    double total = wall * units, rest = total - exec_timing_seconds(t);
    fprintf(f, "time: %.1fs wall x %d worker%s = %.1f worker-seconds\n", wall, units, units == 1 ? "" : "s", total);
#define TIMING_PRINT(name, label) \
    fprintf(f, "  %-30s %9.2fs  %5.1f%%\n", label, t->name, total > 0 ? 100 * t->name / total : 0);
    EXEC_TIMING_FIELDS(TIMING_PRINT)
    fprintf(f, "  %-30s %9.2fs  %5.1f%%\n", "rest (start-up, plan, reduce)", rest > 0 ? rest : 0,
            total > 0 && rest > 0 ? 100 * rest / total : 0);
}

/* ---- task data ------------------------------------------------------------------------------ */

/* The task's samples, read once per rank; the read is I/O of the item that needs it first. */
static int ensure_task(exec_ctx *c, int ti, exec_timing *t)
{
    if (c->task_samples[ti]) return KV_OK;
    double t0 = kv_now();
    char path[4096];
    sweep_task_path(c->s, c->s->tasks[ti], path, sizeof path);
    void *all;
    uint64_t hash;
    if (sweep_task_is_needle(c->s->tasks[ti])) {
        if (lb_needle_haystack_load(path, (char **)&all, &hash) != KV_OK) return KV_ERR;
    } else if (lb_load_all(path, (lb_sample **)&all, &c->task_n[ti], &hash) != KV_OK) {
        return KV_ERR;
    }
    char h[17];
    snprintf(h, sizeof h, "%016llx", (unsigned long long)hash);
    c->task_samples[ti] = all;
    c->task_hash[ti] = kv_strdup(h);
    double dt = kv_now() - t0;
    c->io_s_pending += dt;
    t->io += dt;
    return KV_OK;
}

static const lb_sample *sample_at(exec_ctx *c, int ti, int idx)
{
    if (idx < 0 || idx >= c->task_n[ti]) {
        kv_seterr("sample %d of task %s is beyond the end of its file (%d samples)", idx, c->s->tasks[ti],
                  c->task_n[ti]);
        return NULL;
    }
    return &((const lb_sample *)c->task_samples[ti])[idx];
}

static void fill_variant_columns(exec_ctx *c, const work_item *it, item_record *rec)
{
    for (int j = 0; j < it->n_variants; j++) {
        const sweep_variant *sv = &c->vars[it->variants[j]];
        rec->var[j].key = kv_strdup(sv->key);
        rec->var[j].label = kv_strdup(sv->label);
        rec->var[j].method = kv_strdup(sv->v.method->display);
        rec->var[j].budget = sv->budget;
    }
}

/* ---- the fake executor (TEST SEAM) ------------------------------------------------------ */

/* A deterministic stand-in for a model: the prediction is a prefix of the first reference answer
 * whose length grows with the budget and varies with the (sample, variant) hash, so tables have
 * per-method, per-budget structure and every rerun gives the same bytes. */
int exec_fake(exec_ctx *c, const work_item *it, item_record *rec, exec_timing *t)
{
    if (ensure_task(c, it->task, t) != KV_OK) return KV_ERR;
    const lb_task *task = lb_task_find(c->s->tasks[it->task]);
    item_record_alloc(rec, it->n_samples, it->n_variants);
    fill_variant_columns(c, it, rec);
    if (!task) { /* the needle task */
        for (int k = 0; k < it->n_samples; k++, t->samples++) exec_needle_fake(c, it, k, rec);
        return 1;
    }
    double ms_per_ktok = c->s->engine.fake_ms_per_ktok;
    const char *env = getenv("KVBENCH_FAKE_MS_PER_KTOK");
    if (env) ms_per_ktok = atof(env);
    for (int k = 0; k < it->n_samples; k++) {
        if (c->stop && *c->stop > 1) return 0;
        const lb_sample *smp = sample_at(c, it->task, it->samples[k]);
        if (!smp) return KV_ERR;
        sample_info *si = &rec->samples[k];
        size_t chars = strlen(smp->context) + strlen(smp->input) + strlen(task->template_text);
        si->index = it->samples[k];
        si->id = kv_strdup(smp->id);
        si->prompt_tokens_raw = (int)(chars / 4) + 1;
        int maxp = sweep_model_max_prompt_tokens(&c->s->models[it->model]);
        si->prompt_tokens = maxp > 0 && si->prompt_tokens_raw > maxp ? maxp : si->prompt_tokens_raw;
        double sim = ms_per_ktok * si->prompt_tokens / 1000.0 / 1000.0;
        double t0 = kv_now();
        if (sim > 0) {
            struct timespec ts = {(time_t)sim, (long)((sim - (double)(time_t)sim) * 1e9)};
            nanosleep(&ts, NULL);
        }
        si->prefill_s = kv_now() - t0;
        t->prefill += si->prefill_s;
        const char *ans = smp->n_answers > 0 ? smp->answers[0] : "";
        size_t alen = strlen(ans);
        for (int j = 0; j < it->n_variants; j++) {
            const sweep_variant *sv = &c->vars[it->variants[j]];
            var_result *r = &rec->res[(size_t)k * it->n_variants + j];
            uint64_t h = kv_fnv1a(sv->key, strlen(sv->key), kv_fnv1a(smp->id, strlen(smp->id), KV_FNV_SEED));
            /* FullKV answers in full; compressed variants lose more of the answer at small budgets. */
            double q = 1.0;
            const int bud = budget_resolve(sv->budget, si->prompt_tokens);
            if (bud > 0)
                q = (0.35 + 0.65 * bud / (bud + 0.25 * si->prompt_tokens)) *
                    (0.85 + 0.15 * (double)(h % 1000) / 999.0);
            size_t keep = (size_t)(q * (double)alen + 0.5);
            if (keep > alen) keep = alen;
            r->prediction = kv_malloc(keep + 1);
            memcpy(r->prediction, ans, keep);
            r->prediction[keep] = 0;
            r->n_generated = (int)(keep / 4) + 1;
            r->stopped = 1;
            int kept = bud > 0 && bud < si->prompt_tokens ? bud : si->prompt_tokens;
            r->kept_mean = kept, r->kept_min = kept, r->kept_max = kept, r->kept_expected = kept;
            double t1 = kv_now();
            if (lb_score_sample(task, r->prediction, (const char *const *)smp->answers, smp->n_answers,
                                (const char *const *)smp->all_classes, smp->n_classes, &r->score) != KV_OK)
                r->score = NAN;
            t->score += kv_now() - t1;
        }
        t->samples++;
    }
    return 1;
}

/* ---- the real executor ------------------------------------------------------------------ */

static int ensure_model(exec_ctx *c, int mi, exec_timing *t)
{
    if (c->loaded_model == mi) return KV_OK;
    if (c->engine) engine_close(c->engine), c->engine = NULL;
    c->loaded_model = -1;
    const sweep_model *m = &c->s->models[mi];
    engine_opts o = {.backend = c->s->engine.backend, .threads = c->s->engine.threads, .dtype = m->dtype, .tp = c->tp,
                     .tp_rank = c->tp_rank, .tp_mpi_comm = c->tp_comm, .weights = m->weights,
                     .activations = c->s->engine.activations};
    double t0 = kv_now();
    if (engine_open(m->path, &o, &c->engine) != KV_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", kv_lasterr());
        kv_seterr("cannot load model '%s' (%s): %s", m->name, m->path, msg);
        return KV_ERR;
    }
    double dt = kv_now() - t0;
    t->load += dt;
    c->load_s_pending += dt;
    c->loaded_model = mi;
    snprintf(c->device, sizeof c->device, "%s: %s", engine_backend_name(c->engine), engine_device(c->engine));
    return KV_OK;
}

/* What every sample of an item shares: the task, its chat wrapper and prompt cap, the generation
 * parameters and the variants. */
typedef struct {
    const lb_task *task;      /* NULL for the needle task */
    const char *task_name;
    const tokenizer *tok;
    chat_format cf;
    int max_prompt;
    lb_gen_rules rules;
    gen_params gp;
    variant *vars;  /* (n_variants) */
} item_setup;

static int item_setup_init(exec_ctx *c, const work_item *it, item_setup *u)
{
    const sweep *s = c->s;
    const sweep_model *m = &s->models[it->model];
    memset(u, 0, sizeof *u);
    u->tok = engine_tokenizer(c->engine);
    u->task = lb_task_find(s->tasks[it->task]);
    u->task_name = s->tasks[it->task];
    u->cf = u->task ? lb_chat_for(s->preset, m->family, u->task) : CHAT_NONE; /* the needle: the reference's own template */
    if (m->chat && !strcmp(m->chat, "native"))
        u->cf = chat_detect(u->tok);
    else if (m->chat && chat_format_parse(m->chat, &u->cf) != KV_OK)
        return KV_ERR;
    u->max_prompt = sweep_model_max_prompt_tokens(m);
    if (u->task ? lb_gen_rules_get(u->task, s->preset, u->tok, m->stop_ids, m->n_stop_ids, &u->rules)
                : lb_needle_gen_rules(u->tok, m->stop_ids, m->n_stop_ids, &u->rules))
        return KV_ERR;
    if (s->engine.max_new_tokens > 0 && s->engine.max_new_tokens < u->rules.max_new_tokens)
        u->rules.max_new_tokens = s->engine.max_new_tokens;
    lb_gen_rules_params(&u->rules, &u->gp);
    u->gp.attention_recall = s->engine.attention_recall, u->gp.keep_views = s->engine.store_kept;
    u->vars = kv_malloc(sizeof *u->vars * (size_t)it->n_variants);
    for (int j = 0; j < it->n_variants; j++) u->vars[j] = c->vars[it->variants[j]].v;
    return KV_OK;
}

/* Every sample's final prompt ids (template, chat wrapper, truncation) and its sample columns. */
static int build_prompts(exec_ctx *c, const work_item *it, const item_setup *u, item_record *rec, lb_prompt *p)
{
    if (!u->task) return exec_needle_prompts(c, it, u->tok, u->cf, rec, p);
    for (int k = 0; k < it->n_samples; k++) {
        const lb_sample *smp = sample_at(c, it->task, it->samples[k]);
        if (!smp || lb_prompt_build(u->tok, u->task, smp, u->cf, u->max_prompt, &p[k]) != KV_OK) return KV_ERR;
        sample_info *si = &rec->samples[k];
        si->index = it->samples[k];
        si->id = kv_strdup(smp->id);
        si->prompt_tokens_raw = p[k].n_full;
        si->prompt_tokens = p[k].n;
    }
    return KV_OK;
}

/* Samples [k0, k0 + n) generated together: the next batch is as many samples as the engine's memory
 * budget holds (each sample's peak by engine_sample_peak: prefix store, statistics, views and
 * tails; at least one). With a budget known (a device, or KVBENCH_CPU_MEM_BYTES) a sample that does
 * not fit even alone is an error naming the sizes: returns -1. */
static int batch_size(exec_ctx *c, const item_setup *u, const lb_prompt *p, int k0, int n_samples, int nv)
{
    size_t budget = engine_batch_budget(c->engine), used = 0;
    const int strict = !engine_host_memory(c->engine) || getenv("KVBENCH_CPU_MEM_BYTES");
    int n = 0;
    while (k0 + n < n_samples) {
        size_t prefix, stats, per_variant;
        size_t need = engine_sample_peak(c->engine, p[k0 + n].n, u->vars, nv, u->gp.max_new_tokens, &prefix, &stats,
                                         &per_variant);
        if (n == 0 && budget > 0 && need > budget && strict) {
            kv_seterr("memory: a sample of %d prompt tokens with %d variants needs %.3f GB at its peak (prefix store "
                      "%.3f GB, prefill and statistics %.3f GB, %d x %.3f GB views and tails) > %.3f GB free after "
                      "the reserve", p[k0].n, nv, need / 1e9, prefix / 1e9, stats / 1e9, nv, per_variant / 1e9,
                      budget / 1e9);
            return -1;
        }
        if (n > 0 && used + need > budget) break;
        used += need, n++;
    }
    return n;
}

/* Prediction text, counts and score of every (sample, variant) of a generated batch. */
static int store_batch(exec_ctx *c, const work_item *it, const item_setup *u, item_record *rec, int k0, int nb,
                       gen_result *out, const gen_timing *gt, exec_timing *t)
{
    int nv = it->n_variants, rc = 1;
    double t1 = kv_now();
    for (int b = 0; b < nb; b++) {
        int k = k0 + b;
        sample_info *si = &rec->samples[k];
        const lb_sample *smp = u->task ? sample_at(c, it->task, it->samples[k]) : NULL;
        si->prefill_s = gt[b].prefill_s, si->compress_s = gt[b].compress_s, si->decode_s = gt[b].decode_s;
        t->prefill += gt[b].prefill_s, t->compress += gt[b].compress_s, t->decode += gt[b].decode_s;
        for (int j = 0; j < nv; j++) {
            var_result *r = &rec->res[(size_t)k * nv + j];
            const gen_result *g = &out[(size_t)b * nv + j];
            size_t len;
            if (rc == 1 && lb_prediction_text(u->tok, g->ids, g->n_ids, &r->prediction, &len) != KV_OK) rc = KV_ERR;
            r->n_generated = g->n_ids, r->stopped = g->stopped, r->kept_expected = g->kept_expected;
            r->kept_mean = g->kept_mean, r->kept_min = g->kept_min, r->kept_max = g->kept_max;
            if (rec->an) analysis_set(rec->an, k * nv + j, &out[(size_t)b * nv + j], si->prompt_tokens);
            if (rc == 1 && !u->task)
                r->score = lb_needle_score(c->s->needle.needle, r->prediction);
            else if (rc == 1 && lb_score_sample(u->task, r->prediction, (const char *const *)smp->answers, smp->n_answers,
                                           (const char *const *)smp->all_classes, smp->n_classes,
                                           &r->score) != KV_OK) {
                fprintf(stderr, "kvbench: warning: %s sample %d cannot be scored: %s\n", u->task_name, si->index,
                        kv_lasterr());
                r->score = NAN;
            }
        }
        t->samples++;
    }
    t->score += kv_now() - t1;
    return rc;
}

/* The real executor: the item's samples through engine_generate_batch, as many per batch as the
 * engine's memory budget holds (one prefill per sample, all variants of all of them decoded together). */
int exec_engine(exec_ctx *c, const work_item *it, item_record *rec, exec_timing *t)
{
    if (ensure_model(c, it->model, t) != KV_OK || ensure_task(c, it->task, t) != KV_OK) return KV_ERR;
    item_setup u;
    if (item_setup_init(c, it, &u) != KV_OK) return free(u.vars), KV_ERR;
    int ns = it->n_samples, nv = it->n_variants, rc = 1;
    item_record_alloc(rec, ns, nv);
    rec->an = analysis_new(ns, nv, engine_config(c->engine)->n_layers, u.gp.attention_recall, u.gp.keep_views);
    fill_variant_columns(c, it, rec);
    lb_prompt *p = kv_calloc(ns, sizeof *p);
    const int **ids = kv_calloc(ns, sizeof *ids);
    int *lens = kv_calloc(ns, sizeof *lens);
    gen_result *out = kv_calloc((size_t)ns * nv, sizeof *out);
    gen_timing *gt = kv_calloc(ns, sizeof *gt);
    if (build_prompts(c, it, &u, rec, p) != KV_OK) rc = KV_ERR;
    for (int k = 0; k < ns && rc == 1; k++) ids[k] = p[k].ids, lens[k] = p[k].n;
    for (int k0 = 0, nb; k0 < ns && rc == 1; k0 += nb) {
        if (c->stop && *c->stop > 1) {
            rc = 0;
            break;
        }
        nb = batch_size(c, &u, p, k0, ns, nv);
        if (nb < 0) {
            rc = KV_ERR;
            break;
        }
        if (engine_generate_batch(c->engine, ids + k0, lens + k0, nb, u.vars, nv, &u.gp, out, gt) != KV_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", kv_lasterr());
            kv_seterr("generation failed on %s samples %d..%d: %s", u.task_name, it->samples[k0],
                      it->samples[k0 + nb - 1], msg);
            rc = KV_ERR;
            break;
        }
        rc = store_batch(c, it, &u, rec, k0, nb, out, gt, t);
        for (int i = 0; i < nb * nv; i++) gen_result_free(&out[i]);
    }
    for (int k = 0; k < ns; k++) lb_prompt_free(&p[k]);
    free(p), free(ids), free(lens), free(out), free(gt), free(u.vars);
    return rc;
}

/* ---- storing an item -------------------------------------------------------------------- */

static char *hex64(uint64_t h)
{
    char *b = kv_malloc(17);
    snprintf(b, 17, "%016llx", (unsigned long long)h);
    return b;
}

int exec_item_run(exec_ctx *c, item_exec_fn fn, const work_item *it, exec_timing *t, int *dropped)
{
    const sweep *s = c->s;
    item_record rec;
    memset(&rec, 0, sizeof rec);
    *dropped = 0;
    /* `other`: the item's wall time that no other timing field took (prompts, item set-up). */
    double t_item = kv_now(), seconds0 = exec_timing_seconds(t);
    int rc = fn(c, it, &rec, t);
    if (rc != 1 || c->tp_rank != 0) {
        item_record_free(&rec);
        if (rc == 0) *dropped = 1;
        if (rc == 0 || rc == 1) t->items += rc == 1;
        double rest = kv_now() - t_item - (exec_timing_seconds(t) - seconds0);
        t->other += rest > 0 ? rest : 0;
        return rc == KV_ERR ? KV_ERR : KV_OK;
    }
    const sweep_model *m = &s->models[it->model];
    item_prov *p = &rec.prov;
    char path[4096], created[64];
    sweep_task_path(s, s->tasks[it->task], path, sizeof path);
    store_utc_now(created, sizeof created);
    p->sweep = kv_strdup(s->name);
    p->sweep_hash = hex64(s->hash);
    p->model = kv_strdup(m->name);
    p->model_path = kv_strdup(m->path);
    p->model_hash = kv_strdup(c->engine ? engine_model_hash(c->engine) : "fake");
    p->family = kv_strdup(m->family);
    p->dtype = kv_strdup(c->engine ? engine_dtype(c->engine) : m->dtype); /* what was computed in */
    engine_memory mem = {.formats = ""};
    if (c->engine) engine_memory_info(c->engine, &mem);
    /* the weight matrices as held ("" for the fake executor), and 8-bit activations where decode used them */
    char held[160];
    const int q8 = mem.activations[0] && strcmp(mem.activations, "f32");
    snprintf(held, sizeof held, "%s%s%s", mem.formats, q8 ? ", activations " : "", q8 ? mem.activations : "");
    p->weights = kv_strdup(held);
    p->chat = kv_strdup(m->chat ? m->chat : "preset");
    p->max_prompt_tokens = m->max_prompt_tokens;
    p->tensor_parallel = m->tensor_parallel;
    p->n_stop_ids = m->n_stop_ids;
    memcpy(p->stop_ids, m->stop_ids, sizeof(int) * (size_t)m->n_stop_ids);
    p->task = kv_strdup(s->tasks[it->task]);
    p->data_file = kv_strdup(path);
    p->data_hash = kv_strdup(c->task_hash[it->task] ? c->task_hash[it->task] : "");
    p->preset = kv_strdup(preset_name(s->preset));
    p->max_new_tokens = s->engine.max_new_tokens;
    p->engine_rev = kv_strdup(store_engine_rev());
    p->host = kv_strdup(c->host);
    p->device = kv_strdup(c->device);
    p->backend = kv_strdup(exec_fake_selected(s) ? "fake" : s->engine.backend);
    p->created = kv_strdup(created);
    p->rank = c->rank;
    p->world = c->world;
    p->load_s = c->load_s_pending;
    p->io_s = c->io_s_pending; /* store_write_item adds the writing */
    c->load_s_pending = c->io_s_pending = 0;
    double t0 = kv_now();
    int wrc = store_write_item(c->out_dir, it->file, &rec, c->rank);
    t->io += kv_now() - t0;
    item_record_free(&rec);
    double rest = kv_now() - t_item - (exec_timing_seconds(t) - seconds0);
    t->other += rest > 0 ? rest : 0;
    if (wrc != KV_OK) return KV_ERR;
    t->items++;
    return KV_OK;
}

/* ---- planning scan ---------------------------------------------------------------------- */

int exec_scan_task(const sweep *s, int ti, task_data *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    if (sweep_task_is_needle(s->tasks[ti])) return exec_needle_scan(s, out);
    sweep_task_path(s, s->tasks[ti], path, sizeof path);
    const lb_task *task = lb_task_find(s->tasks[ti]);
    lb_reader *r;
    if (lb_reader_open_hashed(path, &r, &out->hash) != KV_OK) return KV_ERR; /* one read: hash and scan */
    int cap = 64;
    out->index = kv_malloc(sizeof(int) * (size_t)cap);
    out->est_tokens = kv_malloc(sizeof(int) * (size_t)cap);
    lb_sample smp;
    int rc, i = 0;
    while ((rc = lb_reader_next(r, &smp)) == 1) {
        if (sweep_sample_selected(s, i)) {
            if (out->n == cap) {
                cap *= 2;
                out->index = kv_realloc(out->index, sizeof(int) * (size_t)cap);
                out->est_tokens = kv_realloc(out->est_tokens, sizeof(int) * (size_t)cap);
            }
            /* ~4 characters per token for English BPE vocabularies; the truncation cap is
             * applied by the planner per model. */
            size_t chars = strlen(smp.context) + strlen(smp.input) + strlen(task->template_text);
            out->index[out->n] = i;
            out->est_tokens[out->n] = (int)(chars / 4) + 1;
            out->n++;
        }
        lb_sample_free(&smp);
        i++;
    }
    lb_reader_close(r);
    out->n_in_file = i;
    if (rc != 0) {
        task_data_free(out);
        return KV_ERR;
    }
    return KV_OK;
}

void task_data_free(task_data *d)
{
    free(d->index), free(d->est_tokens);
    memset(d, 0, sizeof *d);
}
