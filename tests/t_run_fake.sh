#!/usr/bin/env bash
# t_run_fake: `kvbench plan/run/reduce/show` end to end in one process on the fake executor (the
# test seam; no model): outputs present with all six methods, a rerun computes nothing, a grown
# sweep (one more budget) computes only the new variants, reduce reproduces the tables, and
# sweep errors are one line naming file:line:column.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_run_fake
rm -rf "$T"; mkdir -p "$T"
export KVBENCH_FAKE_ENGINE=1
unset KVBENCH_FAKE_MS_PER_KTOK
six_method_sweep "$T/s.yaml" fake
sed 's/budgets: \[128, 256\]/budgets: [128, 256, 512]/' "$T/s.yaml" > "$T/s3.yaml"

out=$("$KVBENCH" plan "$T/s.yaml" --output "$T/out" --ranks 4 2>&1)
check "plan lists 11 variants" grep -q "variants (11)" <<<"$out"
check "plan shows 48 items" grep -q "work: 48 items" <<<"$out"
check "plan shows roles" grep -q "rank 0: coordinator" <<<"$out"
check "plan shows an estimated cost" grep -q "estimated cost" <<<"$out"
check "plan writes nothing" test ! -e "$T/out"

out=$("$KVBENCH" run "$T/s.yaml" --output "$T/out" 2>&1); rc=$?
check "run exits 0" test $rc -eq 0
check "run says it used the fake engine" grep -q "FAKE ENGINE" <<<"$out"
check "summary.h5" test -s "$T/out/summary.h5"
check "tables.md" test -s "$T/out/tables.md"
check "scores.csv" test -s "$T/out/scores.csv"
check "plot per model" test -s "$T/out/plots/m1.svg"
for m in FullKV SnapKV PyramidKV H2O StreamingLLM CircuitKV; do
    check "tables.md has $m" grep -q "$m" "$T/out/tables.md"
done
check "48 item files" test "$(find "$T/out/items" -name '*.h5' | wc -l)" -eq 48
check "time summary printed" grep -q "idle" <<<"$out"
cp "$T/out/tables.md" "$T/tables.first.md"

out=$("$KVBENCH" run "$T/s.yaml" --output "$T/out" 2>&1)
check "rerun: nothing to do" grep -q "0 items to do (528 results already stored)" <<<"$out"
check "rerun: same item files" test "$(find "$T/out/items" -name '*.h5' | wc -l)" -eq 48
check "rerun: identical tables" cmp -s "$T/out/tables.md" "$T/tables.first.md"

out=$("$KVBENCH" run "$T/s3.yaml" --output "$T/out" 2>&1)
check "added budget: 48 new items for the missing variants" grep -q "48 items to do (528 results already stored)" <<<"$out"
check "added budget: 96 item files" test "$(find "$T/out/items" -name '*.h5' | wc -l)" -eq 96
check "added budget: no duplicates" grep -q "(0 duplicates dropped)" <<<"$out"
check "added budget: tables have budget 512" grep -q "512" "$T/out/tables.md"
# The new items hold only the 5 budget-512 variants.
f=$(find "$T/out/items" -name '*.h5' -newer "$T/tables.first.md" | head -n 1)
if command -v h5dump >/dev/null; then
    check "new item has 5 variants" grep -q "( 5 )" <<<"$(h5dump -d /variants/key -H "$f")"
fi

cp "$T/out/tables.md" "$T/tables.3.md"
out=$("$KVBENCH" reduce "$T/out" 2>&1)
check "reduce: 96 item files, 6 x 16 x 3 x ... results" grep -q "96 item files, 768 results (0 duplicates dropped)" <<<"$out"
check "reduce reproduces tables.md" cmp -s "$T/out/tables.md" "$T/tables.3.md"

out=$("$KVBENCH" show "$T/out" --budget 256 --method snapkv --format csv)
check "show csv: one SnapKV row at 256" test "$(grep -c '^m1,256,SnapKV,' <<<"$out")" -eq 1
# One table path (issue 14): show renders the rows reduce wrote, so unfiltered it prints tables.md
# and scores.csv byte for byte, hardware line included.
check "show md is tables.md" cmp -s <("$KVBENCH" show "$T/out") "$T/out/tables.md"
check "show csv is scores.csv" cmp -s <("$KVBENCH" show "$T/out" --format csv) "$T/out/scores.csv"
check "show md has the hardware line" grep -q '^- \*\*Hardware\*\*: fake' <("$KVBENCH" show "$T/out")
out=$("$KVBENCH" show "$T/out" --samples --task trec --method fullkv --format csv)
check "show --samples: 3 trec FullKV predictions" test "$(grep -c '^m1,trec,' <<<"$out")" -eq 3
out=$("$KVBENCH" show "$T/out" --format json --task lcc)
check "show json parses" python3 -c "import json,sys; d=json.loads(sys.stdin.read()); assert all(r['name']=='lcc' for r in d) and len(d)==16" <<<"$out"
if command -v h5dump >/dev/null; then
    check "h5dump reads the summary" grep -q '"avg"' <<<"$(h5dump -d /scores/kind "$T/out/summary.h5")"
fi

# Errors: one line, file:line:column, non-zero exit, nothing written.
printf 'name: e\ndata: data/demo\nbudgets: [128]\nmethods: [fullkv, nosuch]\nmodels:\n  - {name: m, path: %s}\n' "$MODEL" > "$T/e1.yaml"
expect_fail "unknown method" "^kvbench: error: unknown method 'nosuch' \(.*e1.yaml:4:19\): one of:" "$KVBENCH" run "$T/e1.yaml" --output "$T/e"
check "failed run wrote nothing" test ! -e "$T/e"
printf 'name: e\ndata: data/demo\nbudgets: [8]\nmethods: [snapkv]\nmodels:\n  - {name: m, path: %s}\n' "$MODEL" > "$T/e2.yaml"
expect_fail "budget <= window" "^kvbench: error: budget 8 is impossible for SnapKV \(.*e2.yaml:4:11\)" "$KVBENCH" plan "$T/e2.yaml"
n=$("$KVBENCH" plan "$T/e2.yaml" 2>&1 | wc -l)
check "error is one line" test "$n" -eq 1
expect_fail "missing sweep file" "^kvbench: error: .*nosuch.yaml" "$KVBENCH" plan "$T/nosuch.yaml"
quiet() { "$@" >/dev/null; }
for c in run plan reduce show; do check "$c --help" quiet "$KVBENCH" $c --help; done
finish
