#!/usr/bin/env bash
# t_fidelity: the reference's tokenisation and stop rules on the real demo model (issue 12) —
# BOS only where the tokenizer's own special-token setting adds it (SmolLM2's GGUF says
# add_bos_token = false; Llama-3's tokenizer.json template adds 128000), and generation stops on
# the tokenizer's eos_token_id only unless extra stop ids are given.
cd "$(dirname "$0")/.." || exit 1
source tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
D=tests/data/longbench
json_field() { python3 -c 'import sys, json; print(json.dumps(json.loads(sys.stdin.readline())[sys.argv[1]]))' "$1"; }

# generate: the plain prompt is exactly its tokenize ids (no BOS), stop set = [eos]
q="What is the capital of France?"
n_tok=$(printf '{"text": "%s"}\n' "$q" | $KVBENCH tokenize --tokenizer "$MODEL" | json_field ids | python3 -c 'import sys, json; print(len(json.load(sys.stdin)))')
$KVBENCH generate --model "$MODEL" --prompt "$q" --chat none --max-new-tokens 4 --json >"$tmp/gen.json"
check "generate: SmolLM2 prompt has no BOS (prompt_tokens = tokenize count $n_tok)" test "$(json_field prompt_tokens <"$tmp/gen.json")" = "$n_tok"
check "generate: add_bos false" test "$(json_field add_bos <"$tmp/gen.json")" = false
check "generate: stops on eos_token_id 2 only (not <|endoftext|> 0)" test "$(json_field stop_ids <"$tmp/gen.json")" = "[2]"
check "generate --json: the weight formats held (the demo GGUF as stored: Q8_0 embeddings, Q4_1 layers)" \
    test "$(json_field weights <"$tmp/gen.json")" = '"q8_0+q4_1"'
check "generate --json: 96.6 MB of weights held" test "$(json_field weight_bytes <"$tmp/gen.json")" = 96576768
$KVBENCH generate --model "$MODEL" --prompt "$q" --chat none --max-new-tokens 4 --json --stop-ids 0,2 >"$tmp/gen2.json"
check "generate --stop-ids 0,2: extras after eos, no repeats" test "$(json_field stop_ids <"$tmp/gen2.json")" = "[2, 0]"
check "generate --stop-ids does not change the tokens of a run that never meets them" \
    test "$(json_field ids <"$tmp/gen.json")" = "$(json_field ids <"$tmp/gen2.json")"
expect_fail "generate --stop-ids with a bad id" "bad --stop-ids '5,x'" \
    $KVBENCH generate --model "$MODEL" --prompt "$q" --max-new-tokens 1 --stop-ids 5,x

# prompts: SmolLM2 (GGUF) without BOS, Llama-3 with it; stderr says which rule and from where
$KVBENCH prompts --task multi_news --data $D/multi_news.small.jsonl --tokenizer "$MODEL" --max-prompt-tokens 300 \
    >"$tmp/smol.jsonl" 2>"$tmp/smol.err"
check "prompts (SmolLM2): add_bos false on every line" test "$(grep -c '"add_bos":false' "$tmp/smol.jsonl")" -eq 4
check "prompts (SmolLM2): ids do not start with BOS id 1" test "$(grep -c '"ids":\[1,' "$tmp/smol.jsonl")" -eq 0
check "prompts (SmolLM2): stderr names the GGUF key" grep -q "BOS not prepended (GGUF tokenizer.ggml.add_bos_token)" "$tmp/smol.err"
mkdir -p "$tmp/llama3"
xz -dc tests/data/llama3_tokenizer.json.xz >"$tmp/llama3/tokenizer.json"
cp tests/data/llama3_tokenizer_config.json "$tmp/llama3/tokenizer_config.json"
$KVBENCH prompts --task multi_news --data $D/multi_news.small.jsonl --tokenizer "$tmp/llama3" --max-prompt-tokens 300 \
    >"$tmp/l3.jsonl" 2>"$tmp/l3.err"
check "prompts (Llama-3): ids start with 128000 and add_bos true" test "$(grep -c '"ids":\[128000,.*"add_bos":true' "$tmp/l3.jsonl")" -eq 4
check "prompts (Llama-3): stderr names the post_processor" grep -q "BOS prepended (tokenizer.json post_processor)" "$tmp/l3.err"
finish
