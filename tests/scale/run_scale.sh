#!/usr/bin/env bash
# run_scale: the coordinator at scale on the fake executor (issue 19; too heavy for `make test`).
# RANKS ranks oversubscribed under mpirun run a plan of ITEMS work items (16 tasks x ITEMS/16
# synthetic samples, one sample and one variant per item). Measured on the clean run: wall time,
# items/s dispatched, the ranks' idle share (the run's own time summary), max RSS of rank 0. Then
# KILLS rounds on a second store: each starts the same command, waits until the chosen rank runs,
# then a random time within twice an even share (over the rounds left) of the time the missing items
# should take, and kill -9s that rank, a random one or the coordinator (rank 0, one round in three); the next round
# resumes what the previous one left. A last run completes the store, whose tables, CSV and
# per-sample predictions must equal the clean run's, with 0 duplicates and `verify` OK.
# Usage: RANKS=64 ITEMS=20000 KILLS=20 tests/scale/run_scale.sh     (prints one figures line)
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
RANKS=${RANKS:-32}; ITEMS=${ITEMS:-2000}; KILLS=${KILLS:-3}
SEED=${SEED:-$$}; RANDOM=$SEED
T=${SCALE_DIR:-tests/tmp/scale}
rm -rf "$T"; mkdir -p "$T/data"
# a private copy of the binary: a rebuild of build/ during a long run must not change (or, while
# the linker writes it, fail the execve of) the ranks started by later rounds
cp "$KVBENCH" "$T/kvbench" && KVBENCH=$T/kvbench
export KVBENCH_FAKE_ENGINE=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
unset KVBENCH_FAKE_MS_PER_KTOK
PER=$(((ITEMS + 15) / 16))
python3 - "$T/data" "$PER" <<'PY'
import json, os, sys
out, per = sys.argv[1], int(sys.argv[2])
for f in sorted(os.listdir("data/demo")):
    if not f.endswith(".jsonl"): continue
    rows = [json.loads(l) for l in open(os.path.join("data/demo", f)) if l.strip()]
    with open(os.path.join(out, f), "w") as w:
        for i in range(per):
            r = dict(rows[i % len(rows)]); r["_id"] = "%s-%d" % (r.get("_id", "x"), i)
            w.write(json.dumps(r) + "\n")
PY
cat >"$T/s.yaml" <<YAML
name: scale
data: $T/data
budgets: [128]
methods: [fullkv]
models:
  - name: tiny
    path: tests/data/bad/tiny.gguf
YAML
N=$((PER * 16))
MPIRUN="mpirun --oversubscribe --bind-to none -np $RANKS"
# rank 0 under /usr/bin/time for its max RSS (KiB)
cat >"$T/rank.sh" <<EOF2
#!/bin/sh
if [ "\${OMPI_COMM_WORLD_RANK:-0}" = 0 ]; then exec /usr/bin/time -f "maxrss_kib %M" -o "$T/rss.\$\$" "\$@"; fi
exec "\$@"
EOF2
chmod +x "$T/rank.sh"
rank_pid() { awk -v r="$2" '$1 == "start" && $3 ~ "^"r"/" {p = $5} END {print p}' "$1/logs/rank$2.log" 2>/dev/null; }
samples_csv() { "$KVBENCH" show "$1" --samples --format csv | sort; }

t0=$(date +%s.%N)
$MPIRUN "$T/rank.sh" "$KVBENCH" run "$T/s.yaml" --output "$T/clean" >"$T/clean.log" 2>&1
rc=$?
t1=$(date +%s.%N)
check "clean run with $RANKS ranks, $N items: exit 0 (got $rc)" test $rc -eq 0
check "clean run: $N item files" test "$(find "$T/clean/items" -name '*.h5' | wc -l)" -eq $N
rss=$(cat "$T"/rss.* 2>/dev/null | awk '{print $2}' | sort -n | tail -n 1)
run_s=$(sed -n 's/.*progress: *\([0-9]*\)\/\([0-9]*\) items.*/\1/p' "$T/clean.log" | tail -n 1)
grep -E "idle|wall|items/s|reduce:" "$T/clean.log" | tail -n 12 >"$T/clean.figures"
samples_csv "$T/clean" >"$T/clean.csv"

# The kill comes at a random instant of the working phase: after the chosen rank has started (its
# log names its pid), within the clean run's working time (the time summary's wall).
RUN_S=$(sed -n 's/^time: \([0-9.]*\)s wall.*/\1/p' "$T/clean.log" | tail -n 1)
RUN_S=${RUN_S%.*}; RUN_S=$(( ${RUN_S:-10} > 1 ? ${RUN_S:-10} : 2 ))
D=$T/killed
for k in $(seq 1 "$KILLS"); do
    if [ $((k % 3)) -eq 0 ]; then r=0; else r=$((1 + RANDOM % (RANKS - 1))); fi
    rm -f "$D/logs/rank$r.log"
    # mpirun itself has been seen to hang (every rank gone) or crash after a kill -9 when 32 ranks
    # share 2 cores: bound each round (the store is still checked at the end)
    timeout -k 10 $((RUN_S * 3 + 300)) $MPIRUN "$KVBENCH" run "$T/s.yaml" --output "$D" --quiet >"$T/kill$k.log" 2>&1 &
    job=$!
    pid=""
    while [ -z "$pid" ] && kill -0 "$job" 2>/dev/null; do pid=$(rank_pid "$D" "$r"); sleep 0.1; done
    # within twice an even share, over the rounds still to come, of the time the items still
    # missing should take: the kills land mid-run and spread over the whole plan
    left=$((N - $(find "$D/items" -name '*.h5' 2>/dev/null | wc -l)))
    w=$((2 * RUN_S * left / N / (KILLS - k + 1))); [ "$w" -lt 1 ] && w=1
    sleep "$((RANDOM % w)).$((RANDOM % 10))"
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    wait "$job"
    echo "round $k: kill -9 rank $r (pid ${pid:-not started yet}); $(find "$D/items" -name '*.h5' 2>/dev/null | wc -l)/$N items stored"
done
$MPIRUN "$KVBENCH" run "$T/s.yaml" --output "$D" >"$T/final.log" 2>&1
check "final run after $KILLS kills: exit 0" test $? -eq 0
check "final: 0 duplicates dropped" grep -q "(0 duplicates dropped)" "$T/final.log"
check "final: identical tables.md" cmp -s "$T/clean/tables.md" "$D/tables.md"
check "final: identical scores.csv" cmp -s "$T/clean/scores.csv" "$D/scores.csv"
samples_csv "$D" >"$T/killed.csv"
check "final: identical predictions" cmp -s "$T/clean.csv" "$T/killed.csv"
check "final: no duplicate row" test "$(tail -n +2 "$T/killed.csv" | cut -d, -f1-3,5-8 | sort | uniq -d | wc -l)" -eq 0
check "final: verify OK" grep -q "OK ($N item files" <<<"$("$KVBENCH" verify "$D" 2>&1)"
wall=$(echo "$t1 - $t0" | bc -l)
echo "figures: ranks $RANKS, items $N, clean run wall $(printf %.1f "$wall") s (mpirun start to exit, reduce included), rank 0 max RSS ${rss:-?} KiB, kills $KILLS (seed $SEED)"
cat "$T/clean.figures"
finish
