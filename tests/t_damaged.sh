#!/usr/bin/env bash
# t_damaged: damaged item files in a finished store (issue 19). On the fake executor (test seam, no
# model), a clean run gives the reference tables; then item files chosen at random are damaged in
# four ways (truncated, zeroed, random bytes, a dataset deleted — the last needs h5py, else said and
# skipped), and:
#  - `kvbench verify` names each damaged file and exits 1 (0 on the clean store);
#  - `kvbench reduce` sets each aside in DIR/quarantine/ with one warning line naming it, says how
#    many, still writes tables, and marks the affected cells incomplete;
#  - `kvbench run` (after the reduce, and on a freshly damaged copy) quarantines what is left,
#    recomputes exactly the damaged items, and ends with tables, CSV and per-sample predictions
#    identical to the clean run's, no duplicate, and `verify` clean apart from the quarantine.
# DAMAGE_SEED fixes the random choice (printed on failure).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
. tests/lib_store.sh
T=tests/tmp/t_damaged
rm -rf "$T"; mkdir -p "$T"
DAMAGE_SEED=${DAMAGE_SEED:-$$}
RANDOM=$DAMAGE_SEED
export KVBENCH_FAKE_ENGINE=1
unset KVBENCH_FAKE_MS_PER_KTOK
tiny_sweep "$T/s.yaml" damaged
differs() { ! cmp -s "$1" "$2"; }

"$KVBENCH" run "$T/s.yaml" --output "$T/clean" --quiet >"$T/clean.log" 2>&1
check "clean run: $N_ITEMS items" test "$(items "$T/clean")" -eq $N_ITEMS
samples_csv "$T/clean" >"$T/clean.csv"
out=$("$KVBENCH" verify "$T/clean" 2>&1)
check "verify on the clean store: exit 0, OK" grep -q "OK ($N_ITEMS item files" <<<"$out"

KINDS="truncated zeroed random"
if python3 -c 'import h5py' 2>/dev/null; then KINDS="$KINDS nodataset"
else echo "t_damaged: h5py not installed: the deleted-dataset case is skipped"; fi

