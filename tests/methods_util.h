/* methods_util: what the compression-method tests share (test_methods, test_methods_press,
 * test_toy_method) — a seeded uniform generator, a tiny model shape, variants and knobs that
 * must exist, one compress pass over one layer, and kept-row comparison and printing. */
#ifndef KV_TESTS_METHODS_UTIL_H
#define KV_TESTS_METHODS_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/compress.h"
#include "engine/engine.h"
#include "engine/method.h"
#include "util/util.h"
#include "tests/check.h"

/* LCG state of frand; a test may reseed it before its first draw. */
static unsigned rng_state = 12345;
static inline float frand(void) /* uniform in [-1, 1) */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) * (1.0 / 8388608.0)) - 1.0f;
}

static inline model_config tiny_cfg(int n_layers, int H, int Hkv, int hd)
{
    model_config c;
    memset(&c, 0, sizeof c);
    c.n_layers = n_layers, c.n_heads = H, c.n_kv_heads = Hkv, c.head_dim = hd, c.dim = H * hd;
    c.rope_theta = 10000;
    return c;
}

/* A variant of a registered method (the test exits if there is none). */
static inline variant make_variant(const char *method, int budget, kv_preset preset)
{
    variant v;
    const method_desc *m = method_find(method);
    if (!m) {
        fprintf(stderr, "no method %s\n", method);
        exit(1);
    }
    variant_init(&v, m, budget, preset);
    return v;
}

static inline void set_knob(variant *v, const char *k, const char *val)
{
    if (variant_set_knob(v, k, val) != KV_OK) {
        fprintf(stderr, "set_knob %s=%s: %s\n", k, val, kv_lasterr());
        exit(1);
    }
}

/* Runs compress over one layer (layer index `layer` of cfg) for the given variants from host q,
 * k, v (NULL: no values) and lse (NULL: computed). Returns the status; views are initialised
 * here and freed by the caller. */
static inline int run_layer(const model_config *cfg, const variant *vs, int n, int L, kv_view *views, int layer,
                            const float *q, const float *k, const float *v, const float *lse)
{
    for (int i = 0; i < n; i++) kv_view_init(&views[i], cfg->n_layers, cfg->n_heads, L);
    compress_ctx *c = compress_new(cfg, vs, n, L, views);
    if (!c) return KV_ERR;
    int rc = compress_layer_v(c, layer, q, k, v, lse);
    compress_free(c);
    return rc;
}

static inline int row_equals(const kv_view *v, int layer, int head, const int *want, int n)
{
    if (v->len[layer * v->n_heads + head] != n) return 0;
    const int *row = kv_view_row(v, layer, head);
    for (int i = 0; i < n; i++)
        if (row[i] != want[i]) return 0;
    return 1;
}

static inline void print_row(const char *what, const kv_view *v, int layer, int head)
{
    fprintf(stderr, "  %s layer %d head %d:", what, layer, head);
    for (int i = 0; i < v->len[layer * v->n_heads + head]; i++) fprintf(stderr, " %d", kv_view_row(v, layer, head)[i]);
    fputc('\n', stderr);
}

/* CHECKs that view row (layer, head) is exactly the listed positions, printing it if not. */
#define EXPECT_ROW(view, layer, head, ...)                                                               \
    do {                                                                                                 \
        static const int want_[] = {__VA_ARGS__};                                                        \
        int ok_ = row_equals(view, layer, head, want_, (int)(sizeof want_ / sizeof want_[0]));          \
        CHECK(ok_, "%s: layer %d head %d kept set", #view, layer, head);                                \
        if (!ok_) print_row("got", view, layer, head);                                                   \
    } while (0)

/* The demo model on the CPU backend, or NULL after a failed CHECK saying why. */
static inline engine *open_demo_engine(void)
{
    if (!kv_file_exists(DEMO_MODEL)) {
        CHECK(0, "%s missing: run ./setup.sh", DEMO_MODEL);
        return NULL;
    }
    engine *e;
    engine_opts o = {.backend = "cpu"};
    if (engine_open(DEMO_MODEL, &o, &e) != KV_OK) {
        CHECK(0, "engine_open: %s", kv_lasterr());
        return NULL;
    }
    return e;
}

#endif
