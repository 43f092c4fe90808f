#!/usr/bin/env bash
# Runs every build/tests/cuda/test_* binary (make test-cuda). Each compares the CUDA backend with
# the CPU reference and ends with "name: N passed, N failed", or prints "name: skipped, <why>" and
# exits 0 when it cannot run (no CUDA device). The summary sums only what ran: a
# machine without a GPU gets "not run" and exit 0, never a pass count.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
passed=0; failed=0; ran=0; skipped=0; total=0
for t in "$BUILD"/tests/cuda/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d) continue ;; esac
    total=$((total + 1))
    name=$(basename "$t")
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    if [ "$rc" -eq 0 ] && grep -qE "^$name: skipped" <<<"$out"; then
        skipped=$((skipped + 1))
        continue
    fi
    ran=$((ran + 1))
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=0; f=0
    if [ -n "$line" ]; then
        p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
        f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    [ "$f" -ne 0 ] && echo "FAILED: $name (exit $rc)"
    passed=$((passed + p)); failed=$((failed + f))
done
if [ "$ran" -eq 0 ]; then
    echo "test-cuda: skipped: $total CUDA test binaries built, none run ($skipped reported why above)"
    exit 0
fi
[ "$skipped" -gt 0 ] && echo "test-cuda: $skipped of $total CUDA test binaries skipped (see above)"
echo "test-cuda: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
