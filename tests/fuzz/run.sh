#!/usr/bin/env bash
# run.sh: the fuzzing CI tier. Builds the libFuzzer targets (build.sh) and runs each for N seconds
# (default 60) under ASan + UBSan + LeakSanitizer, starting from its seed corpus
# tests/fuzz/corpus/<name>/ (copied into build/fuzz/work/<name>, which keeps what the run finds so
# a later run continues from there; the committed seeds stay small). A target passes when libFuzzer
# reports no crash, leak, timeout or out-of-memory; crash inputs land in build/fuzz/artifacts/<name>/.
# Prints executions per target and ends with "fuzz: N passed, N failed".
# Usage: tests/fuzz/run.sh [seconds] [target...]
set -u
cd "$(dirname "$0")/../.."
SECS=${1:-60}
shift || true
if ! bash tests/fuzz/build.sh "$@" >build/fuzz.log 2>&1; then
    tail -n 20 build/fuzz.log
    echo "fuzz: 0 passed, 1 failed (build failed, see build/fuzz.log)"
    exit 1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
passed=0; failed=0
for t in "${targets[@]}"; do
    work=build/fuzz/work/$t art=build/fuzz/artifacts/$t log=build/fuzz/$t.log
    mkdir -p "$work" "$art"
    cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb/-malloc_limit_mb: a header that
    # declares a huge size must be refused, not allocated.
    TMPDIR=${TMPDIR:-/tmp} ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        build/fuzz/fuzz_"$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="$art/" "$work" >"$log" 2>&1
    rc=$?
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
    found=$(grep -cE '^==[0-9]+==ERROR|^SUMMARY: |runtime error:|ERROR: libFuzzer' "$log")
    if [ $rc -eq 0 ] && [ "$found" -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok: fuzz_$t: ${execs:-0} executions in ${SECS} s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) inputs, no findings"
    else
        failed=$((failed + 1))
        echo "FAILED: fuzz_$t (exit $rc): ${execs:-?} executions; finding:"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 5 | sed 's/^/    /'
        grep -A 12 -E '^==[0-9]+==ERROR|runtime error:' "$log" | grep -E '^ +#[0-9]+ ' | head -n 8 | sed 's/^/    /'
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
