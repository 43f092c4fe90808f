#!/usr/bin/env bash
# Runs every test binary (build/tests/test_*) and every shell test (tests/t_*.sh), sums their
# "N passed, N failed" lines, and ends with the total. Exit status is non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export KVBENCH="$BUILD/kvbench"
# test binaries share 2 cores with MPI ranks: spinning OpenMP waits would cost 3-10x
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
passed=0; failed=0
# KVBENCH_TEST_SKIP: an extended regex of test names not to run (said, never counted as passed);
# KVBENCH_TEST_ONLY: one of the names to run alone (make test-avx512-emu), the others left silently.
run_one() {
    local name=$1; shift
    if [ -n "${KVBENCH_TEST_ONLY:-}" ] && ! [[ $name =~ ^(${KVBENCH_TEST_ONLY})$ ]]; then return; fi
    if [ -n "${KVBENCH_TEST_SKIP:-}" ] && [[ $name =~ ^(${KVBENCH_TEST_SKIP})$ ]]; then
        echo "skipped: $name (KVBENCH_TEST_SKIP)"; return
    fi
    local out rc line p f start=$SECONDS
    out=$("$@" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -n "$line" ]; then
        p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
        f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
    else
        p=0; f=0
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        printf '%s\n' "$out" | grep -vE '^ok ' | tail -n 40
        echo "FAILED: $name (exit $rc) in $((SECONDS - start)) s"
    else
        echo "ok: $name ($p passed) in $((SECONDS - start)) s"
    fi
    passed=$((passed + p)); failed=$((failed + f))
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/t_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" bash "$t"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
