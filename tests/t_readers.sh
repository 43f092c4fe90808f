#!/usr/bin/env bash
# t_readers: readers while a run writes (issue 19). A store holds a finished sweep; a grown sweep
# (one more budget) then runs slowed down into it while two readers loop until it ends: one
# `kvbench show DIR` (summary.h5), one `kvbench reduce DIR --to OTHER` (every item file). Checked:
# every read exits 0 and sees only whole items (no damaged file, never an odd number of the new
# results: each new item adds 2), DIR is not touched by the readers (no quarantine), the run is not
# blocked (it ends in time, exit 0) and its final tables equal a clean run of the grown sweep. HDF5
# file locking is left at its default, so the test also shows that readers and the writer never
# conflict on locks (item files are written under temporary names and renamed; readers only open
# finished files read-only).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/lib_store.sh
T=tests/tmp/t_readers
rm -rf "$T"; mkdir -p "$T"
export KVBENCH_FAKE_ENGINE=1
unset KVBENCH_FAKE_MS_PER_KTOK HDF5_USE_FILE_LOCKING
tiny_sweep "$T/s.yaml" readers
sed 's/budgets: \[128\]/budgets: [128, 256]/' "$T/s.yaml" >"$T/s2.yaml"
"$KVBENCH" run "$T/s2.yaml" --output "$T/clean" --quiet >/dev/null 2>&1
"$KVBENCH" run "$T/s.yaml" --output "$T/d" --quiet >/dev/null 2>&1
BASE=96   # 32 items x 3 variants

KVBENCH_FAKE_MS_PER_KTOK=150 timeout -k 5 "$(scaled 60)" "$KVBENCH" run "$T/s2.yaml" --output "$T/d" --quiet \
    >"$T/run.log" 2>&1 &
job=$!
reader_show() {
    local n=0 bad=0
    while kill -0 "$job" 2>/dev/null; do
        "$KVBENCH" show "$T/d" >"$T/show.out" 2>&1 || { bad=$((bad + 1)); cat "$T/show.out" >&2; }
        n=$((n + 1))
    done
    echo "$n $bad" >"$T/show.count"
}
reader_reduce() {
    local n=0 bad=0 out rows
    while kill -0 "$job" 2>/dev/null; do
        out=$("$KVBENCH" reduce "$T/d" --to "$T/r" 2>&1) || { bad=$((bad + 1)); echo "$out" >&2; }
        rows=$(sed -n 's/^reduce: [0-9]* item files, \([0-9]*\) results.*/\1/p' <<<"$out")
        if [ -z "$rows" ] || [ $(((rows - BASE) % 2)) -ne 0 ] || grep -q damaged <<<"$out"; then
            bad=$((bad + 1)); echo "reader saw: $out" >&2
        fi
        n=$((n + 1))
    done
    echo "$n $bad" >"$T/reduce.count"
}
reader_show & r1=$!
reader_reduce & r2=$!
t0=$SECONDS
wait "$job"; rc=$?
wait "$r1" "$r2"
read -r ns bs <"$T/show.count"
read -r nr br <"$T/reduce.count"
check "run with two readers: exit 0 (got $rc)" test $rc -eq 0
check "run not blocked: ended in $((SECONDS - t0)) s" test $((SECONDS - t0)) -lt "$(scaled 50)"
check "show ran during the run ($ns times), every read fine ($bs bad)" test "$ns" -gt 1 -a "$bs" -eq 0
check "reduce --to ran during the run ($nr times), whole items only ($br bad)" test "$nr" -gt 1 -a "$br" -eq 0
check "readers left DIR alone (no quarantine)" test ! -e "$T/d/quarantine"
check "final tables equal the clean run's" cmp -s "$T/clean/tables.md" "$T/d/tables.md"
check "final scores.csv equal the clean run's" cmp -s "$T/clean/scores.csv" "$T/d/scores.csv"
"$KVBENCH" reduce "$T/d" --to "$T/r" >/dev/null 2>&1
check "reduce --to gives the same tables" cmp -s "$T/clean/tables.md" "$T/r/tables.md"
finish
