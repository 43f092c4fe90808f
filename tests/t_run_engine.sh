#!/usr/bin/env bash
# t_run_engine: the real item executor on the embedded SmolLM2-135M model (not the fake seam):
# LongBench prompts, one engine_generate per sample for all six methods, predictions scored and
# stored; one process and mpirun -np 2 give the same predictions and tables; a rerun computes
# nothing. Small on purpose: 2 short tasks x 1 sample, 4 new tokens.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_run_engine
rm -rf "$T"; mkdir -p "$T"
unset KVBENCH_FAKE_ENGINE KVBENCH_FAKE_MS_PER_KTOK
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cat > "$T/s.yaml" <<YAML
name: engine
data: data/demo
preset: reference-2026-01
tasks: [trec, lcc]
samples: 1
budgets: [128]
methods: [fullkv, snapkv, pyramidkv, h2o, streamingllm, circuitkv]
models:
  - {name: smol, path: $MODEL, family: smollm2, max_prompt_tokens: 1500}
engine: {backend: cpu, threads: 1, max_new_tokens: 4}
YAML
out=$("$KVBENCH" run "$T/s.yaml" --output "$T/one" 2>&1); rc=$?
check "one process: exit 0" test $rc -eq 0
check "not the fake engine" bash -c "! grep -q FAKE <<<\"\$1\"" _ "$out"
check "2 items stored" test "$(find "$T/one/items" -name '*.h5' | wc -l)" -eq 2
csv=$("$KVBENCH" show "$T/one" --samples --format csv)
json=$("$KVBENCH" show "$T/one" --samples --format json)
check "12 predictions (2 samples x 6 variants), each with generated tokens" python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
assert len(d) == 12 and all(r['n_generated'] > 0 for r in d), d" <<<"$json"
if command -v h5dump >/dev/null; then
    f=$(find "$T/one/items/smol/trec" -name '*.h5' | head -n 1)
    d=$(h5dump -a /backend -a /device -a /model_hash "$f")
    check "provenance: cpu backend and a model hash" grep -q '"cpu"' <<<"$d"
    check "provenance: the weight formats held (as stored)" grep -q '"q8_0+q4_1"' <<<"$(h5dump -a /weights "$f")"
    k=$(h5dump -d /results/kept_max -d /results/kept_expected "$f" | grep -A1 "DATA {" | grep "(0,0)")
    check "kept lengths match each method's promise" test "$(sed -n 1p <<<"$k" | cut -d: -f2)" = "$(sed -n 2p <<<"$k" | cut -d: -f2)"
fi
mpirun --oversubscribe -np 2 "$KVBENCH" run "$T/s.yaml" --output "$T/two" --quiet > "$T/two.log" 2>&1
check "mpirun -np 2: exit 0" test $? -eq 0
check "mpirun -np 2: identical tables" cmp -s "$T/one/tables.md" "$T/two/tables.md"
check "mpirun -np 2: identical predictions" test "$csv" = "$("$KVBENCH" show "$T/two" --samples --format csv)"
out=$("$KVBENCH" run "$T/s.yaml" --output "$T/one" 2>&1)
check "rerun: nothing to do" grep -q "0 items to do (12 results already stored)" <<<"$out"
# The sweep chooses how the CPU holds the weights (models: weights) and decode's activations
# (engine: activations); the items record what was used.
if command -v h5dump >/dev/null; then
    sed 's/tasks: \[trec, lcc\]/tasks: [trec]/; s/max_prompt_tokens: 1500}/max_prompt_tokens: 1500, weights: f32}/' \
        "$T/s.yaml" > "$T/f32.yaml"
    sed 's/tasks: \[trec, lcc\]/tasks: [trec]/; s/max_new_tokens: 4}/max_new_tokens: 4, activations: q8}/' "$T/s.yaml" > "$T/q8.yaml"
    for v in f32 q8; do
        "$KVBENCH" run "$T/$v.yaml" --output "$T/$v" --quiet > "$T/$v.log" 2>&1
        check "weights/activations from the sweep ($v): exit 0" test $? -eq 0
        check "weights/activations from the sweep ($v): 6 predictions" \
            python3 -c "import json, sys; assert len(json.load(sys.stdin)) == 6" <<<"$("$KVBENCH" show "$T/$v" --samples --format json)"
    done
    check "provenance: weights converted at load (weights: f32)" \
        grep -q '"f32"' <<<"$(h5dump -a /weights "$(find "$T/f32/items" -name '*.h5' | head -n 1)")"
    check "provenance: 8-bit activations recorded (activations: q8)" \
        grep -qE '"q8_0\+q4_1, activations q8 \((vnni|avx2|c)\)"' <<<"$(h5dump -a /weights "$(find "$T/q8/items" -name '*.h5' | head -n 1)")"
fi
# --backend overrides the sweep's engine.backend: asking for the GPU on a machine without one fails
# with the reason and stores nothing; an unknown backend is refused before anything runs.
if ! nvidia-smi -L >/dev/null 2>&1; then
    expect_fail "run --backend cuda without a GPU" "no CUDA device|not compiled|CUDA" \
        "$KVBENCH" run "$T/s.yaml" --output "$T/gpu" --backend cuda --quiet
    check "run --backend cuda without a GPU stored nothing" test "$(find "$T/gpu" -name '*.h5' 2>/dev/null | wc -l)" -eq 0
fi
expect_fail "run --backend tpu" "unknown backend 'tpu' \(--backend\)" "$KVBENCH" run "$T/s.yaml" --backend tpu
finish
