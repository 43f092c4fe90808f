/* test_longbench_gen: the generation rules the engine runs LongBench with (max_new_tokens per
 * task, the tokenizer's eos then the configured extra stop ids, EOS masked at the first step) and the
 * no-op paths of the middle truncation. The tokenizer paths are covered by t_prompts.sh. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/util.h"
#include "harness/longbench/longbench.h"

int main(void)
{
    lb_gen_rules r;
    const int stops[2] = {128009, 198};
    CHECK(lb_gen_rules_get(lb_task_find("gov_report"), PRESET_REFERENCE_HEAD, NULL, stops, 2, &r) == KV_OK,
          "configured stop ids: %s", kv_lasterr());
    CHECK(r.max_new_tokens == 512 && r.n_stop_ids == 2 && r.stop_ids[0] == 128009 && r.stop_ids[1] == 198 &&
              r.mask_first == 1,
          "gov_report rules");
    gen_params gp;
    lb_gen_rules_params(&r, &gp);
    CHECK(gp.max_new_tokens == 512 && gp.stop_ids == r.stop_ids && gp.n_stop_ids == 2 && gp.mask_first == 1,
          "gen_params points into the rules");
    CHECK(lb_gen_rules_get(lb_task_find("hotpotqa"), PRESET_REFERENCE_2026_01, NULL, stops, 1, &r) == KV_OK &&
              r.max_new_tokens == 32 && r.n_stop_ids == 1,
          "hotpotqa under reference-2026-01");
    CHECK(lb_gen_rules_get(lb_task_find("lcc"), PRESET_REFERENCE_HEAD, NULL, NULL, 0, &r) == KV_ERR &&
              strstr(kv_lasterr(), "no stop id"),
          "no tokenizer and no configured stop id is an error");
    int many[LB_MAX_STOP_IDS + 1];
    for (int i = 0; i <= LB_MAX_STOP_IDS; i++) many[i] = 100 + i;
    CHECK(lb_gen_rules_get(lb_task_find("lcc"), PRESET_REFERENCE_HEAD, NULL, many, LB_MAX_STOP_IDS + 1, &r) == KV_ERR,
          "too many stop ids");

    /* the reference rule with a real tokenizer (the demo model's: eos_token_id 2 = <|im_end|>):
     * eos only by default — not also <|endoftext|> (0) — and configured ids are extras after it */
    tokenizer *tok = NULL;
    CHECK(tokenizer_load(DEMO_MODEL, &tok) == KV_OK, "demo tokenizer: %s", kv_lasterr());
    if (tok) {
        CHECK(lb_gen_rules_get(lb_task_find("lcc"), PRESET_REFERENCE_HEAD, tok, NULL, 0, &r) == KV_OK &&
                  r.n_stop_ids == 1 && r.stop_ids[0] == 2,
              "default stop set is the tokenizer's eos only (got %d ids, first %d)", r.n_stop_ids, r.stop_ids[0]);
        const int extra[2] = {0, 2};
        CHECK(lb_gen_rules_get(lb_task_find("lcc"), PRESET_REFERENCE_HEAD, tok, extra, 2, &r) == KV_OK &&
                  r.n_stop_ids == 2 && r.stop_ids[0] == 2 && r.stop_ids[1] == 0,
              "configured ids extend eos without repeats");
        tokenizer_free(tok);
    }

    /* at or under the limit (or no limit) the ids are copied, no tokenizer needed */
    int ids[5] = {128000, 1, 2, 3, 4}, *out, n;
    CHECK(lb_truncate_middle(NULL, ids, 5, 5, &out, &n) == KV_OK && n == 5 && !memcmp(out, ids, sizeof ids),
          "n == max: unchanged");
    free(out);
    CHECK(lb_truncate_middle(NULL, ids, 5, 0, &out, &n) == KV_OK && n == 5 && !memcmp(out, ids, sizeof ids),
          "max 0: no limit");
    free(out);
    return check_report("test_longbench_gen");
}
