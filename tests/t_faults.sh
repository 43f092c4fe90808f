#!/usr/bin/env bash
# t_faults: fault injection at random points (DESIGN §8: no result lost or duplicated when a rank
# dies at any instant, at the time limit, or when run twice). On the fake executor (test seam, no
# model) under mpirun with 3 ranks, each round starts a fresh slowed-down run, waits until a random
# number of items is stored (0 .. all, so kills land before the first item, mid-run and during the
# reduce), then kills: kill -9 of a worker rank ($FAULT_WORKER_KILLS rounds), kill -9 of the
# coordinator, rank 0 ($FAULT_COORD_KILLS rounds), SIGTERM to a single process ($FAULT_TERMS
# rounds, once with a second SIGTERM that drops the item in flight), and a SIGTERM or SIGUSR1
# already pending when kvbench starts (before its handler exists). After each kill:
#  - the job ended (no rank hangs), and every visible item file is complete (reduce reads them all);
#  - decoy temporaries are planted (a copy of a real item and garbage, both under temporary names);
#  - the same command is re-run; its store then equals the clean run's: identical tables.md and
#    scores.csv, identical per-sample predictions and scores, the same number of rows with no
#    duplicate, "0 duplicates dropped", and no temporary left (none was read: a read decoy would
#    add duplicate rows or fail the reduce).
# FAULT_SEED fixes the random points (printed on failure).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/lib_store.sh
T=tests/tmp/t_faults
rm -rf "$T"; mkdir -p "$T"
# `make test` runs two rounds of each (~25 s); the robustness CI tier (tests/ci_robustness.sh)
# runs FAULT_WORKER_KILLS=10 FAULT_COORD_KILLS=10 FAULT_TERMS=4.
FAULT_WORKER_KILLS=${FAULT_WORKER_KILLS:-2}
FAULT_COORD_KILLS=${FAULT_COORD_KILLS:-2}
FAULT_TERMS=${FAULT_TERMS:-2}
FAULT_SEED=${FAULT_SEED:-$$}
RANDOM=$FAULT_SEED
export KVBENCH_FAKE_ENGINE=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
unset KVBENCH_FAKE_MS_PER_KTOK
if ! command -v mpirun >/dev/null; then echo "t_faults: mpirun not found"; exit 1; fi
MPIRUN="mpirun --oversubscribe --bind-to none -np 3"
SLOW=200   # fake milliseconds per 1000 prompt tokens: items take ~0.05-0.2 s

tiny_sweep "$T/s.yaml" faults
rank_pid() { awk -v r="$2" '$1 == "start" && $3 ~ "^"r"/" {p = $5} END {print p}' "$1/logs/rank$2.log" 2>/dev/null; }

"$KVBENCH" run "$T/s.yaml" --output "$T/clean" --quiet >"$T/clean.log" 2>&1
check "clean run: $N_ITEMS items" test "$(items "$T/clean")" -eq $N_ITEMS
samples_csv "$T/clean" >"$T/clean.csv"
ROWS=$(($(wc -l <"$T/clean.csv") - 1))
check "clean run: rows stored ($ROWS)" test "$ROWS" -gt 0

# verify_round NAME DIR: the checks after a kill, the decoys, the re-run and the comparison.
verify_round() {
    local name=$1 d=$2 n out
    n=$(items "$d")
    if [ "$n" -gt 0 ]; then
        out=$("$KVBENCH" reduce "$d" 2>&1)
        check "$name: the $n visible items are complete (reduce reads them)" \
            grep -q "$n item files, .* (0 duplicates dropped)" <<<"$out"
        local f
        f=$(find "$d/items" -name '*.h5' | head -n 1)
        cp "$f" "$f.tmp.7.4242"                           # a complete item under a temporary name
        head -c 300 "$f" >"$(dirname "$f")/zz-torn.h5.tmp.0.1"  # a torn write
    fi
    "$KVBENCH" run "$T/s.yaml" --output "$d" >"$d.rerun.log" 2>&1
    check "$name: re-run exits 0" test $? -eq 0
    check "$name: re-run computed $((N_ITEMS - n)) items" grep -q "$((N_ITEMS - n)) items to do" "$d.rerun.log"
    check "$name: $N_ITEMS item files" test "$(items "$d")" -eq $N_ITEMS
    check "$name: 0 duplicates dropped" grep -q "(0 duplicates dropped)" "$d.rerun.log"
    same_as_clean "$name" "$T/clean" "$d"
    check "$name: no duplicate row" test "$(tail -n +2 "$d.csv" | cut -d, -f1-3,5-8 | sort | uniq -d | wc -l)" -eq 0
    check "$name: no temporary left" test "$(find "$d" -name '*.tmp.*' | wc -l)" -eq 0
}

