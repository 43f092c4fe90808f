#!/usr/bin/env bash
# t_tp_sweep: tensor parallelism through the sweep runner with the real engine (issue 7) on the
# demo model (9 query heads, 3 KV heads): a small sweep (2 tasks x 1 sample, FullKV + SnapKV +
# CircuitKV at budget 128, 8 new tokens) run by 3 CPU ranks as one TP group of 3 gives the same
# tables and the same per-sample predictions as one rank without TP; 6 ranks form two groups of 3
# that both take items (their leaders, ranks 0 and 3, write them); tensor_parallel 2 is refused at
# plan time, before anything runs or is written; slurm/tp_check.sh accepts 2 nodes x 8 ranks for
# T = 4 and refuses 6 ranks per node.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_tp_sweep
rm -rf "$T"; mkdir -p "$T"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
unset KVBENCH_FAKE_ENGINE
MPIRUN="mpirun --oversubscribe --bind-to none"
if ! command -v mpirun >/dev/null; then echo "t_tp_sweep: mpirun not found"; exit 1; fi

sweep() { # sweep TP > file
    cat <<YAML
name: tpsweep
data: data/demo
tasks: [qasper, multifieldqa_en]
samples: 1
budgets: [128]
methods: [fullkv, snapkv, circuitkv]
models:
  - name: smol
    path: $MODEL
    tensor_parallel: $1
engine:
  backend: cpu
  threads: 1
  max_new_tokens: 8
YAML
}
for tp in 1 2 3; do sweep $tp > "$T/tp$tp.yaml"; done
predictions() { "$KVBENCH" show "$1" --samples --format csv; }
attr() { h5dump -a "/$2" "$1" | sed -n 's/^ *(0): *//p'; }

$MPIRUN -np 1 "$KVBENCH" run "$T/tp1.yaml" --output "$T/ref" --quiet > "$T/ref.log" 2>&1
check "tensor_parallel 1 on 1 rank exits 0" test $? -eq 0
check "reference: 2 item files" test "$(find "$T/ref/items" -name '*.h5' | wc -l)" -eq 2
# predictions may span lines (quoted CSV): count the records by their first field
check "reference: 6 results (2 samples x 3 variants)" test "$(predictions "$T/ref" | grep -c '^smol,')" -eq 6

$MPIRUN -np 3 "$KVBENCH" run "$T/tp3.yaml" --output "$T/tp3" --quiet > "$T/tp3.log" 2>&1
check "tensor_parallel 3 on 3 ranks exits 0" test $? -eq 0
check "tensor_parallel 3: identical tables.md" cmp -s "$T/ref/tables.md" "$T/tp3/tables.md"
check "tensor_parallel 3: identical predictions, scores and token counts" \
    cmp -s <(predictions "$T/ref") <(predictions "$T/tp3")
first=$(find "$T/tp3/items" -name '*.h5' | sort | head -1)
check "tensor_parallel 3: item records tensor_parallel 3" test "$(attr "$first" tensor_parallel)" = 3
check "tensor_parallel 3: only the leader (rank 0) wrote items" \
    test "$(cat "$T"/tp3/logs/rank[12].log | grep -c ' done items/')" -eq 0

# Two groups of 3 consecutive ranks: both leaders take an item (2 items, one each while both ask).
$MPIRUN -np 6 "$KVBENCH" run "$T/tp3.yaml" --output "$T/tp3x2" --quiet > "$T/tp3x2.log" 2>&1
check "tensor_parallel 3 on 6 ranks exits 0" test $? -eq 0
check "two groups: identical tables.md" cmp -s "$T/ref/tables.md" "$T/tp3x2/tables.md"
check "two groups: identical predictions" cmp -s <(predictions "$T/ref") <(predictions "$T/tp3x2")
writers=$(for f in $(find "$T/tp3x2/items" -name '*.h5'); do attr "$f" rank; done | sort -u | tr '\n' ' ')
check "two groups: items written by leaders 0 and 3 (got: $writers)" test "$writers" = "0 3 "
check "two groups: logs say units 0 and 1 with leaders 0 and 3" \
    grep -q 'unit 1 tp_rank 0' "$T/tp3x2/logs/rank3.log"

# T = 2 divides neither 9 query heads nor 3 KV heads: refused when planning, nothing written.
expect_fail "plan: tensor_parallel 2 refused" \
    "^kvbench: error: tensor_parallel 2 does not divide the heads of model 'smol' .*tp2.yaml:[0-9]+:[0-9]+.*n_heads 9 and n_kv_heads 3" \
    "$KVBENCH" plan "$T/tp2.yaml"
expect_fail "run: tensor_parallel 2 refused before any work" "^kvbench: error: tensor_parallel 2 does not divide the heads" \
    "$KVBENCH" run "$T/tp2.yaml" --output "$T/tp2"
check "run: tensor_parallel 2 left no output folder" test ! -e "$T/tp2"

# slurm/tp_check.sh, which the multi-node scripts run before launching: groups never span nodes.
. slurm/tp_check.sh
check "tp_check: reads tensor_parallel 3 from the sweep" test "$(kvbench_sweep_tp "$T/tp3.yaml")" = 3
check "tp_check: 70B sweep has tensor_parallel 4" test "$(kvbench_sweep_tp sweeps/llama3.3-70b-head.yaml)" = 4
out=$(SLURM_JOB_NUM_NODES=2 SLURM_NTASKS_PER_NODE=8 kvbench_check_tp sweeps/llama3.3-70b-head.yaml)
check "tp_check: 2 nodes x 8 ranks, T=4 -> 4 groups (got: $out)" grep -q "= 4 group(s) of 4 consecutive ranks, 2 per node" <<<"$out"
expect_fail "tp_check: 6 ranks per node with T=4 refused" "^kvbench: error: tensor_parallel 4 .* does not divide the 6 ranks per node" \
    env SLURM_JOB_NUM_NODES=2 SLURM_TASKS_PER_NODE="6(x2)" bash -c '. slurm/tp_check.sh; kvbench_check_tp sweeps/llama3.3-70b-head.yaml'
finish
