#!/usr/bin/env bash
# t_simdevice: the engine's device path on the CPU's simulated device (KVBENCH_SIMULATE_DEVICE=1:
# host_memory off, every host copy through to_host/to_device and counted; issue 16). For each method
# that selects through the backend: the generated text equals the plain CPU's (one rank, and three
# tensor-parallel MPI ranks); with the views kept on the device the prefill's bytes to the host
# (generate --transfers) are the last position's logits alone — a small part of what the host path
# moves (KVBENCH_DEVICE_SELECT=0: the H × W × L window rows or H × L column sums of every layer) —
# decode's bytes each way do not change with the prompt length and bring 4 bytes (a token id) a
# step to the host; under TP only CircuitKV's shared set all-gathers statistics.
cd "$(dirname "$0")/.." && source tests/lib.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
TMP=tests/tmp/t_simdevice
rm -rf "$TMP"; mkdir -p "$TMP"
PROMPT="The committee published its report on Monday. It recommends that the city invest in public transport, \
expand the bicycle network and plant more trees along the main avenues. The mayor welcomed the report \
and promised a decision before the end of the year. Summarize the report in one sentence."
args=(generate --model "$MODEL" --prompt "$PROMPT $PROMPT $PROMPT" --chat none --max-new-tokens 6 --json --transfers)
to_host() { sed -n 's/^transfers: prefill \([0-9]*\) bytes to host.*/\1/p' <<<"$1"; }
decode() { sed -n 's/^transfers: .*; decode \([0-9]*\) to host, \([0-9]*\) to device$/\1 \2/p' <<<"$1"; }
short=(generate --model "$MODEL" --prompt "$PROMPT $PROMPT" --chat none --max-new-tokens 6 --json --transfers)
for m in "snapkv --budget 48 --window 16" "pyramidkv --budget 48 --window 16" "h2o --budget 48 --window 16" \
         "h2o --budget 48 --window 8 --mode upstream --fp16 1" \
         "circuitkv --budget 80" "circuitkv --budget 80 --per_head 1"; do
    cpu=$($KVBENCH "${args[@]}" --method $m 2>/dev/null)
    sim=$(KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${args[@]}" --method $m 2>&1)
    host=$(KVBENCH_DEVICE_SELECT=0 KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${args[@]}" --method $m 2>&1)
    check "simulated device equals the CPU for --method $m" [ "${cpu:0:8}" = '{"text":' -a "$cpu" = "$(grep -v '^transfers:' <<<"$sim")" ]
    d=$(to_host "$sim"); h=$(to_host "$host")
    # the views stay on the device: the prefill's bytes to the host are the last position's logits alone
    # (SmolLM2: 49152 floats), whatever W and L; decode moves token ids (4 bytes a step) up and down,
    # the kept counts once (layers × heads ints) and the step's positions: the same at two thirds of the prompt
    check "--method $m: with the views on the device the prefill moves the logits alone to the host ($d bytes)" \
        [ "$d" = 196608 ]
    sim_short=$(KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${short[@]}" --method $m 2>&1)
    check "--method $m: decode's bytes (to host, to device) '$(decode "$sim")' at L, '$(decode "$sim_short")' at 2L/3" \
        [ -n "$(decode "$sim")" -a "$(decode "$sim")" = "$(decode "$sim_short")" ]
    check "--method $m: decode brings 4 bytes a step to the host ($(decode "$sim"))" \
        awk -v b="$(decode "$sim" | cut -d' ' -f1)" 'BEGIN { exit !(b > 0 && b <= 4 * 6) }' 
    # both move the last position's logits (SmolLM2: 49152 floats); beyond them under half (H2O's column
    # sums are only H × L per layer: 3× the kept sets at this length; test_select_device shows the scaling)
    check "--method $m: prefill bytes to the host $d with device selection, $h without (beyond the logits, < 1/2)" \
        awk -v d="$d" -v h="$h" -v lg=196608 'BEGIN { exit !(d != "" && h != "" && (d - lg) * 2 < h - lg) }'
    tp=$(KVBENCH_SIMULATE_DEVICE=1 timeout "$(scaled 120)" mpirun -np 3 $KVBENCH "${args[@]}" --method $m \
         --tensor-parallel 3 2>"$TMP/tp.err")
    check "simulated device, 3 TP ranks, equals the CPU for --method $m" [ "$(strip_mem <<<"$cpu")" = "$(strip_mem <<<"$tp")" ]
    # per-head methods select each rank's heads from its own statistics: nothing all-gathered; CircuitKV's
    # shared set reads every head's window rows (all-gathered: 9 heads × W × L floats a layer)
    g=$(sed -n 's/^transfers: selection all-gathered \([0-9]*\) bytes.*/\1/p' "$TMP/tp.err")
    if [ "$m" = "circuitkv --budget 80" ]; then want='g > 0'; else want='g == 0'; fi
    check "--method $m, 3 TP ranks: selection all-gathered '$g' bytes ($want)" \
        awk -v g="$g" "BEGIN { exit !(g != \"\" && $want) }"
done
# StreamingLLM selects on the host, its rows all the same: one row goes to the device and is copied there to
# every (layer, head), so its decode bytes do not change with the prompt length either
m="streamingllm --budget 48"
cpu=$($KVBENCH "${args[@]}" --method $m 2>/dev/null)
sim=$(KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${args[@]}" --method $m 2>&1)
sim_short=$(KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${short[@]}" --method $m 2>&1)
check "simulated device equals the CPU for --method $m" [ "${cpu:0:8}" = '{"text":' -a "$cpu" = "$(grep -v '^transfers:' <<<"$sim")" ]
check "--method $m: decode's bytes (to host, to device) '$(decode "$sim")' at L, '$(decode "$sim_short")' at 2L/3" \
    [ -n "$(decode "$sim")" -a "$(decode "$sim")" = "$(decode "$sim_short")" ]
# exported kept sets (--kept-out: the rows come back to the host) equal the CPU's, at one rank and at 3 TP
# ranks (there the statistics are all-gathered so that rank 0 holds every head's rows)
if python3 -c "import h5py" 2>/dev/null; then
    for m in "snapkv --budget 48 --window 16" "circuitkv --budget 80"; do
        f=$(tr -c 'a-z0-9' _ <<<"$m")
        $KVBENCH "${args[@]}" --method $m --kept-out "$TMP/$f.cpu.h5" >/dev/null 2>&1
        KVBENCH_SIMULATE_DEVICE=1 $KVBENCH "${args[@]}" --method $m --kept-out "$TMP/$f.sim.h5" >/dev/null 2>&1
        KVBENCH_SIMULATE_DEVICE=1 timeout "$(scaled 120)" mpirun -np 3 $KVBENCH "${args[@]}" --method $m \
            --tensor-parallel 3 --kept-out "$TMP/$f.tp.h5" >/dev/null 2>&1
        for x in sim tp; do
            check "--method $m: kept sets exported on the simulated device ($x) equal the CPU's" python3 -c "
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
sys.exit(0 if all(np.array_equal(a['kept/' + k][()], b['kept/' + k][()]) for k in ('offsets', 'positions')) else 1)
" "$TMP/$f.cpu.h5" "$TMP/$f.$x.h5"
        done
    done
fi
# the memory plan: kvbench plan prints a sample's peak per model and prompt length
plan=$($KVBENCH plan sweeps/demo.yaml 2>&1)
check "plan prints the per-sample memory peak" grep -qE '^  SmolLM2-135M-Instruct \(tensor_parallel 1\): L 1024: [0-9.]+ GB' <<<"$plan"
finish
