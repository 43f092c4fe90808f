#!/usr/bin/env bash
# Conformance tier (CI, when ../shared exists): runs tests/conformance/*.sh against the full
# reference files of the shared folder given as $1, and ends with the summed "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
shared=$(cd "${1:?usage: tests/conformance.sh SHARED_DIR}" && pwd)
export KVBENCH=${KVBENCH:-build/kvbench}
passed=0; failed=0
for t in tests/conformance/*.sh; do
    [ -f "$t" ] || continue
    out=$(bash "$t" "$shared" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+'); p=${p:-0}
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+'); f=${f:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then printf '%s\n' "$out" | tail -n 30; echo "FAILED: $t"; else echo "ok: $t ($p passed)"; fi
    passed=$((passed + p)); failed=$((failed + f))
done
echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
