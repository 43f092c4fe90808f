#!/usr/bin/env bash
# t_diskfull: a result folder on a full file system (issue 19). As root, the test mounts a small
# tmpfs (300 KiB: about 14 of the 32 fake item files fit), runs the fake-executor sweep into it and
# checks: the run stops with exit 1 and one error line saying the item in flight is dropped and how
# much the items left need (estimated from the stored item files); no temporary is left and every
# stored item is intact (`verify` finds no damaged file); after the tmpfs is grown (space freed),
# the same command completes with tables, CSV and per-sample predictions identical to a clean run.
# Twice: one process, then 3 MPI ranks (the rank that hits the full disk aborts the job, the
# others' items in flight are dropped, and their temporaries are cleared by the rerun).
# Not root, or no tmpfs mount allowed: the test says so and checks nothing.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/lib_store.sh
T=tests/tmp/t_diskfull
if mountpoint -q "$T/mnt" 2>/dev/null; then umount "$T/mnt"; fi
rm -rf "$T"; mkdir -p "$T/mnt"
export KVBENCH_FAKE_ENGINE=1
unset KVBENCH_FAKE_MS_PER_KTOK
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=300k tmpfs "$T/mnt" 2>/dev/null; then
    echo "t_diskfull: skipped: needs root and permission to mount a tmpfs (uid $(id -u))"
    finish; exit
fi
trap 'umount "$T/mnt" 2>/dev/null' EXIT
tiny_sweep "$T/s.yaml" diskfull
"$KVBENCH" run "$T/s.yaml" --output "$T/clean" --quiet >/dev/null 2>&1
samples_csv "$T/clean" >"$T/clean.csv"

# round NAME LAUNCHER...: the sweep into a fresh folder on the 300 KiB tmpfs under LAUNCHER (none:
# one process), then the rerun after the tmpfs is grown to 4 MiB.
round() {
    local name=$1 D=$T/mnt/$1 err out rc n; shift
    mount -o remount,size=300k "$T/mnt"
    err=$("$@" "$KVBENCH" run "$T/s.yaml" --output "$D" --quiet 2>&1 >/dev/null); rc=$?
    n=$(items "$D")
    check "$name: full disk: exit non-zero (got $rc)" test $rc -ne 0
    check "$name: full disk: says what and that the item in flight is dropped" \
        grep -qE "^kvbench: error: disk full writing $D/items/.*\.h5: the item in flight is dropped and nothing stored is damaged" <<<"$err"
    check "$name: full disk: an estimate for the items left" \
        grep -qE "the [0-9]+ items left need about [0-9.]+ KiB \(mean item file [0-9.]+ KiB over [0-9]+ stored\)" <<<"$err"
    check "$name: full disk: some items stored before ($n)" test "$n" -gt 0 -a "$n" -lt $N_ITEMS
    out=$("$KVBENCH" verify "$D" 2>&1)
    check "$name: full disk: no stored item damaged" test "$(grep -c '^verify: damaged item file' <<<"$out")" -eq 0
    if [ $# -eq 0 ]; then
        check "$name: full disk: one error line" test "$(wc -l <<<"$err")" -eq 1
        check "$name: full disk: estimate for exactly the $((N_ITEMS - n)) items left" \
            grep -qE "the $((N_ITEMS - n)) items left need about" <<<"$err"
        check "$name: full disk: no temporary left" test "$(find "$D" -name '*.tmp.*' | wc -l)" -eq 0
    fi # under MPI the fatal error ends the job (exit non-zero above); the others' items in flight are dropped

    mount -o remount,size=4m "$T/mnt"
    out=$("$@" "$KVBENCH" run "$T/s.yaml" --output "$D" 2>&1); rc=$?
    check "$name: after freeing space: rerun exits 0" test $rc -eq 0
    check "$name: rerun computes the $((N_ITEMS - n)) items left" grep -q "$((N_ITEMS - n)) items to do" <<<"$out"
    same_as_clean "$name: rerun" "$T/clean" "$D"
    check "$name: rerun: 0 duplicates" grep -q "(0 duplicates dropped)" <<<"$out"
    check "$name: rerun: no temporary left" test "$(find "$D" -name '*.tmp.*' | wc -l)" -eq 0
    check "$name: rerun: verify OK" grep -q "OK ($N_ITEMS item files" <<<"$("$KVBENCH" verify "$D" 2>&1)"
    rm -rf "$D" "$D.csv"
}
round one
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
round ranks3 mpirun --oversubscribe --bind-to none -np 3
finish
