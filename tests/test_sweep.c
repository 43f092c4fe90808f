/* test_sweep: sweep YAML parsing and validation (every error names file:line:column and what was
 * expected), variant expansion, and the pure work-plan functions: item expansion, resume (a done
 * set skips finished results; a grown sweep yields items for the missing variants only), unique
 * item names, longest-first order, and the broadcast packing round trip. No MPI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/util.h"
#include "harness/sweep/exec.h"
#include "harness/sweep/run_plan.h"
#include "harness/sweep/sweep.h"
#include "harness/sweep/store.h"
#include "harness/sweep/workplan.h"
#include "tests/check.h"

#define TMP "tests/tmp/test_sweep"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static const char *model_block = "models:\n  - name: m1\n    path: " TMP "/model.gguf\n";

/* Load a sweep from text; returns status, leaves the error in kv_lasterr(). */
static int load_text(const char *text, sweep *s)
{
    write_file(TMP "/s.yaml", text);
    return sweep_load(TMP "/s.yaml", s);
}

static void expect_error(const char *what, const char *text, const char *needle1, const char *needle2)
{
    sweep s;
    int rc = load_text(text, &s);
    const char *e = kv_lasterr();
    CHECK(rc == KV_ERR && strstr(e, needle1) && (!needle2 || strstr(e, needle2)), "%s: got rc %d, '%s' (want '%s' and '%s')",
          what, rc, e, needle1, needle2 ? needle2 : "");
    if (rc == KV_OK) sweep_free(&s);
}

static void test_parse_ok(void)
{
    char text[2048];
    setenv("KVT_DATA", "data/demo", 1);
    unsetenv("KVT_UNSET");
    snprintf(text, sizeof text,
             "name: t1\n"
             "preset: reference-2026-01\n"
             "data: ${KVT_DATA}\n"
             "output: ${KVT_UNSET:-" TMP "/out}\n"
             "tasks: [trec, narrativeqa]\n"
             "samples: [0, \"2-3\"]\n"
             "budgets: [256, 128]\n"
             "methods:\n"
             "  - snapkv\n"
             "  - {name: snapkv, window: 16}\n"
             "  - fullkv\n"
             "%s"
             "    tensor_parallel: 1\n"
             "    stop_ids: [2, 7]\n"
             "engine: {backend: cpu, threads: 2, max_new_tokens: 8, samples_per_item: 2, on_signal: drop}\n",
             model_block);
    sweep s;
    int rc = load_text(text, &s);
    CHECK(rc == KV_OK, "valid sweep parses: %s", kv_lasterr());
    if (rc != KV_OK) return;
    CHECK(!strcmp(s.name, "t1") && !strcmp(s.data_dir, "data/demo"), "name and ${VAR} data");
    CHECK(!strcmp(s.output, TMP "/out"), "${VAR:-default} output: %s", s.output);
    CHECK(s.preset == PRESET_REFERENCE_2026_01, "preset");
    CHECK(s.n_tasks == 2 && !strcmp(s.tasks[0], "narrativeqa") && !strcmp(s.tasks[1], "trec"), "tasks in table order");
    CHECK(s.n_budgets == 2 && s.budgets[0] == 128 && s.budgets[1] == 256, "budgets sorted");
    CHECK(sweep_sample_selected(&s, 0) && !sweep_sample_selected(&s, 1) && sweep_sample_selected(&s, 2) &&
              sweep_sample_selected(&s, 3) && !sweep_sample_selected(&s, 4),
          "sample list and inclusive range");
    CHECK(s.n_models == 1 && s.models[0].n_stop_ids == 2 && s.models[0].stop_ids[1] == 7, "model stop ids");
    CHECK(s.engine.threads == 2 && s.engine.max_new_tokens == 8 && s.engine.samples_per_item == 2 &&
              s.engine.drop_on_signal == 1,
          "engine options");
    sweep_variant *v;
    int nv;
    CHECK(sweep_variants(&s, &v, &nv) == KV_OK, "variants: %s", kv_lasterr());
    CHECK(nv == 5, "FullKV once + 2 SnapKV entries x 2 budgets = 5 variants (got %d)", nv);
    if (nv == 5) {
        CHECK(v[0].budget == 0 && !strcmp(v[0].v.method->name, "fullkv"), "FullKV first with budget 0");
        CHECK(v[1].budget == 128 && v[2].budget == 256, "then by entry, budget");
        CHECK(strstr(v[3].label, "window=16") != NULL, "repeated method gets its knobs in the label: %s", v[3].label);
        CHECK(strcmp(v[1].key, v[3].key) != 0, "distinct keys for distinct knobs");
    }
    free(v);
    sweep_free(&s);
}

