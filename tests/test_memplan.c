/* test_memplan: a sample's peak backend bytes (engine/memplan.c) on a hand-computable shape —
 * 2 layers, 4 query / 2 KV heads of 8 dims, dim 32, hidden 64, L 100, 5 new tokens — and the
 * reserve rule. */
#include <stdlib.h>

#include "engine/memplan.h"
#include "tests/check.h"

int main(void)
{
    model_config cfg = {.n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8, .dim = 32, .hidden_dim = 64};
    variant v[3];
    variant_init(&v[0], method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    variant_init(&v[1], method_find("snapkv"), 40, PRESET_REFERENCE_HEAD);
    variant_set_knob(&v[1], "window", "8");
    variant_init(&v[2], method_find("h2o"), 40, PRESET_REFERENCE_HEAD);
    variant_set_knob(&v[2], "window", "10");
    mem_plan mp;
    mem_plan_sample(&cfg, 1, 100, v, 1, 5, &mp);
    /* K and V: 2 layers x 100 positions x 16 floats, twice */
    CHECK(mp.prefix == 2 * 4 * 2 * 100 * 16, "prefix store %zu bytes", mp.prefix);
    /* x, xn, tmp (100 x 32), q and attention output (100 x 32), lse (4 x 100), gate/up (100 x 64) */
    CHECK(mp.prefill == 4 * (3 * 100 * 32 + 2 * 100 * 32 + 4 * 100 + 2 * 100 * 64), "prefill %zu bytes", mp.prefill);
    CHECK(mp.stats == 0, "FullKV alone reads no statistics (%zu bytes)", mp.stats);
    /* tails: 2 layers x 5 tokens x 16 floats, twice; view: 2 layers x 4 heads x 101 ints */
    CHECK(mp.per_variant == 4 * 2 * 2 * 5 * 16 + 4 * 2 * 4 * 101, "per variant %zu bytes", mp.per_variant);
    CHECK(mp.peak == mp.prefix + mp.prefill, "peak = prefix + prefill (%zu)", mp.peak);
    mem_plan_sample(&cfg, 1, 100, v, 3, 5, &mp);
    /* SnapKV window rows 4 x 8 x 100, H2O column sums 4 x 90; scratch 3 x 4 x 100 floats, graphs 2 x 8 x 100 doubles */
    CHECK(mp.stats == 4 * (4 * 8 * 100 + 4 * 90) + 4 * 3 * 4 * 100 + 8 * 2 * 8 * 100, "statistics %zu bytes", mp.stats);
    mem_plan_sample(&cfg, 1, 30, v, 3, 5, &mp);
    CHECK(mp.stats == 0, "L 30 below every budget: no statistics (%zu bytes)", mp.stats);
    mem_plan_sample(&cfg, 2, 100, v, 1, 5, &mp);
    CHECK(mp.prefix == 2 * 4 * 2 * 100 * 8, "TP 2: half the KV heads per rank (%zu)", mp.prefix);
    unsetenv("KVBENCH_MEM_RESERVE");
    CHECK(mem_plan_reserve((size_t)80 << 30) == ((size_t)4 << 30), "reserve 5%% of 80 GiB = 4 GiB");
    CHECK(mem_plan_reserve((size_t)8 << 30) == ((size_t)1 << 30), "reserve at least 1 GiB");
    setenv("KVBENCH_MEM_RESERVE", "12345", 1);
    CHECK(mem_plan_reserve((size_t)8 << 30) == 12345, "KVBENCH_MEM_RESERVE overrides");
    return check_report("test_memplan");
}
