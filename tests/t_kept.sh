#!/usr/bin/env bash
# t_kept: issue 18 end to end on the demo model and a real news prompt (the longest multi_news demo
# context). generate --kept-out for every method: the exported kept sets reproduce --json's kept
# count, StreamingLLM keeps exactly its sinks and the most recent tokens, and with --attention-recall
# FullKV's recall is exactly 1 and the others' lie in (0, 1). A sweep with attention_recall and
# store_kept: plan reports the extra size, the reducer writes recall.csv (FullKV 1, the methods'
# mean growing with the budget), overlap.csv (Jaccard in [0, 1], 1 for a method with itself is not
# listed) and the SVGs, show prints the recall table and show --kept draws StreamingLLM's two bands.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_kept
rm -rf "$T"; mkdir -p "$T"
unset KVBENCH_FAKE_ENGINE KVBENCH_FAKE_MS_PER_KTOK
export OMP_NUM_THREADS=1
python3 -c "
import json
l = [json.loads(x) for x in open('data/demo/multi_news.jsonl')]
open('$T/news.txt', 'w').write(max((x['context'] for x in l), key=len))"
have_h5py=0; python3 -c "import h5py" 2>/dev/null && have_h5py=1
for m in fullkv snapkv pyramidkv h2o streamingllm; do
    j=$("$KVBENCH" generate --model "$MODEL" --backend cpu --prompt-file "$T/news.txt" --chat none --method $m \
        --budget 96 --max-new-tokens 4 --json --attention-recall --kept-out "$T/$m.h5" 2>&1)
    check "$m: generate --kept-out --attention-recall exits 0" test -f "$T/$m.h5"
    check "$m: recall is 1 for FullKV, in (0, 1) otherwise" python3 -c "
import json, sys
d = json.loads(sys.argv[1]); r = d['recall']
assert (r == 1.0) if sys.argv[2] == 'fullkv' else (0 < r < 1), r
assert len(d['recall_layer']) == 30 and len(d['recall_steps']) == len(d['ids']) - 1, d" "$j" $m
    [ $have_h5py = 1 ] && check "$m: the kept sets reproduce --json's kept count" python3 -c "
import json, sys, h5py, numpy as np
d = json.loads(sys.argv[1])
with h5py.File(sys.argv[2]) as f:
    k = f['kept']; off = k['offsets'][:]; pos = k['positions'][:]
    nl, nh = k.attrs['n_layers'], k.attrs['n_heads']
    assert len(off) == nl * nh + 1 and off[-1] == len(pos)
    assert abs(np.diff(off).mean() - d['kept_tokens']) < 1e-9, (np.diff(off).mean(), d['kept_tokens'])
    L = d['prompt_tokens']
    for r in range(nl * nh):
        row = pos[off[r]:off[r + 1]]
        assert (np.diff(row) > 0).all() and row.min() >= 0 and row.max() < L
        if sys.argv[3] == 'streamingllm':  # 4 sinks and the 92 most recent positions
            assert list(row) == list(range(4)) + list(range(L - 92, L)), row
" "$j" "$T/$m.h5" $m
done
expect_fail "--kept-out into a missing folder" "cannot create" "$KVBENCH" generate --model "$MODEL" --backend cpu \
    --prompt "Hello" --max-new-tokens 1 --kept-out "$T/no/such/dir/k.h5"

cat > "$T/s.yaml" <<YAML
name: kept
data: data/demo
tasks: [multi_news]
samples: 2
budgets: [80, 160, 320]
methods: [fullkv, snapkv, h2o, streamingllm]
models:
  - {name: smol, path: $MODEL, family: smollm2, max_prompt_tokens: 1500}
engine: {backend: cpu, threads: 1, max_new_tokens: 3, samples_per_item: 2, attention_recall: true, store_kept: true}
YAML
check "plan reports the extra size of kept sets and recall" bash -c \
    "'$KVBENCH' plan '$T/s.yaml' --output '$T/run' | grep -qE '^analysis \(issue 18\): store_kept \+ attention_recall: est\. [0-9.]+ MiB'"
out=$("$KVBENCH" run "$T/s.yaml" --output "$T/run" 2>&1); rc=$?
check "sweep with attention_recall and store_kept: exit 0" test $rc -eq 0
check "recall.csv: FullKV exactly 1, the others in (0, 1) and growing with the budget on average" python3 -c "
import csv, collections
rows = list(csv.DictReader(open('$T/run/recall.csv')))
full = [r for r in rows if r['method'] == 'FullKV']
assert len(full) == 1 and float(full[0]['recall']) == 1.0, full
by = collections.defaultdict(list)
for r in rows:
    if r['method'] != 'FullKV':
        assert 0 < float(r['recall']) < 1, r
        by[int(r['budget'])].append(float(r['recall']))
means = [sum(by[b]) / len(by[b]) for b in sorted(by)]
assert len(means) == 3 and means[0] < means[1] < means[2], means"
check "overlap.csv: every pair of methods at each budget and layer, Jaccard in [0, 1]" python3 -c "
import csv
rows = list(csv.DictReader(open('$T/run/overlap.csv')))
assert len(rows) == 3 * 3 * 30, len(rows)
assert all(0 <= float(r['jaccard']) <= 1 and r['method_a'] != r['method_b'] for r in rows)"
check "overlap heatmaps and the recall plot are written" test -s "$T/run/plots/smol-overlap-160.svg" -a \
    -s "$T/run/plots/smol-recall.svg"
for b in 80 160 320; do # one row per pair of the three compressing methods (the pairs of a budget are not adjacent)
    check "overlap heatmap at budget $b: 3 method pairs" test "$(grep -c 'text-anchor="end"' "$T/run/plots/smol-overlap-$b.svg")" -eq 3
done
check "the model plot has a recall panel beside the score panels" grep -q "Attention recall (%)" "$T/run/plots/smol.svg"
check "tables.md has the attention recall table" grep -q '^## Attention recall' "$T/run/tables.md"
cp "$T/run/recall.csv" "$T/recall.first"
"$KVBENCH" reduce "$T/run" --to "$T/again" >/dev/null 2>&1
check "reduce --to: the same recall.csv, the recall table once in tables.md, no temporaries left" bash -c \
    "cmp -s '$T/recall.first' '$T/again/recall.csv' && test \$(grep -c '^## Attention recall' '$T/again/tables.md') -eq 1 \
     && ! find '$T/again' -name '*.tmp.*' | grep -q ."
check "show prints the recall table" bash -c "'$KVBENCH' show '$T/run' | grep -q '| smol | FullKV | full | 2 | 1.0000 |'"
"$KVBENCH" show "$T/run" --kept 0 --budget 80 > "$T/kept.svg"
check "show --kept 0: one panel per variant" test "$(grep -c 'font-size="12">' "$T/kept.svg")" -eq 4
check "show --kept 0: StreamingLLM's rows are two bands (sinks at 0, recent at the end)" python3 -c "
import re
s = open('$T/kept.svg').read()
part = s[s.index('StreamingLLM @ 80'):]
rects = re.findall(r'<rect x=\"(\d+)\" y=\"(\d+)\" width=\"(\d+)\"', part)[:60]
rows = {}
for x, y, w in rects: rows.setdefault(y, []).append((int(x), int(w)))
assert len(rows) == 30 and all(len(v) == 2 and v[0][0] == 150 for v in rows.values()), rows"
expect_fail "show --kept without stored kept sets" "no kept sets" "$KVBENCH" show "$T/run" --kept 7
finish
