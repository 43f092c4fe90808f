#!/usr/bin/env bash
# t_mpi_run: the distributed runner under mpirun on the fake executor (test seam; no model):
# 1-4 ranks give tables identical to a single-process run; kill -9 of a worker mid-run, then the
# same command again, gives identical tables and no duplicated result; SIGTERM (one process) and
# SIGUSR1 (forwarded by mpirun) stop taking items, reduce what is done and exit 0, and a rerun
# completes the sweep.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_mpi_run
rm -rf "$T"; mkdir -p "$T"
export KVBENCH_FAKE_ENGINE=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN="mpirun --oversubscribe --bind-to none"
if ! command -v mpirun >/dev/null; then echo "t_mpi_run: mpirun not found"; exit 1; fi
six_method_sweep "$T/s.yaml" mpi
items() { find "$1/items" -name '*.h5' 2>/dev/null | wc -l; }
results() { "$KVBENCH" show "$1" --samples --format csv | tail -n +2 | wc -l; }
unique_results() { "$KVBENCH" show "$1" --samples --format csv | tail -n +2 | cut -d, -f1-5,7 | sort -u | wc -l; }

unset KVBENCH_FAKE_MS_PER_KTOK
"$KVBENCH" run "$T/s.yaml" --output "$T/ref" --quiet
check "reference run: 48 items" test "$(items "$T/ref")" -eq 48
for np in 1 2 3 4; do
    $MPIRUN -np $np "$KVBENCH" run "$T/s.yaml" --output "$T/np$np" --quiet > "$T/np$np.log" 2>&1
    check "mpirun -np $np exits 0" test $? -eq 0
    check "mpirun -np $np: identical tables" cmp -s "$T/ref/tables.md" "$T/np$np/tables.md"
    check "mpirun -np $np: identical scores.csv" cmp -s "$T/ref/scores.csv" "$T/np$np/scores.csv"
    check "mpirun -np $np: every rank logged" test "$(ls "$T/np$np/logs" | wc -l)" -eq $np
done
# Every rank worked, the coordinator's too.
workers=$(grep -h " done items/" "$T"/np4/logs/rank*.log | awk '{print $3}' | sort -u | wc -l)
check "4 ranks: all 4 took items" test "$workers" -eq 4

# Tensor-parallel groups of 2 consecutive ranks: leaders take items and write them.
sed 's|^    path: .*|&\n    tensor_parallel: 2|' "$T/s.yaml" > "$T/tp.yaml"
$MPIRUN -np 4 "$KVBENCH" run "$T/tp.yaml" --output "$T/tp" --quiet > "$T/tp.log" 2>&1
check "tensor_parallel 2 on 4 ranks exits 0" test $? -eq 0
check "tensor_parallel 2: identical tables" cmp -s "$T/ref/tables.md" "$T/tp/tables.md"
check "tensor_parallel 2: only leaders (ranks 0, 2) wrote items" \
    test "$(grep -c ' done items/' "$T/tp/logs/rank1.log" "$T/tp/logs/rank3.log" | awk -F: '{s+=$2} END {print s}')" -eq 0
expect_fail "tensor_parallel 2 on 3 ranks" "^kvbench: error: tensor_parallel 2 does not divide the 3 ranks" \
    $MPIRUN -np 3 "$KVBENCH" run "$T/tp.yaml" --output "$T/tp3"

# kill -9 of rank 1 in the middle of a 3-rank run (each item sleeps ~0.1-0.4 s).
export KVBENCH_FAKE_MS_PER_KTOK=400
$MPIRUN -np 3 "$KVBENCH" run "$T/s.yaml" --output "$T/kill" --quiet > "$T/kill1.log" 2>&1 &
job=$!
for _ in $(seq 1 "$(scaled 200)"); do [ "$(items "$T/kill")" -ge 8 ] && break; sleep 0.05; done
pid=$(awk '/^start rank 1\//{print $5; exit}' "$T/kill/logs/rank1.log" 2>/dev/null)
check "found rank 1's pid" test -n "$pid"
[ -n "$pid" ] && kill -9 "$pid"
wait $job; rc=$?
check "killed job ended non-zero (MPI tore it down)" test $rc -ne 0
partial=$(items "$T/kill")
check "killed job left a partial store ($partial items)" test "$partial" -lt 48
unset KVBENCH_FAKE_MS_PER_KTOK
$MPIRUN -np 3 "$KVBENCH" run "$T/s.yaml" --output "$T/kill" > "$T/kill2.log" 2>&1
check "rerun after kill exits 0" test $? -eq 0
check "rerun computed only the rest" grep -q "$((48 - partial)) items to do" "$T/kill2.log"
check "after kill + rerun: identical tables" cmp -s "$T/ref/tables.md" "$T/kill/tables.md"
check "after kill + rerun: 48 item files" test "$(items "$T/kill")" -eq 48
check "after kill + rerun: no temporaries left" test "$(find "$T/kill/items" -name '*.tmp.*' | wc -l)" -eq 0
check "after kill + rerun: 528 results, no duplicate" test "$(results "$T/kill")" -eq 528 -a "$(unique_results "$T/kill")" -eq 528
check "reducer found no duplicate" grep -q "(0 duplicates dropped)" "$T/kill2.log"

# SIGTERM to a single process: stop, finish the item in flight, reduce, exit 0.
export KVBENCH_FAKE_MS_PER_KTOK=400
"$KVBENCH" run "$T/s.yaml" --output "$T/term" > "$T/term1.log" 2>&1 &
job=$!
for _ in $(seq 1 "$(scaled 200)"); do [ "$(items "$T/term")" -ge 4 ] && break; sleep 0.05; done
kill -TERM $job
wait $job; rc=$?
check "SIGTERM: exit 0" test $rc -eq 0
check "SIGTERM: says it stopped" grep -q "stopped by signal" "$T/term1.log"
n=$(items "$T/term")
check "SIGTERM: partial store ($n items)" test "$n" -lt 48 -a "$n" -ge 4
check "SIGTERM: reduced what is done" test -s "$T/term/tables.md"
check "SIGTERM: no temporaries" test "$(find "$T/term/items" -name '*.tmp.*' | wc -l)" -eq 0

# SIGUSR1 to mpirun (Slurm's --signal=B:USR1 reaches the batch shell, which forwards it).
$MPIRUN -np 2 "$KVBENCH" run "$T/s.yaml" --output "$T/usr1" > "$T/usr1.log" 2>&1 &
job=$!
for _ in $(seq 1 "$(scaled 200)"); do [ "$(items "$T/usr1")" -ge 4 ] && break; sleep 0.05; done
kill -USR1 $job
wait $job; rc=$?
check "SIGUSR1 via mpirun: exit 0" test $rc -eq 0
check "SIGUSR1 via mpirun: stopped early" test "$(items "$T/usr1")" -lt 48
unset KVBENCH_FAKE_MS_PER_KTOK
"$KVBENCH" run "$T/s.yaml" --output "$T/term" --quiet
check "rerun after SIGTERM: identical tables" cmp -s "$T/ref/tables.md" "$T/term/tables.md"
$MPIRUN -np 2 "$KVBENCH" run "$T/s.yaml" --output "$T/usr1" --quiet > /dev/null 2>&1
check "rerun after SIGUSR1: identical tables" cmp -s "$T/ref/tables.md" "$T/usr1/tables.md"
finish
