/* test_store: HDF5 item files (write through a temporary and rename, read back every field,
 * UTF-8 strings), the listing that ignores and optionally removes temporaries of killed ranks,
 * damaged files named in the error, and the reducer's de-duplication: the same (model, task,
 * sample, variant) stored twice is counted once, from the file whose path sorts first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"
#include "harness/longbench/longbench.h"
#include "harness/sweep/reduce.h"
#include "harness/sweep/store.h"
#include "tests/check.h"

#define TMP "tests/tmp/test_store"
/* Scores round-trip through HDF5 doubles bit for bit. */
#define SCORE_ATOL 0.0

static void make_record(item_record *r, const char *task, int first_sample, int ns, const char *const *keys, int nv,
                        double score_base)
{
    item_record_alloc(r, ns, nv);
    item_prov *p = &r->prov;
    p->sweep = kv_strdup("t"), p->sweep_hash = kv_strdup("00ff"), p->model = kv_strdup("m1");
    p->model_path = kv_strdup("models/x.gguf"), p->model_hash = kv_strdup("abc"), p->family = kv_strdup("other");
    p->dtype = kv_strdup("fp32"), p->chat = kv_strdup("preset"), p->task = kv_strdup(task);
    p->data_file = kv_strdup("data/demo/x.jsonl"), p->data_hash = kv_strdup("1234"), p->preset = kv_strdup("reference-head");
    p->engine_rev = kv_strdup("rev"), p->host = kv_strdup("host"), p->device = kv_strdup("cpu");
    p->backend = kv_strdup("cpu"), p->created = kv_strdup("2026-01-01T00:00:00Z");
    p->rank = 3, p->world = 4, p->tensor_parallel = 1, p->n_stop_ids = 2, p->stop_ids[0] = 2, p->stop_ids[1] = 9;
    p->max_prompt_tokens = 7950, p->max_new_tokens = 16, p->load_s = 1.5, p->io_s = 0.25;
    for (int v = 0; v < nv; v++) {
        r->var[v].key = kv_strdup(keys[v]);
        r->var[v].label = kv_strdup(v ? "SnapKV" : "FullKV");
        r->var[v].method = kv_strdup(v ? "SnapKV" : "FullKV");
        r->var[v].budget = v ? 128 : 0;
    }
    for (int s = 0; s < ns; s++) {
        r->samples[s].index = first_sample + s;
        char id[32];
        snprintf(id, sizeof id, "id-%d", first_sample + s);
        r->samples[s].id = kv_strdup(id);
        r->samples[s].prompt_tokens_raw = 1000 + s, r->samples[s].prompt_tokens = 900 + s;
        r->samples[s].prefill_s = 0.5, r->samples[s].compress_s = 0.125, r->samples[s].decode_s = 2.0;
        for (int v = 0; v < nv; v++) {
            var_result *x = &r->res[s * nv + v];
            x->prediction = kv_strdup(v ? "caf\xc3\xa9 \xe2\x80\x94 r\xc3\xa9sum\xc3\xa9\nline 2" : "");
            x->n_generated = 7 + v, x->stopped = 1, x->kept_mean = 127.5, x->kept_min = 120, x->kept_max = 128;
            x->kept_expected = 128;
            x->score = score_base + 0.125 * s + 0.0625 * v;
        }
    }
}

/* Whether column c of the structs at a and b (one struct each) holds the same value. */
static int col_equal(const col_desc *c, const void *a, const void *b)
{
    const char *x = (const char *)a + c->offset, *y = (const char *)b + c->offset;
    if (c->kind == COL_STR) {
        const char *u, *v;
        memcpy(&u, x, sizeof u), memcpy(&v, y, sizeof v);
        return !strcmp(u ? u : "", v ? v : "");
    }
    size_t size = c->kind == COL_INT ? sizeof(int) : c->kind == COL_DBL ? sizeof(double) : sizeof(int) * (ITEM_MAX_IDS + 1);
    return !memcmp(x, y, size);
}

