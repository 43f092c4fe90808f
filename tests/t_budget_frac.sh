#!/usr/bin/env bash
# t_budget_frac: budgets as ratios end to end (issue 17) on the embedded SmolLM2-135M model.
# `generate --budget 0.25` keeps int(n/4) of an n-token prompt in every layer and head; a sweep with
# `budgets: [0.25]` stores kept counts of a quarter of each prompt for every method (kvpress-style
# ones included), labels the table "KV budget 25%" and writes 0.25 in scores.csv.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_budget_frac
rm -rf "$T"; mkdir -p "$T"
unset KVBENCH_FAKE_ENGINE KVBENCH_FAKE_MS_PER_KTOK
PROMPT="The committee published its report on Monday. It recommends that the city invest in public transport, \
expand the bicycle network and plant more trees along the main avenues. The mayor welcomed the report \
and promised a decision before the end of the year. Summarize the report in one sentence."
for m in knorm tova expected_attention streamingllm; do
    out=$("$KVBENCH" generate --model "$MODEL" --prompt "$PROMPT" --method $m --budget 0.25 --max-new-tokens 2 --json 2>&1)
    kept=$(sed -n 's/.*"kept_tokens":\([0-9.]*\).*/\1/p' <<<"$out")
    plen=$(sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p' <<<"$out")
    check "--method $m --budget 0.25 keeps int(n/4) (kept $kept of $plen)" \
        awk -v k="$kept" -v p="$plen" 'BEGIN { exit !(p != "" && k + 0 == int(p / 4)) }'
done
expect_fail "--budget 1.5 is refused" "fraction in \\(0, 1\\)" \
    "$KVBENCH" generate --model "$MODEL" --prompt "$PROMPT" --method knorm --budget 1.5
cat > "$T/s.yaml" <<YAML
name: frac
data: data/demo
preset: reference-head
tasks: [multi_news]
samples: 1
budgets: [0.25]
methods: [fullkv, knorm, keydiff, {name: snapkv, window: 16}, {name: adakv, window: 16}]
models:
  - {name: smol, path: $MODEL, family: smollm2, max_prompt_tokens: 600}
engine: {backend: cpu, threads: 1, max_new_tokens: 2}
YAML
"$KVBENCH" run "$T/s.yaml" --output "$T/out" >"$T/run.log" 2>&1
check "sweep with budgets [0.25]: exit 0" test $? -eq 0
check "tables.md labels the budget 25%" grep -q "KV budget 25%" "$T/out/tables.md"
check "scores.csv writes 0.25" grep -q "^smol,0.25,Knorm," "$T/out/scores.csv"
item=$(find "$T/out/items" -name '*.h5' | head -1)
if command -v h5dump >/dev/null && [ -n "$item" ]; then
    vals() { h5dump -y -w 0 -d "$1" "$item" 2>/dev/null | sed -n '/DATA {/{n;p}' | tr -d ','; }
    plen=$(vals /samples/prompt_tokens | tr -d ' ')
    kept=$(vals /results/kept_mean)
    check "stored kept counts: FullKV $plen, every method int($plen/4) ($kept)" \
        awk -v p="$plen" -v k="$kept" 'BEGIN { n = split(k, a, " "); if (n < 2 || p == "") exit 1;
            if (a[1] + 0 != p + 0) exit 1; for (i = 2; i <= n; i++) if (a[i] + 0 != int(p / 4)) exit 1 }'
fi
finish
