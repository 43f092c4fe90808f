#!/usr/bin/env bash
# t_tokenize: `kvbench tokenize` as a JSONL filter on the SmolLM2 GGUF tokenizer: ids checked
# against transformers (values from tools/golden_smollm2_tokenizer.py's reference), --add-bos,
# --decode with its flags, the round trip, and the one-line errors for bad input.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
tok() { "$KVBENCH" tokenize --tokenizer "$MODEL" "$@"; }

out=$(printf '{"text": "Hello world, it'"'"'s 2024!"}\n\n{"text": "<|im_start|>hi  3"}\n' | tok)
check "encode ids (blank line skipped)" [ "$out" = '{"ids": [19556, 905, 28, 357, 506, 216, 34, 32, 34, 36, 17]}
{"ids": [1, 6004, 256, 35]}' ]
out=$(echo '{"text": "hi"}' | tok --add-bos)
check "--add-bos prepends bos 1" [ "$out" = '{"ids": [1, 6004]}' ]
out=$(echo '{"ids": [1, 6004, 256, 35, 2]}' | tok --decode)
check "decode keeps specials by default" [ "$out" = '{"text": "<|im_start|>hi  3<|im_end|>"}' ]
out=$(echo '{"ids": [1, 6004, 256, 35, 2]}' | tok --decode --skip-special)
check "--skip-special" [ "$out" = '{"text": "hi  3"}' ]
out=$(echo '{"text": "Yes , it is ."}' | tok | tok --decode --cleanup)
check "--cleanup" [ "$out" = '{"text": "Yes, it is."}' ]
out=$(echo '{"text": "Yes , it is ."}' | tok | tok --decode)
check "no clean-up by default for a GGUF" [ "$out" = '{"text": "Yes , it is ."}' ]
in='{"text": "çà et là — 中文 🙂 \"quoted\"\ttab\\\\ back"}'
out=$(echo "$in" | tok | tok --decode)
check "UTF-8 round trip, escapes" [ "$out" = "$in" ]

expect_fail "bad JSON names the line" 'error: .*\(stdin:2\)' bash -c "printf '{\"text\": \"a\"}\n{bad\n' | $KVBENCH tokenize --tokenizer $MODEL"
expect_fail "no text field" 'no "text" string \(stdin:1\)' bash -c "echo '{\"ids\": [1]}' | $KVBENCH tokenize --tokenizer $MODEL"
expect_fail "id out of range" 'ids\[1\] is not a token id \(stdin:1\): expected integers in 0..49151' bash -c "echo '{\"ids\": [1, 99999]}' | $KVBENCH tokenize --tokenizer $MODEL --decode"
expect_fail "trailing garbage" '\(stdin:1\)' bash -c "echo '{\"text\": \"a\"} x' | $KVBENCH tokenize --tokenizer $MODEL"
expect_fail "missing --tokenizer" 'expected --tokenizer PATH' "$KVBENCH" tokenize
expect_fail "missing tokenizer file" 'nonexistent.gguf' "$KVBENCH" tokenize --tokenizer /nonexistent.gguf
check "--help" bash -c "$KVBENCH tokenize --help | grep -q -- --skip-special"
finish
