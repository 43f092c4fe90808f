#!/usr/bin/env bash
# conformance/longbench: the LongBench pipeline against the full reference files in $1 (the
# shared folder): all 100 multi_news prompt hashes (plain and Llama-3.1 chat), the 30 golden
# prompt ids after truncation to 1500 tokens, and the scorer cases of metric_vectors.json.
cd "$(dirname "$0")/../.." || exit 1
source tests/lib.sh
S=${1:?usage: tests/conformance/longbench.sh SHARED_DIR}
L=$S/data/longbench
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

hash_lines() {
    python3 -c 'import sys, json, hashlib
for l in sys.stdin: print(hashlib.sha256(json.loads(l)["text"].encode()).hexdigest())'
}
$KVBENCH prompts --task multi_news --data "$L/multi_news.sample.jsonl" --text | hash_lines >"$tmp/plain"
$KVBENCH prompts --task multi_news --data "$L/multi_news.sample.jsonl" --text --chat llama3 | hash_lines >"$tmp/chat"
python3 -c 'import json, sys
h = json.load(open(sys.argv[1]))["samples"]
open(sys.argv[2], "w").write("".join(s["prompt_sha256"] + "\n" for s in h))
open(sys.argv[3], "w").write("".join(s["llama31_chat_prompt_sha256"] + "\n" for s in h))' \
    "$L/multi_news.prompt_hashes.json" "$tmp/want_plain" "$tmp/want_chat"
check "100 prompt hashes (plain)" cmp -s "$tmp/plain" "$tmp/want_plain"
check "100 prompt hashes (chat)" cmp -s "$tmp/chat" "$tmp/want_chat"

head -n 30 "$L/multi_news.sample.jsonl" >"$tmp/mn30.jsonl"
$KVBENCH prompts --task multi_news --data "$tmp/mn30.jsonl" --tokenizer "$S/data/llama3-tokenizer/tokenizer.json" \
    --max-prompt-tokens 1500 >"$tmp/got.jsonl"
n_ok=$(python3 -c 'import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
bad = [w["index"] for g, w in zip(got, want) if g["ids"] != w["ids"] or g["_id"] != w["_id"]]
print(len(got) == len(want) == 30 and not bad and "ok" or "bad %s" % bad)' "$tmp/got.jsonl" "$L/multi_news.trunc1500.golden.jsonl")
check "30 golden truncations to 1500 ($n_ok)" test "$n_ok" = ok

# whole-task scorer cases
python3 -c 'import json, sys
cases = json.load(open(sys.argv[1]))["scorer_cases"]
for k, c in enumerate(cases):
    with open("%s/case%d.jsonl" % (sys.argv[2], k), "w") as f:
        for p, a in zip(c["predictions"], c["answers"]):
            f.write(json.dumps({"pred": p, "answers": a, "all_classes": c["all_classes"], "length": 0}) + "\n")
    print(k, c["dataset"], "%.2f" % c["score"])' "$L/metric_vectors.json" "$tmp" >"$tmp/cases"
while read -r k task want; do
    check "scorer case $k ($task)" test "$($KVBENCH score --task "$task" "$tmp/case$k.jsonl")" = "$want"
done <"$tmp/cases"
finish
