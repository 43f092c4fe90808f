/* memplan: the backend memory one sample needs (issue 16 §3), computed before it starts from the
 * model's shape, the tensor-parallel split, the prompt length and the variants — so the executor can
 * size a decode batch (samples × variants) to the free memory and refuse, with the sizes, a sample
 * that cannot fit even alone. Shared by the engine (engine_sample_bytes) and `kvbench plan`, which
 * has no model loaded. */
#ifndef KV_MEMPLAN_H
#define KV_MEMPLAN_H

#include <stddef.h>

#include "engine/method.h"

typedef struct {
    size_t prefix;      /* every layer's K and V of the prompt (this rank's KV heads) */
    size_t prefill;     /* the prefill's activations (x, norms, q, attention output, lse, MLP chunk) */
    size_t stats;       /* one layer's statistics in backend memory (n_heads wide) and selection scratch */
    size_t per_variant; /* one variant's packed view and K/V tail of max_new tokens */
    size_t peak;        /* prefix + max(prefill + stats, nv × per_variant): the sample's high-water mark */
} mem_plan;

/* Reserve kept free on a device: max(1 GiB, 5% of its memory), or KVBENCH_MEM_RESERVE bytes. */
size_t mem_plan_reserve(size_t total_bytes);
void mem_plan_sample(const model_config *cfg, int tp, int L, const variant *vars, int nv, int max_new,
                     mem_plan *out);

#endif