static void test_errors(void)
{
    char text[2048];
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudget: [128]\nmethods: [fullkv]\n%s", model_block);
    expect_error("unknown key", text, "unknown key 'budget'", "s.yaml:3:1");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudgets: 128\nmethods: [fullkv]\n%s", model_block);
    expect_error("wrong type", text, "'budgets' has the wrong type", "s.yaml:3:10");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudgets: [128, x]\nmethods: [fullkv]\n%s", model_block);
    expect_error("non-integer budget", text, "an integer", "s.yaml:3:16");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudgets: [128]\nmethods: [fullkv, snapkvv]\n%s", model_block);
    expect_error("unknown method", text, "unknown method 'snapkvv'", "s.yaml:4:19");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\ntasks: [trec, nosuchtask]\nbudgets: [128]\nmethods: [fullkv]\n%s",
             model_block);
    expect_error("unknown task", text, "unknown task 'nosuchtask'", "s.yaml:3:15");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudgets: [64]\nmethods:\n  - {name: snapkv, window: 64}\n%s",
             model_block);
    expect_error("budget <= window", text, "budget 64", "s.yaml:5:5");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudgets: [128]\nmethods:\n  - {name: snapkv, colour: 3}\n%s",
             model_block);
    expect_error("unknown knob", text, "bad knob 'colour: 3'", "s.yaml:5:5");
    snprintf(text, sizeof text, "name: e\ndata: " TMP "/nodata\nbudgets: [128]\nmethods: [fullkv]\n%s", model_block);
    expect_error("missing data folder", text, "data folder", "s.yaml:2:7");
    snprintf(text, sizeof text, "name: e\ndata: " TMP "\ntasks: [trec]\nbudgets: [128]\nmethods: [fullkv]\n%s", model_block);
    expect_error("missing data file", text, "trec.jsonl' not found", "s.yaml:2:7");
    expect_error("missing model file",
                 "name: e\ndata: data/demo\nbudgets: [128]\nmethods: [fullkv]\nmodels:\n  - name: m\n    path: /nonexistent/x.gguf\n",
                 "model file '/nonexistent/x.gguf' not found", "s.yaml:6:5");
    expect_error("malformed YAML", "name: e\ndata: [data/demo\nbudgets: [128]\n", "malformed YAML", "s.yaml:");
    unsetenv("KVT_UNSET");
    snprintf(text, sizeof text, "name: e\ndata: ${KVT_UNSET}\nbudgets: [128]\nmethods: [fullkv]\n%s", model_block);
    expect_error("unset variable", text, "KVT_UNSET is not set", "s.yaml:2:7");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudgets: [128]\nmethods: [fullkv]\n%s    tensor_parallel: 0\n",
             model_block);
    expect_error("tensor_parallel out of range", text, "out of range", "s.yaml:8:22");
    snprintf(text, sizeof text, "name: e\ndata: data/demo\nbudgets: [128]\nmethods: [fullkv]\n%s    colour: red\n", model_block);
    expect_error("unknown model key", text, "unknown key 'colour' in a model", "s.yaml:8:5");
    expect_error("no models", "name: e\ndata: data/demo\nbudgets: [128]\nmethods: [fullkv]\n", "sweep without models", "s.yaml:1:1");
}

static void test_tp_divides_heads(void)
{
    /* A config-only model folder: 32 query heads, 8 KV heads; 3 does not divide them. */
    mkdir(TMP "/tpmodel", 0777);
    write_file(TMP "/tpmodel/config.json",
               "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 4096,"
               " \"intermediate_size\": 14336, \"num_hidden_layers\": 32, \"num_attention_heads\": 32,"
               " \"num_key_value_heads\": 8, \"vocab_size\": 128256, \"max_position_embeddings\": 8192,"
               " \"rope_theta\": 500000.0, \"rms_norm_eps\": 1e-05, \"bos_token_id\": 128000, \"eos_token_id\": 128009}");
    sweep s;
    int rc = load_text("name: e\ndata: data/demo\nbudgets: [128]\nmethods: [fullkv]\nmodels:\n  - name: big\n    path: " TMP
                       "/tpmodel\n    tensor_parallel: 3\n",
                       &s);
    CHECK(rc == KV_OK, "tp sweep parses: %s", kv_lasterr());
    if (rc != KV_OK) return;
    rc = sweep_check_models(&s);
    CHECK(rc == KV_ERR && strstr(kv_lasterr(), "tensor_parallel 3 does not divide") && strstr(kv_lasterr(), "s.yaml:6:5"),
          "tp 3 on 32/8 heads: %s", kv_lasterr());
    s.models[0].tensor_parallel = 4;
    CHECK(sweep_check_models(&s) == KV_OK, "tp 4 divides 32/8 heads: %s", kv_lasterr());
    CHECK(s.models[0].n_heads == 32 && s.models[0].n_layers == 32, "config read for the cost model");
    sweep_free(&s);
}