/* Every column of every schema list (store.h) survives a write and a read: the lists drive both,
 * so a field added to a list is stored and read back with no other change. io_s is the exception
 * checked on its own: the writer adds its own time to it. */
static void check_all_columns(const item_record *w, const item_record *r)
{
    int bad = 0;
    for (int c = 0; c < item_prov_ncols; c++)
        if (strcmp(item_prov_cols[c].name, "io_s") && !col_equal(&item_prov_cols[c], &w->prov, &r->prov))
            bad++, fprintf(stderr, "provenance %s differs\n", item_prov_cols[c].name);
    for (int v = 0; v < w->nv; v++)
        for (int c = 0; c < item_variant_ncols; c++)
            if (!col_equal(&item_variant_cols[c], &w->var[v], &r->var[v]))
                bad++, fprintf(stderr, "variant %d %s differs\n", v, item_variant_cols[c].name);
    for (int s = 0; s < w->ns; s++)
        for (int c = 0; c < item_sample_ncols; c++)
            if (!col_equal(&item_sample_cols[c], &w->samples[s], &r->samples[s]))
                bad++, fprintf(stderr, "sample %d %s differs\n", s, item_sample_cols[c].name);
    for (int i = 0; i < w->ns * w->nv; i++)
        for (int c = 0; c < item_result_ncols; c++)
            if (!col_equal(&item_result_cols[c], &w->res[i], &r->res[i]))
                bad++, fprintf(stderr, "result %d %s differs\n", i, item_result_cols[c].name);
    CHECK(bad == 0, "%d columns differ after a write and a read", bad);
}

static void test_roundtrip(void)
{
    const char *keys[2] = {"FullKV(budget=0)", "SnapKV(budget=128,window=8)"};
    item_record w, r;
    make_record(&w, "trec", 5, 2, keys, 2, 0.25);
    CHECK(store_write_item(TMP "/a", "items/m1/trec/s5-n2-x.h5", &w, 3) == KV_OK, "write: %s", kv_lasterr());
    CHECK(kv_file_exists(TMP "/a/items/m1/trec/s5-n2-x.h5"), "final name exists");
    int rc = store_read_item(TMP "/a/items/m1/trec/s5-n2-x.h5", &r);
    CHECK(rc == KV_OK, "read: %s", kv_lasterr());
    if (rc != KV_OK) return;
    CHECK(r.ns == 2 && r.nv == 2, "shape %d x %d", r.ns, r.nv);
    CHECK(!strcmp(r.prov.model, "m1") && !strcmp(r.prov.task, "trec") && r.prov.rank == 3 && r.prov.world == 4,
          "provenance attributes");
    CHECK(!strcmp(r.var[1].key, keys[1]) && r.var[1].budget == 128, "variant columns");
    CHECK(r.samples[1].index == 6 && !strcmp(r.samples[1].id, "id-6") && r.samples[1].prompt_tokens == 901,
          "sample columns");
    CHECK(!strcmp(r.res[3].prediction, w.res[3].prediction), "UTF-8 prediction with newline round-trips");
    CHECK(!strcmp(r.res[0].prediction, ""), "empty prediction round-trips");
    CHECK(check_close(r.res[3].score, w.res[3].score, SCORE_ATOL, 0) && r.res[3].n_generated == 8 &&
              r.res[3].kept_min == 120,
          "result columns");
    /* Defects pinned (issue 14): stop_ids was written but never read back; io_s was never set. */
    CHECK(r.prov.n_stop_ids == 2 && r.prov.stop_ids[0] == 2 && r.prov.stop_ids[1] == 9, "stop_ids read back (%d)",
          r.prov.n_stop_ids);
    CHECK(r.prov.io_s > w.prov.io_s, "io_s adds the write time to the caller's read time (%g > %g)", r.prov.io_s,
          w.prov.io_s);
    check_all_columns(&w, &r);
    item_record_free(&r);
    /* An empty stop list (the tokenizer's eos) reads back empty. */
    w.prov.n_stop_ids = 0;
    CHECK(store_write_item(TMP "/a", "items/m1/trec/s5-n2-e.h5", &w, 3) == KV_OK &&
              store_read_item(TMP "/a/items/m1/trec/s5-n2-e.h5", &r) == KV_OK && r.prov.n_stop_ids == 0,
          "empty stop_ids read back empty");
    item_record_free(&r);
    unlink(TMP "/a/items/m1/trec/s5-n2-e.h5");
    rc = store_read_item_keys(TMP "/a/items/m1/trec/s5-n2-x.h5", &r);
    CHECK(rc == KV_OK && r.ns == 2 && r.nv == 2 && r.samples[1].index == 6 && !strcmp(r.var[1].key, keys[1]) &&
              !strcmp(r.prov.model, "m1") && !strcmp(r.prov.task, "trec"),
          "resume keys: model, task, samples, variant keys");
    if (rc == KV_OK) item_record_free(&r);
    item_record_free(&w);
}

