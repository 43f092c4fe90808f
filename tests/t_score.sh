#!/usr/bin/env bash
# t_score: `kvbench score` on small prediction files — the reference's task scores (the scorer
# cases of metric_vectors.json), --per-sample output, FILE:LINE errors, and a KVCache-Factory
# results folder turned into results.csv and the markdown tables.
cd "$(dirname "$0")/.." || exit 1
source tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/triviaqa.jsonl" <<'J'
{"pred": "\n\nParis\nQuestion: next", "answers": ["Paris", "paris, france"], "all_classes": null, "length": 10}
{"pred": "London", "answers": ["Berlin"], "all_classes": null, "length": 12}
J
cat >"$tmp/samsum.jsonl" <<'J'
{"pred": "Amanda will bring cookies.\nSecond line ignored", "answers": ["Amanda baked cookies and will bring Jerry some tomorrow."], "all_classes": null, "length": 1}
{"pred": "\nJohn is late.", "answers": ["John is late for the meeting."], "all_classes": null, "length": 1}
J
cat >"$tmp/trec.jsonl" <<'J'
{"pred": "City\nQuestion: ...", "answers": ["City"], "all_classes": ["Abbreviation", "Animal", "Color", "Other location", "Location", "City", "Country", "Description of something", "Description of a person", "Definition of something"], "length": 1}
{"pred": "Location", "answers": ["Other location"], "all_classes": ["Abbreviation", "Animal", "Color", "Other location", "Location", "City", "Country", "Description of something", "Description of a person", "Definition of something"], "length": 1}
J
check "triviaqa task score 50.00" test "$($KVBENCH score --task triviaqa "$tmp/triviaqa.jsonl")" = "50.00"
check "samsum task score 56.41" test "$($KVBENCH score --task samsum "$tmp/samsum.jsonl")" = "56.41"
check "trec task score 50.00" test "$($KVBENCH score --task trec "$tmp/trec.jsonl")" = "50.00"
check "per-sample %.17g then the task score" test "$($KVBENCH score --task samsum "$tmp/samsum.jsonl" --per-sample | tr '\n' ' ')" = "0.46153845727810661 0.66666666222222226 56.41 "

# odd whitespace and Unicode in a QA file (values from the reference Python)
printf '%s\n' '{"pred": "\u00dcmlaut STRASSE th\u00e9\u00e2tre", "answers": ["\u00fcmlaut strasse Th\u00e9\u00e2tre"], "all_classes": null, "length": 1}' \
              '{"pred": " New\u00a0York\tCity \n", "answers": ["new york", "NYC"], "all_classes": null, "length": 1}' \
              '{"pred": "", "answers": ["abc"], "all_classes": null, "length": 1}' >"$tmp/qa.jsonl"
check "unicode QA per sample" test "$($KVBENCH score --task hotpotqa "$tmp/qa.jsonl" --per-sample | tr '\n' ' ')" = "1 0.80000000000000004 0 60.00 "

printf '%s\n' '{"pred": "1", "answers": ["1"], "all_classes": null, "length": 1}' '{"pred": "1", "answers": ["1"], ' >"$tmp/bad.jsonl"
expect_fail "a line that does not parse names FILE:LINE" "bad.jsonl:2: line does not parse" $KVBENCH score --task passage_count "$tmp/bad.jsonl"
printf '%s\n' '{"pred": "1", "all_classes": null}' >"$tmp/noans.jsonl"
expect_fail "missing answers" "noans.jsonl:1: field \"answers\" is missing" $KVBENCH score --task passage_count "$tmp/noans.jsonl"
printf '%s\n' '{"pred": "1", "answers": ["no paragraph"], "all_classes": null}' >"$tmp/retr.jsonl"
expect_fail "retrieval answer without Paragraph N" "sample 0: retrieval answer" $KVBENCH score --task passage_retrieval_en "$tmp/retr.jsonl"
: >"$tmp/empty.jsonl"
expect_fail "no predictions" "no predictions" $KVBENCH score --task lcc "$tmp/empty.jsonl"
expect_fail "unknown task" "unknown task 'lsht'" $KVBENCH score --task lsht "$tmp/qa.jsonl"
check "--help" grep -q "^usage: kvbench score" <<<"$($KVBENCH score --help)"

# a KVCache-Factory results folder: DIR/<task>/<Method>.json
res="$tmp/Llama-3-8B-Instruct_128"
mkdir -p "$res/triviaqa" "$res/trec" "$res/unknown_task"
cp "$tmp/triviaqa.jsonl" "$res/triviaqa/SnapKV.json"
cp "$tmp/triviaqa.jsonl" "$res/triviaqa/FullKV.json"
cp "$tmp/trec.jsonl" "$res/trec/FullKV.json"
md=$($KVBENCH score --results "$res" --attention sdpa --hardware "1x H200" 2>"$tmp/err")
check "unknown task folders are named" grep -q "skipping .*unknown_task" "$tmp/err"
check "results.csv written" test -f "$res/results.csv"
check "results.md equals stdout" test "$(cat "$res/results.md")" = "$md"
check "header block" grep -q '^- \*\*Model\*\*: Llama-3-8B-Instruct$' <<<"$md"
check "budget from the folder name" grep -q '^- \*\*KV Budget\*\*: 128$' <<<"$md"
check "attention and hardware" grep -q '^- \*\*Hardware\*\*: 1x H200$' <<<"$md"
check "FullKV row first with blank cells" grep -q '^| FullKV |  |  |  |  |  |  |  |  |  | 50.00 | 50.00 |  |  |  |  |  |  |$' <<<"$md"
check "SnapKV row" grep -q '^| SnapKV |  |  |  |  |  |  |  |  |  |  | 50.00 |' <<<"$md"
check "FullKV before SnapKV" test "$(grep -n '^| FullKV |' <<<"$md" | head -1 | cut -d: -f1)" -lt "$(grep -n '^| SnapKV |' <<<"$md" | head -1 | cut -d: -f1)"
check "csv row" grep -q '^Llama-3-8B-Instruct,128,FullKV,,,,,,,,,,50.00,50.00,,,,,,,,,,,,$' "$res/results.csv"
finish
