#!/usr/bin/env bash
# t_requeue: slurm/requeue.sbatch's decision, run as a plain script (no Slurm daemons: the Slurm
# tier tests the signal path under sbatch) with a fake `scontrol` that records its arguments and
# SLURM_JOB_END_TIME set by the test. On the slowed fake executor (about 33 s of work for 2 ranks;
# the first end time 20 s away, so that a slow mpirun start-up under load still leaves time for
# some items and not for all) with 2 MPI ranks:
#   - a deadline that stops the run part-way: exit 0, the status file said incomplete/deadline,
#     `scontrol requeue JOB` called once; the status file removed;
#   - the "requeued" run (a later end time) completes: no requeue, tables equal a clean run's;
#   - a deadline no item fits in: exit 1 with one line saying to raise --time, no requeue;
#   - `run --status-file` itself: complete/incomplete, items done and left, reason; an unwritable
#     path is one error line and exit 1.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/lib_store.sh
T=$PWD/tests/tmp/t_requeue
rm -rf "$T"; mkdir -p "$T/bin"
export KVBENCH_FAKE_ENGINE=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
unset KVBENCH_FAKE_MS_PER_KTOK SLURM_JOB_END_TIME KVBENCH_STATUS_FILE
tiny_sweep "$T/s.yaml" requeue
"$KVBENCH" run "$T/s.yaml" --output "$T/clean" --quiet >/dev/null 2>&1
cat >"$T/bin/scontrol" <<EOF2
#!/bin/sh
echo "\$*" >>"$T/scontrol.log"
EOF2
chmod +x "$T/bin/scontrol"

# job END_IN_SECONDS: requeue.sbatch as Slurm would start it, its output in $T/job.out.
job() {
    env PATH="$T/bin:$PATH" KVBENCH_HOME="$PWD" KVBENCH="$KVBENCH" KVBENCH_SWEEP="$T/s.yaml" \
        KVBENCH_OUTPUT="$T/out" KVBENCH_BIND_GPU=0 KVBENCH_LAUNCH_ARGS="--oversubscribe --bind-to none -np 2" \
        KVBENCH_FAKE_MS_PER_KTOK=4000 SLURM_JOB_ID=4242 SLURM_SUBMIT_DIR="$T" \
        SLURM_JOB_END_TIME=$(($(date +%s) + $1)) bash slurm/requeue.sbatch >"$T/job.out" 2>&1
}
job 20; rc=$?
check "deadline part-way: exit 0 (got $rc)" test $rc -eq 0
check "deadline part-way: the run stopped taking items" grep -qE "run: deadline: [0-9]+ items not started" "$T/job.out"
check "deadline part-way: says it requeues" grep -q "kvbench: stopped before the time limit (deadline: [0-9]* items left); requeueing job 4242" "$T/job.out"
check "deadline part-way: scontrol requeue 4242, once" test "$(cat "$T/scontrol.log" 2>/dev/null)" = "requeue 4242"
check "deadline part-way: the status file is removed" test ! -e "$T/kvbench-4242.status"
n=$(items "$T/out")
check "deadline part-way: some items stored ($n of $N_ITEMS)" test "$n" -gt 0 -a "$n" -lt "$N_ITEMS"

: >"$T/scontrol.log"
job 600; rc=$?
check "requeued run completes: exit 0 (got $rc)" test $rc -eq 0
check "requeued run: no requeue" test ! -s "$T/scontrol.log"
check "requeued run: tables equal the clean run's" cmp -s "$T/clean/tables.md" "$T/out/tables.md"

rm -rf "$T/out"
job 0; rc=$?
check "no item fits: exit 1 (got $rc)" test $rc -eq 1
check "no item fits: says to raise --time" grep -q "kvbench: error: no item fits in the time left to job 4242 ($N_ITEMS items left); not requeueing: raise --time" "$T/job.out"
check "no item fits: no requeue" test ! -s "$T/scontrol.log"

out=$("$KVBENCH" run "$T/s.yaml" --output "$T/st" --quiet --deadline 1000 --status-file "$T/st.status" 2>&1)
check "status file: incomplete by the deadline" test "$(cat "$T/st.status")" = "$(printf 'state incomplete\nitems_done 0\nitems_left %d\nreason deadline' "$N_ITEMS")"
"$KVBENCH" run "$T/s.yaml" --output "$T/st" --quiet --status-file "$T/st.status" >/dev/null 2>&1
check "status file: complete after the rerun" test "$(cat "$T/st.status")" = "$(printf 'state complete\nitems_done %d\nitems_left 0\nreason none' "$N_ITEMS")"
expect_fail "status file in a missing folder" "^kvbench: error: cannot write the status file $T/no/such/f \(--status-file\): No such file or directory" \
    "$KVBENCH" run "$T/s.yaml" --output "$T/st" --quiet --status-file "$T/no/such/f"
finish
