#!/usr/bin/env bash
# gpu-check: everything a lent GPU (an H200) should run, from the device bundle, within a stated
# budget (BUDGET_S, 540 s: the device session is 15 minutes with the machine's start). Nothing is
# built or fetched here: build the bundle on the CPU machine (`make device-bundle`) and carry
# build/device-bundle with the working tree. Steps, each with its own time limit (the limits sum
# to at most BUDGET_S - MARGIN_S, checked before anything runs):
#   bundle      the bundle's files are there and their libraries resolve (cuBLAS searched for)
#   cpu-smoke   kvbench --help and a 4-token CPU bench on random weights: the binaries start
#   gpu-probe   the first GPU call (a tiny CUDA bench); without a device the script stops here,
#               says "no GPU", marks the rest "skipped (no GPU)" and exits 3
#   test-cuda   every CUDA test (kernels vs CPU twins, statistics, the demo-shaped model with
#               graphs) through tests/cuda/run.sh; a test that skips on a GPU machine is a failure
#   bench-*     throughput on random Llama-3-8B weights (prefill 2k/8k/32k, decode at batch 1
#               with and without CUDA graphs, the 26 batched variants) and on the demo shape
#   select-8b-8k  prefill + statistics + selection per layer at 8k (SnapKV) with the
#               selection on the device and on the host (issue 16), with the host transfers
# Every log goes under $OUT (default ./gpu-logs); $OUT/summary.txt is the one-screen summary and
# $OUT/figures.txt the benchmark lines for BENCHMARKS.md. A step is "skipped" only with its reason
# (no GPU; budget spent; single-rank bundle; an earlier step that later ones need failed). Exit status: 0 every step passed, 1 a step failed or
# timed out, 3 no GPU (a dry run: every step before the first GPU call passed).
#   usage: tools/gpu-check.sh   (BUNDLE=dir, OUT=dir, BUDGET_S=s)
set -u
cd "$(dirname "$0")/.."
BUNDLE=${BUNDLE:-build/device-bundle}
OUT=${OUT:-./gpu-logs}
BUDGET_S=${BUDGET_S:-540}
MARGIN_S=${MARGIN_S:-30}  # timeout's kill grace (5 s per step at most) and the summary
KV="$BUNDLE/kvbench"

# name:limit_s, in order; each name has a function s_<name> (dashes as underscores). Each 8B step
# first fills 8e9 random weights on the host (Box-Muller in double: ~30 ns per value per core, ~15-20 s
# on 16 cores) and uploads them: its limit is that plus the benchmark itself.
PLAN="bundle:5 cpu-smoke:30 gpu-probe:20 test-cuda:90 bench-8b-2k:50 bench-8b-2k-nographs:45
      bench-8b-8k:45 select-8b-8k:60 bench-8b-32k:60 bench-8b-26var:60 bench-demo:15 bench-demo-26var:30"

s_bundle() {
    local f missing=0
    for f in "$KV" "$BUNDLE"/lib/libkvbench.so "$BUNDLE"/tests/cuda/test_cuda_kernels \
        "$BUNDLE"/tests/cuda/test_cuda_model "$BUNDLE"/tests/cuda/test_cuda_stats tests/cuda/run.sh; do
        [ -e "$f" ] || { echo "missing: $f (run make device-bundle on the CPU machine, carry $BUNDLE)"; missing=1; }
    done
    [ "$missing" -eq 0 ] || return 1
    ldd "$KV" "$BUNDLE"/lib/libkvbench.so "$BUNDLE"/tests/cuda/test_* || return 1
    ! ldd "$KV" "$BUNDLE"/lib/libkvbench.so "$BUNDLE"/tests/cuda/test_* | grep "not found"
}
s_cpu_smoke() {
    "$KV" --help && "$KV" bench --random smollm2-135m --backend cpu --prompt-tokens 8 --gen 2 --runs 1
}
s_gpu_probe() {
    nvidia-smi || echo "nvidia-smi: not available"
    "$KV" bench --random smollm2-135m --backend cuda --prompt-tokens 16 --gen 2 --runs 1
}
s_test_cuda() {
    local log="$OUT/test-cuda.out" rc
    BUILD="$BUNDLE" bash tests/cuda/run.sh >"$log" 2>&1
    rc=$?
    cat "$log"
    # On a machine with a GPU nothing may skip (the model is random weights of the demo shape).
    if grep -E "^test_cuda_[a-z]+: skipped" "$log"; then echo "gpu-check: a CUDA test skipped on a GPU machine"; return 1; fi
    return "$rc"
}
# Llama-3-8B with random weights (bf16 on the device): prefill at three lengths, decode at batch 1
# with and without CUDA graphs, then the 26 variants batched vs one by one.
s_bench_8b_2k() { "$KV" bench --random llama3-8b --backend cuda --prompt-tokens 2048 --gen 64 --runs 2; }
s_bench_8b_2k_nographs() {
    KVBENCH_CUDA_GRAPHS=0 "$KV" bench --random llama3-8b --backend cuda --prompt-tokens 2048 --gen 64 --runs 2
}
s_bench_8b_8k() { "$KV" bench --random llama3-8b --backend cuda --prompt-tokens 8192 --gen 8 --runs 1; }
# Issue 16: prefill + statistics + selection per layer at 8k for SnapKV, with the
# selection on the device and on the host (KVBENCH_DEVICE_SELECT=0: the window rows go to the host);
# the "compression:" and "host transfers" lines are the figures (target: within 1.2x of the prefill).
s_select_8b_8k() {
    for m in "snapkv --budget 1024"; do
        for sel in 1 0; do
            echo "== --method $m, KVBENCH_DEVICE_SELECT=$sel"
            KVBENCH_DEVICE_SELECT=$sel "$KV" bench --random llama3-8b --backend cuda --prompt-tokens 8192 --gen 2 \
                --runs 1 --method $m || return 1
        done
    done
}
s_bench_8b_32k() { "$KV" bench --random llama3-8b --backend cuda --prompt-tokens 32768 --gen 4 --runs 1; }
s_bench_8b_26var() {
    "$KV" bench --random llama3-8b --backend cuda --prompt-tokens 2048 --gen 32 --runs 1 --variants all
}
s_bench_demo() { "$KV" bench --random smollm2-135m --backend cuda --runs 3; }
s_bench_demo_26var() { KVBENCH_CUDA_WEIGHTS=fp32 "$KV" bench --random smollm2-135m --backend cuda --runs 1 --variants all; }

