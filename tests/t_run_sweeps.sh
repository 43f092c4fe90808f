#!/usr/bin/env bash
# t_run_sweeps: every sweep shipped in sweeps/ validates and plans (the seed's 8B and 70B grids
# against config-only model folders and the demo data, the demo against the embedded model), and
# the 70B grid's tensor_parallel 4 is checked against the rank count.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_run_sweeps
rm -rf "$T"; mkdir -p "$T/models"
cfg() { # cfg DIR layers heads kv dim hidden
    mkdir -p "$T/models/$1"
    cat > "$T/models/$1/config.json" <<JSON
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": $5, "intermediate_size": $6,
 "num_hidden_layers": $2, "num_attention_heads": $3, "num_key_value_heads": $4, "vocab_size": 128256,
 "max_position_embeddings": 131072, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
 "bos_token_id": 128000, "eos_token_id": 128009, "torch_dtype": "bfloat16"}
JSON
}
cfg Meta-Llama-3-8B-Instruct 32 32 8 4096 14336
cfg Llama-3.1-8B-Instruct 32 32 8 4096 14336
cfg Llama-3.3-70B-Instruct 80 64 8 8192 28672
export KVBENCH_MODELS=$T/models KVBENCH_DATA=data/demo KVBENCH_RESULTS=$T/results
unset KVBENCH_FAKE_ENGINE
for p in 2026-01 head; do
    out=$("$KVBENCH" plan sweeps/llama3-8b-$p.yaml --ranks 8 2>&1); rc=$?
    check "8b-$p plans" test $rc -eq 0
    check "8b-$p: 26 variants (FullKV + 5 methods x 5 budgets)" grep -q "variants (26)" <<<"$out"
    check "8b-$p: 2 models x 48 samples x 26 variants" grep -q "= 2496 results" <<<"$out"
    check "8b-$p: preset" grep -q "preset reference-$p" <<<"$out"
    out=$("$KVBENCH" plan sweeps/llama3.3-70b-$p.yaml --ranks 8 2>&1); rc=$?
    check "70b-$p plans on 8 ranks" test $rc -eq 0
    check "70b-$p: 2 groups of 4" grep -q "8 ranks, 2 groups of 4" <<<"$out"
    check "70b-$p: 11 variants" grep -q "variants (11)" <<<"$out"
    expect_fail "70b-$p on 6 ranks" "tensor_parallel 4 does not divide 6 ranks" "$KVBENCH" plan sweeps/llama3.3-70b-$p.yaml --ranks 6
done
unset KVBENCH_MODELS
expect_fail "unset KVBENCH_MODELS is named" "environment variable KVBENCH_MODELS is not set" "$KVBENCH" plan sweeps/llama3-8b-head.yaml
out=$("$KVBENCH" plan sweeps/demo.yaml --ranks 2 2>&1); rc=$?
check "demo plans" test $rc -eq 0
check "demo: 32 samples x 11 variants" grep -q "1 models x 32 samples x 11 variants = 352 results" <<<"$out"
finish