# wait_items DIR K PID: until K items are stored, or the job ended.
wait_items() {
    local i
    for i in $(seq 1 "$(scaled 400)"); do
        [ "$(items "$1")" -ge "$2" ] && return 0
        kill -0 "$3" 2>/dev/null || return 0
        sleep 0.02
    done
}

kill_round() { # kill_round NAME RANK
    local name=$1 rank=$2 d=$T/$1 k job pid i t0
    k=$((RANDOM % (N_ITEMS + 1)))
    KVBENCH_FAKE_MS_PER_KTOK=$SLOW timeout -k 5 "$(scaled 60)" $MPIRUN "$KVBENCH" run "$T/s.yaml" --output "$d" --quiet \
        >"$d.log" 2>&1 &
    job=$!
    pid=""
    for i in $(seq 1 "$(scaled 300)"); do pid=$(rank_pid "$d" "$rank"); [ -n "$pid" ] && break; sleep 0.02; done
    wait_items "$d" "$k" "$job"
    sleep "0.0$((RANDOM % 10))"
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    t0=$SECONDS
    wait "$job"
    # mpirun exits 137 when a rank is killed, so a hang shows as the 60 s timeout being reached.
    check "$name (rank $rank killed at >= $k items): job ended without hanging" test $((SECONDS - t0)) -lt "$(scaled 50)"
    verify_round "$name" "$d"
}

for r in $(seq 1 "$FAULT_WORKER_KILLS"); do kill_round "worker$r" $((1 + RANDOM % 2)); done
for r in $(seq 1 "$FAULT_COORD_KILLS"); do kill_round "coord$r" 0; done

# SIGTERM (Slurm's time limit) to a single process at a random point: stop, reduce, exit 0; the
# last round sends a second SIGTERM, which drops the item in flight.
for r in $(seq 1 "$FAULT_TERMS"); do
    d=$T/term$r
    k=$((RANDOM % N_ITEMS))
    KVBENCH_FAKE_MS_PER_KTOK=$SLOW "$KVBENCH" run "$T/s.yaml" --output "$d" --quiet >"$d.log" 2>&1 &
    job=$!
    # the time-limit signal comes once the run is under way: wait for its lock (a SIGTERM before
    # the process has started at all is the shell's business, not kvbench's)
    for i in $(seq 1 "$(scaled 400)"); do [ -e "$d/.lock" ] && break; kill -0 "$job" 2>/dev/null || break; sleep 0.02; done
    wait_items "$d" "$k" "$job"
    kill -TERM "$job" 2>/dev/null
    if [ "$r" -eq "$FAULT_TERMS" ]; then sleep 0.05; kill -TERM "$job" 2>/dev/null; fi
    wait "$job"
    check "term$r (SIGTERM at >= $k items): exit 0" test $? -eq 0
    check "term$r: no temporary left" test "$(find "$d" -name '*.tmp.*' | wc -l)" -eq 0
    verify_round "term$r" "$d"
done
# A stop signal that comes before kvbench has its handler (here already pending when kvbench
# starts, as when a time limit hits a job in its first milliseconds) still stops the run cleanly:
# no item computed, the reduce, exit 0; the rerun then completes the sweep. The parent blocks the
# signal, sends it to itself and execs kvbench, which inherits it pending and blocked.
for sig in TERM USR1; do
    d=$T/early$sig
    out=$(python3 -c 'import os, signal, sys
s = getattr(signal, "SIG" + sys.argv[1])
signal.pthread_sigmask(signal.SIG_BLOCK, [s])
os.kill(os.getpid(), s)
os.execv(sys.argv[2], sys.argv[2:])' $sig "$KVBENCH" run "$T/s.yaml" --output "$d" 2>&1)
    check "SIG$sig pending at start: exit 0" test $? -eq 0
    check "SIG$sig pending at start: stopped before the first item" grep -q "stopped by signal: 0 items done" <<<"$out"
    check "SIG$sig pending at start: reduced (empty tables)" test -e "$d/tables.md"
    verify_round "early$sig" "$d"
done
[ "$T_FAILED" -ne 0 ] && echo "t_faults: FAULT_SEED=$FAULT_SEED reproduces these random points" >&2
finish
