#!/usr/bin/env bash
# t_simdevice: the engine's device path on the CPU's simulated device (KVBENCH_SIMULATE_DEVICE=1:
# host_memory off, every host copy through to_host/to_device and counted; issue 16). For each method
# that selects through the backend: the generated text equals the plain CPU's (one rank, and three
# tensor-parallel MPI ranks), and the prefill's bytes to the host (statistics + selection, shown by
# generate --transfers) are a small part of what the host path moves (KVBENCH_DEVICE_SELECT=0: the
# H × W × L window rows or H × L column sums of every layer) beyond the logits both move.
cd "$(dirname "$0")/.." && source tests/lib.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
PROMPT="The committee published its report on Monday. It recommends that the city invest in public transport, \
expand the bicycle network and plant more trees along the main avenues. The mayor welcomed the report \
and promised a decision before the end of the year. Summarize the report in one sentence."
args=(generate --model "$MODEL" --prompt "$PROMPT $PROMPT $PROMPT" --chat none --max-new-tokens 6 --json --transfers)
to_host() { sed -n 's/^transfers: prefill \([0-9]*\) bytes to host.*/\1/p' <<<"$1"; }
for m in "snapkv --budget 48 --window 16" "pyramidkv --budget 48 --window 16" "h2o --budget 48 --window 16" \
         "h2o --budget 48 --window 8 --mode upstream --fp16 1" \
         "circuitkv --budget 80" "circuitkv --budget 80 --per_head 1"; do
    cpu=$($KVBENCH "${args[@]}" --method $m 2>/dev/null)
    sim=$(KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${args[@]}" --method $m 2>&1)
    host=$(KVBENCH_DEVICE_SELECT=0 KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${args[@]}" --method $m 2>&1)
    check "simulated device equals the CPU for --method $m" [ "${cpu:0:8}" = '{"text":' -a "$cpu" = "$(grep -v '^transfers:' <<<"$sim")" ]
    d=$(to_host "$sim"); h=$(to_host "$host")
    # both move the last position's logits (SmolLM2: 49152 floats); beyond them under half (H2O's column
    # sums are only H × L per layer: 3× the kept sets at this length; test_select_device shows the scaling)
    check "--method $m: prefill bytes to the host $d with device selection, $h without (beyond the logits, < 1/2)" \
        awk -v d="$d" -v h="$h" -v lg=196608 'BEGIN { exit !(d != "" && h != "" && (d - lg) * 2 < h - lg) }'
    tp=$(KVBENCH_SIMULATE_DEVICE=1 timeout "$(scaled 120)" mpirun -np 3 $KVBENCH "${args[@]}" --method $m \
         --tensor-parallel 3 2>/dev/null)
    check "simulated device, 3 TP ranks, equals the CPU for --method $m" [ "$(strip_mem <<<"$cpu")" = "$(strip_mem <<<"$tp")" ]
done
# the memory plan: kvbench plan prints a sample's peak per model and prompt length
plan=$($KVBENCH plan sweeps/demo.yaml 2>&1)
check "plan prints the per-sample memory peak" grep -qE '^  SmolLM2-135M-Instruct \(tensor_parallel 1\): L 1024: [0-9.]+ GB' <<<"$plan"
finish