# damage DIR: damage one random distinct item per kind; DIR.damaged lists "path kind".
damage() {
    local d=$1 k f sz
    mapfile -t all < <(find "$d/items" -name '*.h5' | sort)
    : >"$d.damaged"
    for k in $KINDS; do
        while :; do f=${all[$((RANDOM % ${#all[@]}))]}; grep -qF "$f " "$d.damaged" || break; done
        sz=$(stat -c %s "$f")
        case $k in
        truncated) truncate -s $((sz / 2)) "$f" ;;
        zeroed) head -c "$sz" /dev/zero >"$f" ;;
        random) head -c "$sz" /dev/urandom >"$f" ;;
        nodataset) python3 -c 'import h5py, sys
with h5py.File(sys.argv[1], "r+") as h: del h["results/score"]' "$f" ;;
        esac
        echo "$f $k" >>"$d.damaged"
    done
}
ND=$(wc -w <<<"$KINDS")

# 1. verify, then reduce, then run.
D=$T/a
cp -r "$T/clean" "$D"
damage "$D"
out=$("$KVBENCH" verify "$D" 2>&1); rc=$?
check "verify: exit 1 on damage" test $rc -eq 1
while read -r f k; do
    check "verify names the $k file" grep -qF "damaged item file $f:" <<<"$out"
done <"$D.damaged"
check "verify: summary line counts $ND damaged" grep -q "($ND damaged item files" <<<"$out"

out=$("$KVBENCH" reduce "$D" 2>&1); rc=$?
check "reduce with damaged items: exit 0" test $rc -eq 0
check "reduce: $ND set aside" grep -q "reduce: $ND damaged item files set aside in $D/quarantine/" <<<"$out"
check "reduce: one warning per damaged file" test "$(grep -c '^kvbench: warning: damaged item file' <<<"$out")" -eq "$ND"
while read -r f k; do
    check "reduce: $k file moved to quarantine/" test ! -e "$f" -a -e "$D/quarantine/${f#"$D"/items/}"
done <"$D.damaged"
check "reduce: $((N_ITEMS - ND)) item files read" grep -q "reduce: $((N_ITEMS - ND)) item files" <<<"$out"
check "reduce: tables written" test -s "$D/tables.md"
check "reduce: affected cells incomplete (tables differ from clean)" differs "$T/clean/tables.md" "$D/tables.md"
# every damaged item's (model, task) cell reads "incomplete" in scores.csv, and only those cells
# (plus the category and Avg cells they feed); tables.md and `show` say so with the note
csv_col() { head -n 1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
while read -r f k; do
    rel=${f#"$D"/items/}; model=${rel%%/*}; task=${rel#*/}; task=${task%%/*}
    c=$(csv_col "$D/scores.csv" "$task")
    check "reduce: the $k item's $task cell reads incomplete in scores.csv" \
        test "$(awk -F, -v c="$c" -v m="$model" 'NR > 1 && $1 == m && $c != "incomplete"' "$D/scores.csv" | wc -l)" -eq 0
done <"$D.damaged"
ntasks=$(cut -d' ' -f1 "$D.damaged" | sed "s|^$D/items/||" | cut -d/ -f1,2 | sort -u | wc -l)
first_task=$(csv_col "$D/scores.csv" narrativeqa)
check "reduce: $ntasks incomplete task cells per row, the others scored" test "$(awk -F, -v a="$first_task" \
    'NR == 2 {for (i = a; i < a + 16; i++) n += ($i == "incomplete"); print n}' "$D/scores.csv")" -eq "$ntasks"
check "reduce: Avg incomplete" test "$(awk -F, 'NR > 1 && $NF != "incomplete"' "$D/scores.csv" | wc -l)" -eq 0
check "tables.md: incomplete cells and their note" grep -q "| incomplete |" "$D/tables.md"
check "tables.md: the note says how to recompute" grep -q "^incomplete: .*quarantine/.*kvbench run" "$D/tables.md"
check "show: the same incomplete cells as tables.md" grep -q "| incomplete |" <<<"$("$KVBENCH" show "$D")"
out=$("$KVBENCH" verify "$D" 2>&1)
check "verify after reduce: the quarantine is reported, exit 1" grep -q "$ND damaged item files set aside in $D/quarantine" <<<"$out"

out=$("$KVBENCH" run "$T/s.yaml" --output "$D" 2>&1); rc=$?
check "run after reduce: exit 0" test $rc -eq 0
check "run recomputes exactly the $ND items" grep -q "$ND items to do" <<<"$out"
same_as_clean run "$T/clean" "$D"
check "run: 0 duplicates" grep -q "(0 duplicates dropped)" <<<"$out"

# 2. run straight on a damaged store.
D=$T/b
cp -r "$T/clean" "$D"
damage "$D"
out=$("$KVBENCH" run "$T/s.yaml" --output "$D" 2>&1); rc=$?
check "run on damaged store: exit 0" test $rc -eq 0
while read -r f k; do
    check "run: warning names the $k file" grep -qF "warning: damaged item file $f (" <<<"$out"
    check "run: $k file quarantined" test -e "$D/quarantine/${f#"$D"/items/}"
done <"$D.damaged"
check "run: one warning line each" test "$(grep -c '^kvbench: warning: damaged item file' <<<"$out")" -eq "$ND"
check "run: recomputes the $ND items" grep -q "$ND items to do" <<<"$out"
check "run: $N_ITEMS item files" test "$(items "$D")" -eq $N_ITEMS
same_as_clean run "$T/clean" "$D"
rm -rf "$D/quarantine"
out=$("$KVBENCH" verify "$D" 2>&1)
check "verify after the run (quarantine emptied): OK" grep -q "OK ($N_ITEMS item files" <<<"$out"

# 3. A damaged summary.h5 is reported by verify; reduce rewrites it.
head -c 100 /dev/urandom >"$D/summary.h5"
out=$("$KVBENCH" verify "$D" 2>&1); rc=$?
check "verify: damaged summary.h5, exit 1" test $rc -eq 1
check "verify names summary.h5" grep -q "summary.h5: not a readable HDF5 file" <<<"$out"
"$KVBENCH" reduce "$D" >/dev/null 2>&1
check "verify after reduce: OK" grep -q "OK ($N_ITEMS" <<<"$("$KVBENCH" verify "$D" 2>&1)"
expect_fail "verify: missing folder" "^kvbench: error: result folder .*nosuch not found" "$KVBENCH" verify "$T/nosuch"
[ "$T_FAILED" -ne 0 ] && echo "t_damaged: DAMAGE_SEED=$DAMAGE_SEED reproduces the choice" >&2
finish
