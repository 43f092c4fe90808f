#!/usr/bin/env bash
# t_deadline: a run told its wall-clock end (issue 19) stops taking items whose estimated cost does
# not fit, so nothing is in flight at the end (a Slurm requeue loses no work). On the slowed fake
# executor: `--deadline +2` and SLURM_JOB_END_TIME (now + 2 s) each stop the run in time with exit
# 0, say how many items were not started, store only whole items; a deadline already past starts
# none; the rerun without a deadline completes with the clean run's tables; a malformed WHEN is one
# error line.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/lib_store.sh
T=tests/tmp/t_deadline
rm -rf "$T"; mkdir -p "$T"
export KVBENCH_FAKE_ENGINE=1
unset KVBENCH_FAKE_MS_PER_KTOK SLURM_JOB_ID SLURM_JOB_END_TIME
tiny_sweep "$T/s.yaml" deadline
"$KVBENCH" run "$T/s.yaml" --output "$T/clean" --quiet >/dev/null 2>&1

# deadline_round NAME SOURCE ENV_ASSIGNMENT [run option...]: a slowed run that must stop by its 2 s
# deadline, SOURCE being what the run names as the deadline's origin.
deadline_round() {
    local name=$1 src=$2 envset=$3 d=$T/$1 out rc t0 el n left; shift 3
    t0=$(date +%s.%N)
    out=$(env KVBENCH_FAKE_MS_PER_KTOK=200 $envset "$KVBENCH" run "$T/s.yaml" --output "$d" "$@" 2>&1); rc=$?
    el=$(echo "$(date +%s.%N) - $t0" | bc -l)
    n=$(items "$d")
    check "$name: exit 0 (got $rc)" test $rc -eq 0
    check "$name: says where the deadline came from" grep -q "run: deadline from $src" <<<"$out"
    check "$name: stopped taking items" grep -qE "run: deadline: [0-9]+ items not started" <<<"$out"
    left=$(sed -n 's/.*, \([0-9]*\) items left for the next run/\1/p' <<<"$out" | tail -n 1)
    check "$name: $n whole items stored, ${left:-?} left" test "$n" -gt 0 -a $((n + ${left:-999})) -eq $N_ITEMS
    check "$name: ended in time (${el}s for a 2 s deadline, reduce included)" test "$(echo "$el < 3.5" | bc)" -eq 1
    check "$name: no temporary left" test "$(find "$d" -name '*.tmp.*' | wc -l)" -eq 0
    out=$("$KVBENCH" run "$T/s.yaml" --output "$d" 2>&1)
    check "$name: rerun does the $((N_ITEMS - n)) items left" grep -q "$((N_ITEMS - n)) items to do" <<<"$out"
    check "$name: rerun gives the clean tables" cmp -s "$T/clean/tables.md" "$d/tables.md"
}
deadline_round option --deadline X=1 --deadline +2
deadline_round slurm SLURM_JOB_END_TIME "SLURM_JOB_END_TIME=$(($(date +%s) + 2))"

out=$("$KVBENCH" run "$T/s.yaml" --output "$T/past" --deadline 1000 2>&1); rc=$?
check "deadline already past: exit 0" test $rc -eq 0
check "deadline already past: no item started" grep -q "run: deadline: $N_ITEMS items not started" <<<"$out"
check "deadline already past: nothing stored" test "$(items "$T/past")" -eq 0
expect_fail "malformed --deadline" "^kvbench: error: deadline 'soon' not understood \(--deadline\): expected" \
    "$KVBENCH" run "$T/s.yaml" --output "$T/bad" --deadline soon
check "malformed --deadline: nothing written" test ! -e "$T/bad"
finish