/* A small synthetic plan: 2 tasks x 4 samples, per-sample lengths. */
static void fake_data(task_data *d, int n)
{
    for (int t = 0; t < 2; t++) {
        d[t].n = n;
        d[t].n_in_file = n;
        d[t].index = malloc(sizeof(int) * (size_t)n);
        d[t].est_tokens = malloc(sizeof(int) * (size_t)n);
        for (int k = 0; k < n; k++) d[t].index[k] = k, d[t].est_tokens[k] = 100 + 50 * ((k * 7 + t) % 5);
    }
}

static void test_workplan(void)
{
    char text[2048];
    snprintf(text, sizeof text,
             "name: w\ndata: data/demo\ntasks: [trec, lcc]\nbudgets: [128]\nmethods: [fullkv, snapkv, streamingllm]\n%s",
             model_block);
    sweep s;
    if (load_text(text, &s) != KV_OK) {
        CHECK(0, "workplan sweep: %s", kv_lasterr());
        return;
    }
    sweep_variant *v;
    int nv;
    sweep_variants(&s, &v, &nv);
    task_data d[2];
    memset(d, 0, sizeof d);
    fake_data(d, 4);
    int max_new[2] = {64, 64};
    done_set done = {0};
    work_item *it;
    int n;
    workplan_expand(&s, v, nv, d, max_new, &done, &it, &n);
    CHECK(n == 8, "nothing done: one item per sample (got %d)", n);
    int ordered = 1, all_v = 1, unique = 1;
    for (int i = 0; i < n; i++) {
        if (i && it[i].cost > it[i - 1].cost) ordered = 0;
        all_v &= it[i].n_variants == nv;
        for (int j = 0; j < i; j++) unique &= strcmp(it[i].file, it[j].file) != 0;
    }
    CHECK(ordered, "longest first");
    CHECK(all_v, "each item covers every variant");
    CHECK(unique, "item file names are unique");
    /* Mark every result of the first 3 items done: they disappear. */
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < it[i].n_samples; k++)
            for (int j = 0; j < it[i].n_variants; j++)
                done_add(&done, done_key(s.models[0].name, s.tasks[it[i].task], it[i].samples[k], v[it[i].variants[j]].key));
    work_item *it2;
    int n2;
    workplan_expand(&s, v, nv, d, max_new, &done, &it2, &n2);
    CHECK(n2 == 5, "resume: 3 finished items are skipped (got %d)", n2);
    work_items_free(it2, n2);
    /* Finish everything, then grow the sweep by a budget: only the new variants are planned. */
    for (int i = 3; i < n; i++)
        for (int k = 0; k < it[i].n_samples; k++)
            for (int j = 0; j < it[i].n_variants; j++)
                done_add(&done, done_key(s.models[0].name, s.tasks[it[i].task], it[i].samples[k], v[it[i].variants[j]].key));
    workplan_expand(&s, v, nv, d, max_new, &done, &it2, &n2);
    CHECK(n2 == 0, "all done: nothing planned (got %d)", n2);
    work_items_free(it2, n2);
    free(s.budgets);
    s.budgets = malloc(2 * sizeof(int));
    s.budgets[0] = 128, s.budgets[1] = 512, s.n_budgets = 2;
    sweep_variant *v2;
    int nv2;
    sweep_variants(&s, &v2, &nv2);
    workplan_expand(&s, v2, nv2, d, max_new, &done, &it2, &n2);
    int only_new = n2 == 8;
    for (int i = 0; i < n2; i++) {
        only_new &= it2[i].n_variants == 2;
        for (int j = 0; j < it2[i].n_variants; j++) only_new &= v2[it2[i].variants[j]].budget == 512;
    }
    CHECK(only_new, "added budget 512: 8 items with only the 2 new variants (got %d items)", n2);
    int fresh_names = 1;
    for (int i = 0; i < n2; i++)
        for (int j = 0; j < n; j++) fresh_names &= strcmp(it2[i].file, it[j].file) != 0;
    CHECK(fresh_names, "new items never reuse a finished item's file name");
    /* samples_per_item 3 groups samples with the same missing set. */
    s.engine.samples_per_item = 3;
    work_item *it3;
    int n3;
    workplan_expand(&s, v2, nv2, d, max_new, &done, &it3, &n3);
    CHECK(n3 == 4, "blocks of 3 samples: 2 tasks x ceil(4/3) = 4 items (got %d)", n3);
    /* Pack / unpack round trip. */
    run_plan p = {.items = it3, .n_items = n3, .n_done = 42};
    long len;
    unsigned char *b = run_plan_pack(&p, &len);
    run_plan q;
    int rc = run_plan_unpack(b, len, &q);
    int same = rc == KV_OK && q.n_items == n3 && q.n_done == 42;
    for (int i = 0; same && i < n3; i++)
        same = q.items[i].n_samples == it3[i].n_samples && q.items[i].n_variants == it3[i].n_variants &&
               !memcmp(q.items[i].samples, it3[i].samples, sizeof(int) * (size_t)it3[i].n_samples) &&
               !strcmp(q.items[i].file, it3[i].file) && q.items[i].cost == it3[i].cost;
    CHECK(same, "pack/unpack round trip");
    work_items_free(q.items, q.n_items);
    CHECK(run_plan_unpack(b, len - 1, &q) == KV_ERR && q.n_items == 0, "truncated work list is rejected");
    free(b);
    work_items_free(it3, n3);
    work_items_free(it2, n2);
    work_items_free(it, n);
    done_free(&done);
    for (int t = 0; t < 2; t++) task_data_free(&d[t]);
    free(v), free(v2);
    sweep_free(&s);
}

