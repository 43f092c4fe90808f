#!/usr/bin/env bash
# t_needle: the needle-in-a-haystack task family end to end (issue 17). A bad `needle:` section is
# one error line and a non-zero exit; a tiny grid (2 lengths x 3 depths, FullKV and two compressed
# methods) on the embedded SmolLM2-135M stores one item per length, writes needle.md, needle.csv and
# the heatmap (one cell per grid point and variant), FullKV retrieves the needle, and a rerun
# computes nothing new. LongBench tasks and the needle in one sweep (fake executor) give the same
# outputs on 1 process and under mpirun -np 3.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_needle
rm -rf "$T"; mkdir -p "$T"
unset KVBENCH_FAKE_ENGINE KVBENCH_FAKE_MS_PER_KTOK
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sweep() { # sweep FILE NEEDLE_SECTION
    cat > "$1" <<YAML
name: needle
data: data/demo
preset: reference-2026-01
$2
budgets: [64]
methods: [fullkv, snapkv, streamingllm]
models:
  - {name: smol, path: $MODEL, family: smollm2, chat: chatml}
engine: {backend: cpu, threads: 1, samples_per_item: 3}
YAML
}
bad() { # bad "description" "error regex" NEEDLE_SECTION
    sweep "$T/bad.yaml" "$3"
    expect_fail "$1" "$2" "$KVBENCH" plan "$T/bad.yaml"
    local n; n=$("$KVBENCH" plan "$T/bad.yaml" 2>&1 >/dev/null | wc -l)
    check "$1: one error line ($n)" test "$n" -eq 1
}
bad "needle without lengths" "needle section without lengths \\(.*bad.yaml:4:9\\)" "needle: {depths: 3}"
bad "length not above the buffer" "needle length 150 is not above buffer 200" "needle: {lengths: [150]}"
bad "depths out of range" "'needle.depths' = 0 is out of range.*\\[1, 101\\]" "needle: {lengths: [500], depths: 0}"
bad "repeated length" "needle length 500 repeats" "needle: {lengths: [500, 500]}"
bad "unknown key" "unknown key 'depth' in needle.*one of: lengths, depths" "needle: {lengths: [500], depth: 3}"
bad "not a mapping" "'needle' has the wrong type" "needle: [500]"
bad "missing haystack" "data file 'nope.txt' not found" "needle: {lengths: [500], haystack: nope.txt}"

sweep "$T/s.yaml" "needle: {lengths: [300, 400], depths: 3}"
"$KVBENCH" run "$T/s.yaml" --output "$T/out" >"$T/run.log" 2>&1
check "needle sweep: exit 0" test $? -eq 0
check "one item file per length (samples_per_item 3 = the depths)" \
    test "$(find "$T/out/items/smol/needle" -name '*.h5' | wc -l)" -eq 2
check "needle.md has FullKV, SnapKV and StreamingLLM rows" \
    bash -c "grep -q '^| FullKV | all |' '$T/out/needle.md' && grep -q '^| SnapKV | 64 |' '$T/out/needle.md' && grep -q '^| StreamingLLM | 64 |' '$T/out/needle.md'"
check "needle.csv: header and 3 rows" bash -c "head -1 '$T/out/needle.csv' | grep -q '^model,method,budget,len300,len400,mean$' && test \$(wc -l < '$T/out/needle.csv') -eq 4"
svg=$T/out/plots/smol-needle.svg
check "heatmap: 6 cells x 3 variants" test "$(grep -c '<title>length' "$svg" 2>/dev/null)" -eq 18
check "heatmap: legend" grep -q '>score</text>' "$svg"
check "no LongBench table rows for a needle-only sweep" bash -c "! grep -q '^| FullKV |' '$T/out/tables.md'"
full=$(awk -F, '$2 == "FullKV" { print $NF }' "$T/out/needle.csv")
check "FullKV retrieves the needle (mean $full of 10)" awk -v x="$full" 'BEGIN { exit !(x + 0 >= 9) }'
check "predictions keep the grid point as sample id" bash -c "h5dump -d /predictions/sample_id '$T/out/summary.h5' | grep -q 'len300-depth50'"
"$KVBENCH" run "$T/s.yaml" --output "$T/out" >"$T/rerun.log" 2>&1
check "rerun: exit 0" test $? -eq 0
check "rerun computes nothing" grep -q "0 items to do (18 results already stored)" "$T/rerun.log"

# LongBench tasks and the needle in one sweep, sharded over MPI ranks (fake executor, test seam):
# the same tables, needle table and heatmap as one process, both task families stored.
cat > "$T/mix.yaml" <<YAML
name: mix
data: data/demo
tasks: [multi_news, trec]
samples: 2
needle: {lengths: [1000, 2000, 3000], depths: 4}
budgets: [128]
methods: [fullkv, snapkv, streamingllm]
models:
  - {name: smol, path: $MODEL, family: smollm2}
engine: {fake: true, samples_per_item: 2}
YAML
"$KVBENCH" run "$T/mix.yaml" --output "$T/mix1" --quiet >/dev/null 2>&1
check "mixed sweep, 1 process: exit 0" test $? -eq 0
mpirun --oversubscribe --bind-to none -np 3 "$KVBENCH" run "$T/mix.yaml" --output "$T/mix3" --quiet >/dev/null 2>&1
check "mixed sweep, mpirun -np 3: exit 0" test $? -eq 0
check "mixed: ranks wrote needle items" test "$(find "$T/mix3/items/smol/needle" -name '*.h5' | wc -l)" -eq 6
for f in tables.md needle.md needle.csv plots/smol-needle.svg; do
    check "mixed: $f identical across 1 and 3 ranks" cmp -s "$T/mix1/$f" "$T/mix3/$f"
done
check "mixed: LongBench rows kept" grep -qE '^\| SnapKV \|.* [0-9]+\.[0-9]{2} \|' "$T/mix3/tables.md"
check "mixed: 12 depth x length cells x 3 variants" test "$(grep -c '<title>length' "$T/mix3/plots/smol-needle.svg")" -eq 36
finish