static void test_listing(void)
{
    /* A temporary of a killed rank and a stray file: ignored, and removed on request. */
    FILE *f = fopen(TMP "/a/items/m1/trec/s9-n1-y.h5.tmp.1.999", "w");
    fputs("partial", f);
    fclose(f);
    char **paths;
    int n;
    store_list_items(TMP "/a", 0, &paths, &n);
    CHECK(n == 1, "listing skips temporaries (got %d)", n);
    store_paths_free(paths, n);
    CHECK(kv_file_exists(TMP "/a/items/m1/trec/s9-n1-y.h5.tmp.1.999"), "kept without remove_stale");
    store_list_items(TMP "/a", 1, &paths, &n);
    store_paths_free(paths, n);
    CHECK(!kv_file_exists(TMP "/a/items/m1/trec/s9-n1-y.h5.tmp.1.999"), "stale temporary removed");
    /* A damaged item file is an error that names it. */
    f = fopen(TMP "/bad.h5", "w");
    fputs("not hdf5", f);
    fclose(f);
    item_record r;
    CHECK(store_read_item(TMP "/bad.h5", &r) == KV_ERR && strstr(kv_lasterr(), "bad.h5"), "damaged file: %s",
          kv_lasterr());
}

static void test_dedupe(void)
{
    const char *keys[2] = {"FullKV(budget=0)", "SnapKV(budget=128,window=8)"};
    item_record a, b, c;
    /* Same samples 0..1 and variants twice (as a rank killed after its rename, then a rerun could
     * not produce, but a copied folder could): different scores, the first path must win. */
    make_record(&a, "trec", 0, 2, keys, 2, 0.5);
    make_record(&b, "trec", 0, 2, keys, 2, 0.0);
    make_record(&c, "trec", 2, 1, keys + 1, 1, 1.0);
    store_write_item(TMP "/d", "items/m1/trec/s0-n2-a.h5", &a, 0);
    store_write_item(TMP "/d", "items/m1/trec/s0-n2-b.h5", &b, 1);
    store_write_item(TMP "/d", "items/m1/trec/s2-n1-c.h5", &c, 0);
    reduced r;
    int rc = reduce_load(TMP "/d", 0, &r);
    CHECK(rc == KV_OK, "reduce_load: %s", kv_lasterr());
    if (rc != KV_OK) return;
    CHECK(r.n_items == 3 && r.n_rows == 5 && r.duplicates == 4, "5 unique results, 4 duplicates (got %d rows, %d dups)",
          r.n_rows, r.duplicates);
    int from_a = 1;
    for (int i = 0; i < r.n_rows; i++)
        if (r.rows[i].sample < 2) from_a &= r.rows[i].item == 0;
    CHECK(from_a, "duplicates resolved to the file whose path sorts first");
    /* SnapKV on trec: samples 0, 1 from a (0.5625, 0.6875) and 2 from c (1.0). */
    const score_row *snap = NULL;
    for (int i = 0; i < r.n_scores; i++)
        if (!strcmp(r.scores[i].method, "SnapKV")) snap = &r.scores[i];
    int trec = lb_task_index("trec");
    CHECK(snap && snap->n_samples[trec] == 3, "3 SnapKV trec samples");
    if (snap) {
        double raw[3] = {0.5625, 0.6875, 1.0};
        CHECK(snap->task[trec] == lb_task_score(raw, 3), "task score from the de-duplicated samples: %.2f",
              snap->task[trec]);
        CHECK(isnan(snap->task[0]) && snap->avg_h < 0, "missing tasks are NaN and Avg is missing");
    }
    CHECK(reduce_write(TMP "/d", &r) == KV_OK, "reduce_write: %s", kv_lasterr());
    CHECK(kv_file_exists(TMP "/d/summary.h5") && kv_file_exists(TMP "/d/tables.md") &&
              kv_file_exists(TMP "/d/scores.csv") && kv_file_exists(TMP "/d/plots/m1.svg"),
          "summary, tables, CSV and plot written");
    /* The summary's columns come from the same lists: every result and provenance field is there. */
    hid_t f = H5Fopen(TMP "/d/summary.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    int missing = f < 0;
    for (int k = 0; k < item_result_ncols && f >= 0; k++) {
        char path[128];
        snprintf(path, sizeof path, "predictions/%s", item_result_cols[k].name);
        if (H5Lexists(f, path, H5P_DEFAULT) <= 0) missing++, fprintf(stderr, "summary lacks %s\n", path);
    }
    for (int k = 0; k < item_prov_ncols && f >= 0; k++) {
        char path[128];
        snprintf(path, sizeof path, "provenance/items/%s", item_prov_cols[k].name);
        if (H5Lexists(f, path, H5P_DEFAULT) <= 0) missing++, fprintf(stderr, "summary lacks %s\n", path);
    }
    int ni = 0;
    double io[3] = {0};
    if (f >= 0) {
        hid_t g = H5Gopen2(f, "provenance/items", H5P_DEFAULT);
        ni = h5_read_doubles(g, "io_s", io, 3) == KV_OK ? 3 : 0;
        H5Gclose(g);
        H5Fclose(f);
    }
    CHECK(missing == 0, "summary.h5 has a column per result and provenance field (%d missing)", missing);
    CHECK(ni == 3 && io[0] > 0 && io[1] > 0 && io[2] > 0, "summary io_s non-zero for every item");
    reduce_free(&r);
    item_record_free(&a), item_record_free(&b), item_record_free(&c);
}

/* The documentation names every field of every list (harness/README.md's result-folder section). */
static void test_docs(void)
{
    char *doc;
    size_t len;
    if (kv_read_file("harness/README.md", &doc, &len) != KV_OK) {
        CHECK(0, "read harness/README.md: %s", kv_lasterr());
        return;
    }
    const col_desc *lists[4] = {item_prov_cols, item_variant_cols, item_sample_cols, item_result_cols};
    int n[4] = {item_prov_ncols, item_variant_ncols, item_sample_ncols, item_result_ncols}, missing = 0;
    for (int l = 0; l < 4; l++)
        for (int c = 0; c < n[l]; c++)
            if (!strstr(doc, lists[l][c].name)) missing++, fprintf(stderr, "harness/README.md lacks %s\n", lists[l][c].name);
    CHECK(missing == 0, "every stored field is documented (%d missing)", missing);
    free(doc);
}

int main(void)
{
    if (system("rm -rf " TMP) != 0) return 1;
    mkdir("tests/tmp", 0777);
    mkdir(TMP, 0777);
    test_roundtrip();
    test_listing();
    test_dedupe();
    test_docs();
    return check_report("test_store");
}