mkdir -p "$OUT" || exit 1
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
sum=0
for e in $PLAN; do sum=$((sum + ${e#*:})); done
if [ "$sum" -gt $((BUDGET_S - MARGIN_S)) ]; then
    say "gpu-check: the step limits sum to ${sum}s, over the budget ${BUDGET_S}s less ${MARGIN_S}s of margin"
    exit 1
fi

# cuBLAS (dlopened by the CUDA backend, kernels/cublas_load.h): /usr/local/cuda/lib64 or the loader's
# cache; otherwise the toolkit's target folder or the pip wheels of a PyTorch image (found on disk,
# nothing fetched), put on LD_LIBRARY_PATH.
if ! ls /usr/local/cuda/lib64/libcublas.so.* >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libcublas.so; then
    for d in /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 \
        /usr/local/lib/python3*/dist-packages/nvidia/cu*/lib /usr/local/lib/python3*/*-packages/nvidia/cublas/lib \
        /usr/lib/python3*/*-packages/nvidia/cublas/lib; do
        if ls "$d"/libcublas.so.* >/dev/null 2>&1; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; break; fi
    done
fi

START=$(date +%s)
say "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname 2>/dev/null || cat /etc/hostname)"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)'); bundle $BUNDLE$([ -n "${LD_LIBRARY_PATH:-}" ] && echo "; LD_LIBRARY_PATH=$LD_LIBRARY_PATH")"
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
say "GPU: ${gpu:-none listed (nvidia-smi not available or no device)}"
say "budget ${BUDGET_S}s; step limits sum to ${sum}s"
printf '%-24s %-8s %5s  %s\n' step status secs note | tee -a "$SUMMARY"

failed=0 stop_reason=""
for e in $PLAN; do
    name=${e%%:*} limit=${e#*:}
    log="$OUT/$name.log"
    if [ -n "$stop_reason" ]; then
        printf '%-24s %-8s %5s  %s\n' "$name" skipped - "$stop_reason" | tee -a "$SUMMARY"
        continue
    fi
    left=$((BUDGET_S - ($(date +%s) - START)))
    if [ "$left" -lt "$limit" ]; then
        printf '%-24s %-8s %5s  %s\n' "$name" skipped - "budget: ${left}s left, step needs ${limit}s" | tee -a "$SUMMARY"
        failed=1
        continue
    fi
    t0=$(date +%s)
    echo "== $name (limit ${limit}s)" >"$log"
    export -f "s_${name//-/_}"
    export KV BUNDLE OUT
    timeout --kill-after=5 "$limit" bash -c "s_${name//-/_}" >>"$log" 2>&1
    rc=$?
    dt=$(($(date +%s) - t0))
    if [ "$rc" -eq 0 ]; then
        printf '%-24s %-8s %5d\n' "$name" ok "$dt" | tee -a "$SUMMARY"
    elif [ "$name" = gpu-probe ] && grep -q "no CUDA device" "$log"; then
        printf '%-24s %-8s %5d  %s\n' "$name" "no GPU" "$dt" "$(grep -m1 'no CUDA device' "$log")" | tee -a "$SUMMARY"
        stop_reason="no GPU"
    else
        [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="timeout after ${limit}s" || why="exit $rc"
        printf '%-24s %-8s %5d  %s\n' "$name" FAILED "$dt" "$why; see $log" | tee -a "$SUMMARY"
        failed=1
        case $name in # later steps need what these check: stop rather than fail each in turn
            bundle | cpu-smoke) stop_reason="bundle unusable (see $name.log)" ;;
            gpu-probe) stop_reason="the GPU probe failed (see gpu-probe.log)" ;;
        esac
    fi
done
say "TP on GPUs: skipped (the bundle is single-rank: no MPI; NCCL TP needs the full build and 2 GPUs)"

grep -hE "^(test_cuda_[a-z]+|test-cuda): .*(passed|skipped)" "$OUT/test-cuda.log" 2>/dev/null | tee -a "$SUMMARY"
grep -HE "^(model|prefill|decode|roofline|variants|one by one|shared|speed-up|mismatches|compression|host transfers|==)" "$OUT"/bench-*.log "$OUT"/select-*.log 2>/dev/null \
    | sed "s|^$OUT/||" >"$OUT/figures.txt"
say "gpu-check: $(($(date +%s) - START))s of ${BUDGET_S}s; logs in $OUT; figures in $OUT/figures.txt"
if [ "$stop_reason" = "no GPU" ]; then
    say "gpu-check: no GPU: every step before the first GPU call passed; nothing was measured"
    [ "$failed" -eq 0 ] && exit 3
fi
exit "$failed"