/* An executor that does the fake item and then 30 ms of work no timing field covers (as prompt
 * building is in the real one). */
static int exec_slow(exec_ctx *c, const work_item *it, item_record *rec, exec_timing *t)
{
    int rc = exec_fake(c, it, rec, t);
    double t0 = kv_now();
    while (kv_now() - t0 < 0.03) {
    }
    return rc;
}

/* The timing list (exec.h) and the defects it fixed (issue 14): `other` was never written and the
 * item's io_s never assigned. */
static void test_exec_timing(void)
{
    char text[2048];
    snprintf(text, sizeof text,
             "name: w\ndata: data/demo\ntasks: [trec]\nbudgets: [128]\nmethods: [fullkv]\nengine: {fake: true}\n%s",
             model_block);
    sweep s;
    if (load_text(text, &s) != KV_OK) {
        CHECK(0, "timing sweep: %s", kv_lasterr());
        return;
    }
    sweep_variant *v;
    int nv;
    sweep_variants(&s, &v, &nv);
    exec_ctx c;
    exec_ctx_init(&c, &s, v, nv, TMP "/exec", 0, 1);
    int sample = 0, vi = 0, dropped = 0;
    work_item it = {.model = 0, .task = 0, .n_samples = 1, .samples = &sample, .n_variants = 1, .variants = &vi};
    snprintf(it.file, sizeof it.file, "items/m1/trec/s0-n1-t.h5");
    exec_timing t = {0};
    int rc = exec_item_run(&c, exec_slow, &it, &t, &dropped);
    CHECK(rc == KV_OK && !dropped && t.items == 1, "fake item ran: %s", kv_lasterr());
    CHECK(t.other >= 0.025, "other holds the uncovered 30 ms (%.4f s)", t.other);
    CHECK(t.io > 0, "io: the task read and the item write (%.4f s)", t.io);
    item_record r;
    if (store_read_item(TMP "/exec/items/m1/trec/s0-n1-t.h5", &r) == KV_OK) {
        CHECK(r.prov.io_s > 0 && r.prov.io_s <= t.io, "item io_s %.4f in (0, %.4f]", r.prov.io_s, t.io);
        item_record_free(&r);
    } else {
        CHECK(0, "read the item back: %s", kv_lasterr());
    }
    /* Pack/unpack (the MPI message) and add carry every field of the list. */
    exec_timing a = {0}, b = {0};
    double m[EXEC_TIMING_PACKED];
    exec_timing_pack(&t, m);
    exec_timing_unpack(m, &a);
    exec_timing_add(&b, &a);
    exec_timing_add(&b, &a);
    CHECK(!memcmp(&a, &t, sizeof t) && b.other == 2 * t.other && b.io == 2 * t.io && b.items == 2,
          "pack, unpack and add keep every field");
    CHECK(exec_timing_seconds(&t) >= t.other + t.io, "seconds sums the fields");
    exec_ctx_free(&c);
    free(v);
    sweep_free(&s);
}

/* The prompt cap's default is defined once (issue 14: three places had three fallbacks). */
static void test_max_prompt_default(void)
{
    sweep_model m = {.family = "llama3"};
    CHECK(sweep_model_max_prompt_tokens(&m) == 7950, "llama3: 7950");
    m.family = "llama3.3";
    CHECK(sweep_model_max_prompt_tokens(&m) == 127500, "llama3.3: 127500");
    m.family = "other";
    CHECK(sweep_model_max_prompt_tokens(&m) == 0, "other: no limit");
    m.max_prompt_tokens = 512;
    CHECK(sweep_model_max_prompt_tokens(&m) == 512, "the sweep's value wins");
}

int main(void)
{
    mkdir("tests/tmp", 0777);
    mkdir(TMP, 0777);
    write_file(TMP "/model.gguf", "not a model: sweep_load only checks that the file exists\n");
    test_parse_ok();
    test_errors();
    test_tp_divides_heads();
    test_workplan();
    test_exec_timing();
    test_max_prompt_default();
    return check_report("test_sweep");
}
