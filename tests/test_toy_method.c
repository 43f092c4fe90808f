/* test_toy_method: adding a method takes one plug-in file and one registry line (README "Adding a
 * method"). tests/toy_method.c is that file; this binary's engine/method.c is compiled with
 * -DMETHOD_EXTRA=method_toy, the registry line. The toy is then found by name, listed last in the
 * registry (and so last in table order, after the methods it follows in a sweep), keeps the
 * hand-computed positions through compress, gets the statistic it declares (and fails without
 * the declaration), and runs end to end through generate on the demo model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "harness/sweep/sweep.h"
#include "tests/check.h"
#include "tests/methods_util.h"

extern const method_desc method_toy;

static void test_registry(void)
{
    CHECK(method_find("toy") == &method_toy && method_find("Toy") == &method_toy, "toy found by name and display");
    int n = method_count();
    CHECK(n == 13 && method_registry[n - 1] == &method_toy, "toy is the 13th and last registry entry (%d)", n);
    CHECK(method_rank("Toy") == n - 1 && method_rank("FullKV") == 0, "table rank from the registry");
    variant v = make_variant("toy", 4, PRESET_REFERENCE_HEAD);
    CHECK(variant_knob(&v, "stride") == 3, "knob default from its table");
    method_needs nd;
    variant_needs(&v, &nd);
    CHECK(nd.window_rows == 1 && nd.window_prec == 0 && nd.keeps_last == 1 && !nd.host && !nd.colsum_window,
          "declared needs: the last query's fp32 row, the last position kept");
    CHECK(variant_set_knob(&v, "stride", "0") == KV_OK && v.method->check(&v, NULL) == KV_ERR &&
              strstr(kv_lasterr(), "stride"),
          "its check names the knob: %s", kv_lasterr());
}

/* L = 10, two query heads: stride 3 → grid 9, 6, 3, 0 (nearest the end first). */
static void test_compress(void)
{
    enum { L = 10, H = 2, Hkv = 1, hd = 4, NV = 5 };
    float q[L * H * hd], k[L * Hkv * hd];
    for (int i = 0; i < L * H * hd; i++) q[i] = frand();
    for (int i = 0; i < L * Hkv * hd; i++) k[i] = frand();
    model_config cfg = tiny_cfg(1, H, Hkv, hd);
    static const int budget[NV] = {4, 3, 5, 3, 12};
    static const char *stride[NV] = {"3", "3", "3", "1", "3"};
    variant v[NV];
    for (int i = 0; i < NV; i++) {
        v[i] = make_variant("toy", budget[i], PRESET_REFERENCE_HEAD);
        set_knob(&v[i], "stride", stride[i]);
    }
    kv_view views[NV];
    CHECK(run_layer(&cfg, v, NV, L, views, 0, q, k, NULL, NULL) == KV_OK, "toy compress: %s", kv_lasterr());
    for (int h = 0; h < H; h++) {
        EXPECT_ROW(&views[0], 0, h, 0, 3, 6, 9);          /* C = 4: the whole grid */
        EXPECT_ROW(&views[1], 0, h, 3, 6, 9);             /* C = 3: its last three */
        EXPECT_ROW(&views[2], 0, h, 0, 3, 6, 8, 9);       /* C = 5: plus the nearest other position */
        EXPECT_ROW(&views[3], 0, h, 7, 8, 9);             /* stride 1: the last three */
        EXPECT_ROW(&views[4], 0, h, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9); /* C > L: everything */
    }
    for (int i = 0; i < NV; i++) kv_view_free(&views[i]);
    /* the same plug-in without its declaration: compress computes nothing for it, so it fails */
    method_desc bare = method_toy;
    bare.needs = NULL;
    variant b = v[0];
    b.method = &bare;
    kv_view view;
    CHECK(run_layer(&cfg, &b, 1, L, &view, 0, q, k, NULL, NULL) == KV_ERR &&
              strstr(kv_lasterr(), "last-query row was not computed"),
          "undeclared statistic is not computed: %s", kv_lasterr());
    kv_view_free(&view);
}

/* A sweep lists the toy after the methods before it in the registry, whatever the file's order. */
static void test_sweep_order(void)
{
    char yaml[64];
    snprintf(yaml, sizeof yaml, "/tmp/kvbench_toy_%d.yaml", (int)getpid());
    FILE *f = fopen(yaml, "w");
    if (!f) {
        CHECK(0, "cannot write %s", yaml);
        return;
    }
    fprintf(f, "name: toy\ndata: data/demo\nbudgets: [128]\nmethods: [toy, snapkv, fullkv]\n"
               "models:\n  - name: m1\n    path: %s\n", DEMO_MODEL);
    fclose(f);
    sweep s;
    int rc = sweep_load(yaml, &s);
    CHECK(rc == KV_OK, "sweep with the toy: %s", kv_lasterr());
    if (rc == KV_OK) {
        sweep_variant *vars;
        int nv = 0;
        CHECK(sweep_variants(&s, &vars, &nv) == KV_OK && nv == 3, "variants: %d", nv);
        if (nv == 3)
            CHECK(vars[0].v.method == method_find("fullkv") && vars[1].v.method == method_find("snapkv") &&
                      vars[2].v.method == &method_toy,
                  "registry order: FullKV, SnapKV, Toy");
        if (nv) free(vars);
        sweep_free(&s);
    }
    remove(yaml);
}

/* End to end on the demo model: FullKV and the toy from one prefill; the toy keeps C everywhere. */
static void test_generate(void)
{
    engine *e = open_demo_engine();
    if (!e) return;
    static const char *text = "The tram line will be extended to the northern districts next year. "
                              "Question: what will be extended? Answer:";
    int *ids, n;
    CHECK(tokenizer_encode(engine_tokenizer(e), text, strlen(text), 0, &ids, &n) == KV_OK, "encode");
    const int C = 8;
    variant v[2] = {make_variant("fullkv", 0, PRESET_REFERENCE_HEAD), make_variant("toy", C, PRESET_REFERENCE_HEAD)};
    gen_params gp = {.max_new_tokens = 3};
    gen_result r[2];
    CHECK(n > C, "prompt %d tokens > budget %d", n, C);
    CHECK(engine_generate(e, ids, n, v, 2, &gp, r, NULL) == KV_OK, "generate: %s", kv_lasterr());
    CHECK(r[1].kept_min == C && r[1].kept_max == C && r[1].kept_expected == C, "toy keeps %d (got %d..%d, expected %d)",
          C, r[1].kept_min, r[1].kept_max, r[1].kept_expected);
    CHECK(r[0].kept_min == n, "FullKV keeps all %d", n);
    CHECK(r[1].n_ids >= 1 && r[1].ids[0] == r[0].ids[0], "first token shared with FullKV (one prefill)");
    for (int i = 0; i < 2; i++) gen_result_free(&r[i]);
    free(ids);
    engine_close(e);
}

int main(void)
{
    test_registry();
    test_compress();
    test_sweep_order();
    test_generate();
    return check_report("test_toy_method");
}
