#!/usr/bin/env bash
# t_prompts: `kvbench prompts` with the Llama-3 tokenizer on four real multi_news samples —
# the reference's final ids after middle truncation to 1500 (and 1501, and 1, where Python's
# ids[-0:] takes everything), with the Llama-3.1 chat wrapper, untruncated, and the formatted
# prompt's SHA-256 (goldens from tools/longbench_ref_prompts.py and ../shared).
cd "$(dirname "$0")/.." || exit 1
source tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
D=tests/data/longbench
# the Llama-3 tokenizer the tokenizer tests keep in tests/data, as an HF folder (the config
# carries bos_token, which the reference adds)
check "the Llama-3 tokenizer is in tests/data" test -f tests/data/llama3_tokenizer.json.xz
mkdir -p "$tmp/llama3"
xz -dc tests/data/llama3_tokenizer.json.xz >"$tmp/llama3/tokenizer.json"
cp tests/data/llama3_tokenizer_config.json "$tmp/llama3/tokenizer_config.json"

ids_of() { sed -E 's/.*"ids":\[([^]]*)\].*/\1/' "$1"; }
run_case() { # run_case NAME GOLDEN ARGS...
    local name=$1 golden=$2; shift 2
    $KVBENCH prompts --task multi_news --data $D/multi_news.small.jsonl --tokenizer "$tmp/llama3" "$@" >"$tmp/out.jsonl"
    check "$name: 4 lines" test "$(wc -l <"$tmp/out.jsonl")" -eq 4
    ids_of "$tmp/out.jsonl" >"$tmp/got"; ids_of "$golden" >"$tmp/want"
    check "$name: ids equal the reference" cmp -s "$tmp/got" "$tmp/want"
}
run_case "truncation to 1500" $D/multi_news.small.trunc1500.golden.jsonl --max-prompt-tokens 1500
run_case "truncation to 1501 (odd)" $D/multi_news.small.trunc1501.golden.jsonl --max-prompt-tokens 1501
run_case "truncation to 1 (ids[-0:])" $D/multi_news.small.trunc1.golden.jsonl --max-prompt-tokens 1
run_case "no truncation" $D/multi_news.small.full.golden.jsonl
run_case "chat wrapper, truncation to 1500" $D/multi_news.small.chat.trunc1500.golden.jsonl --chat llama3 --max-prompt-tokens 1500
check "output keys" grep -qE '^\{"index":0,"_id":"[0-9a-f]+","ids":\[128000,' "$tmp/out.jsonl"
check "untruncated chat prompt starts 128000 128000 128006" grep -q '"ids":\[128000,128000,128006,' <(sed -n 2p "$tmp/out.jsonl")

# the formatted prompt text, plain and wrapped, hashes like the reference's
hash_lines() { # the SHA-256 of each line's "text"
    python3 -c 'import sys, json, hashlib
for l in sys.stdin: print(hashlib.sha256(json.loads(l)["text"].encode()).hexdigest())'
}
$KVBENCH prompts --task multi_news --data $D/multi_news.small.jsonl --text | hash_lines >"$tmp/plain"
$KVBENCH prompts --task multi_news --data $D/multi_news.small.jsonl --text --chat llama3 | hash_lines >"$tmp/chat"
grep -oE '"prompt_sha256": "[0-9a-f]+"' $D/multi_news.small.prompt_hashes.json | grep -oE '[0-9a-f]{64}' >"$tmp/want_plain"
grep -oE '"llama31_chat_prompt_sha256": "[0-9a-f]+"' $D/multi_news.small.prompt_hashes.json | grep -oE '[0-9a-f]{64}' >"$tmp/want_chat"
check "prompt SHA-256 (plain)" cmp -s "$tmp/plain" "$tmp/want_plain"
check "prompt SHA-256 (Llama-3.1 chat)" cmp -s "$tmp/chat" "$tmp/want_chat"

expect_fail "unknown task" "unknown task 'nope'" $KVBENCH prompts --task nope --data $D/multi_news.small.jsonl --tokenizer "$tmp/llama3"
expect_fail "bad --chat" "unknown chat wrapper 'chatml'" $KVBENCH prompts --task multi_news --data $D/multi_news.small.jsonl --tokenizer "$tmp/llama3" --chat chatml
printf '%s\n' '{"input": "q", "context": "c", "answers": ["a"], "length": 1, "dataset": "d", "language": "en", "all_classes": null, "_id": "x"}' '{"input": "q"}' >"$tmp/bad.jsonl"
expect_fail "a sample without fields names FILE:LINE" "bad.jsonl:2: field \"context\" is missing" $KVBENCH prompts --task multi_news --data "$tmp/bad.jsonl" --tokenizer "$tmp/llama3"
check "--help" grep -q "^usage: kvbench prompts" <<<"$($KVBENCH prompts --help)"
finish
