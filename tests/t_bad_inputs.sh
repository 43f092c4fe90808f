#!/usr/bin/env bash
# t_bad_inputs: the bad-input catalogue of DESIGN §8 / issue 8. Every case gives a command one
# broken input and asserts: a non-zero exit that is not a signal or a timeout, no sanitizer
# report (under SANITIZE=1), exactly one
# "kvbench: error:" line on stderr that names the problem and where it is (file:line:column for
# YAML, file:line for JSONL, the file and field/tensor for loaders), within $BAD_TIMEOUT seconds;
# for `run`, that nothing was written. Broken inputs are derived at run time from the tiny valid
# model in tests/data/bad (tiny.gguf, tiny_hf/) and from data/demo. Commands that have not landed
# yet (`kvbench CMD --help` fails) are skipped with a note and count nothing.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_bad_inputs
rm -rf "$T"; mkdir -p "$T"
BAD=tests/data/bad
BAD_TIMEOUT=${BAD_TIMEOUT:-$(scaled 20)}
unset KVBENCH_FAKE_ENGINE KVBENCH_FAKE_MS_PER_KTOK

# expect_error "description" "regex for the one error line" command...
expect_error() {
    local what=$1 re=$2; shift 2
    local err rc n
    err=$(timeout -k 5 "$BAD_TIMEOUT" "$@" 2>&1 >/dev/null </dev/null); rc=$?
    n=$(grep -c '^kvbench: error: ' <<<"$err")
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -lt 128 ] && [ "$n" -eq 1 ] && ! sanitizer_report "$err" &&
        grep -E -- "$re" <<<"$(grep '^kvbench: error: ' <<<"$err")" >/dev/null; then
        T_PASSED=$((T_PASSED + 1))
    else
        T_FAILED=$((T_FAILED + 1))
        echo "FAIL: $what (exit $rc$([ $rc -eq 124 ] && echo ", timed out after $BAD_TIMEOUT s"), $n error lines): $err" >&2
    fi
}
# Same with stdin from a file (tokenize reads JSONL on stdin).
expect_error_in() {
    local what=$1 re=$2 in=$3; shift 3
    local err rc n
    err=$(timeout -k 5 "$BAD_TIMEOUT" "$@" 2>&1 >/dev/null <"$in"); rc=$?
    n=$(grep -c '^kvbench: error: ' <<<"$err")
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -lt 128 ] && [ "$n" -eq 1 ] && ! sanitizer_report "$err" &&
        grep -E -- "$re" <<<"$(grep '^kvbench: error: ' <<<"$err")" >/dev/null; then
        T_PASSED=$((T_PASSED + 1))
    else
        T_FAILED=$((T_FAILED + 1)); echo "FAIL: $what (exit $rc, $n error lines): $err" >&2
    fi
}
# Under `make test SANITIZE=1` an error path that reads out of bounds or hits undefined behaviour
# still exits 1 with its error line; the sanitizer's report is what tells it apart. Leaks are not
# checked here: these commands exit right after the error, so memory still held then (the parsed
# sweep, the plan) is returned by the OS; library-level leaks are the fuzzers' job (LeakSanitizer
# on every input there).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
sanitizer_report() { grep -qE 'Sanitizer|runtime error:' <<<"$1"; }
have() { "$KVBENCH" "$1" --help >/dev/null 2>&1; }
SKIPPED=""
skip() { SKIPPED="$SKIPPED $1"; echo "note: kvbench $1 has not landed: its bad-input cases are skipped" >&2; }

# ---------------------------------------------------------------- broken files (derived)
cp "$BAD/tiny.gguf" "$T/ok.gguf"
head -c 3 "$BAD/tiny.gguf" >"$T/magic_only.gguf"
head -c 200 "$BAD/tiny.gguf" >"$T/trunc_meta.gguf"             # inside the metadata
size=$(stat -c %s "$BAD/tiny.gguf")
head -c $((size - 100)) "$BAD/tiny.gguf" >"$T/trunc_data.gguf"   # tensor data cut short
printf 'GGUF\003\000\000\000\377\377\377\377\377\377\377\177\000\000\000\000\000\000\000\000' >"$T/huge_count.gguf"
{ printf 'GGUF\003\000\000\000'; head -c 4096 /dev/zero | tr '\0' 'x'; } >"$T/garbage.gguf"
printf 'not a gguf at all\n' >"$T/text.gguf"
mkdir -p "$T/trunc_st" "$T/corrupt_st" "$T/badidx" "$T/missing_shard" "$T/trunc_tok" "$T/wordpiece" \
    "$T/badcfg" "$T/nocfg"
for d in trunc_st corrupt_st badidx missing_shard trunc_tok wordpiece badcfg nocfg; do
    cp "$BAD"/tiny_hf/* "$T/$d/"
done
st=$(stat -c %s "$BAD/tiny_hf/model.safetensors")
head -c $((st / 2)) "$BAD/tiny_hf/model.safetensors" >"$T/trunc_st/model.safetensors"
# header length field says 2^40 bytes
{ printf '\000\000\000\000\000\001\000\000'; tail -c +9 "$BAD/tiny_hf/model.safetensors"; } >"$T/corrupt_st/model.safetensors"
# sharded folder: an index that does not parse, and one that names a missing shard
mv "$T/badidx/model.safetensors" "$T/badidx/model-00001-of-00001.safetensors"
printf '{"metadata": {}, "weight_map": {"model.norm.weight": "model-00001-of-00001.safetensors",\n' \
    >"$T/badidx/model.safetensors.index.json"
mv "$T/missing_shard/model.safetensors" "$T/missing_shard/model-00001-of-00002.safetensors"
python3 - "$T/missing_shard" <<'PY'
import json, struct, sys
d = sys.argv[1]
f = open(d + "/model-00001-of-00002.safetensors", "rb").read()
n = struct.unpack("<Q", f[:8])[0]
names = [k for k in json.loads(f[8:8 + n]) if k != "__metadata__"]
wm = {k: "model-00001-of-00002.safetensors" for k in names}
wm["model.norm.weight"] = "model-00002-of-00002.safetensors"
json.dump({"metadata": {}, "weight_map": wm}, open(d + "/model.safetensors.index.json", "w"))
PY
head -c 1500 "$BAD/tiny_hf/tokenizer.json" >"$T/trunc_tok/tokenizer.json"
cp "$T/trunc_tok/tokenizer.json" "$T/trunc_tokenizer.json"
python3 - "$BAD/tiny_hf/tokenizer.json" "$T/wordpiece/tokenizer.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["model"] = {"type": "WordPiece", "unk_token": "[UNK]", "vocab": t["model"]["vocab"]}
json.dump(t, open(sys.argv[2], "w"))
PY
cp "$T/wordpiece/tokenizer.json" "$T/wordpiece_tokenizer.json"
printf '{"hidden_size": 32, "num_attention_heads": \n' >"$T/badcfg/config.json"
rm "$T/nocfg/config.json"

# ---------------------------------------------------------------- sweeps (plan and run)
cat >"$T/ok.yaml" <<YAML
name: ok
data: data/demo
tasks: [trec, multi_news]
samples: 2
budgets: [128]
methods: [fullkv, snapkv]
models:
  - name: tiny
    path: $BAD/tiny.gguf
    family: smollm2
engine: {max_new_tokens: 4}
YAML
variant() { sed "$1" "$T/ok.yaml" >"$T/$2.yaml"; }
variant 's/budgets: \[128\]/budgets: [128, 256/' syntax          # unclosed flow sequence
variant 's/methods: \[fullkv, snapkv\]/methods: [fullkv, snapkv]\n  - h2o/' syntax2  # list item after a mapping value
variant 's/budgets: \[128\]/budgets: lots/' type_budgets
variant 's/samples: 2/samples: {first: 2}/' type_samples
variant 's/max_new_tokens: 4/max_new_tokens: four/' type_engine
variant 's/samples: 2/sample: 2/' unknown_key
variant 's/family: smollm2/family: smollm2\n    colour: blue/' unknown_model_key
variant 's/max_new_tokens: 4/max_new_tokens: 4, speed: 11/' unknown_engine_key
variant 's/max_new_tokens: 4/max_new_tokens: 4, activations: int4/' bad_activations
variant 's/family: smollm2/family: smollm2\n    weights: q4_k/' bad_weights
variant 's/name: ok/name: ok\nname: again/' dup_key
variant 's/snapkv\]/snapkvv]/' unknown_method
variant 's/snapkv\]/{name: snapkv, windw: 8}]/' unknown_knob
variant 's/multi_news\]/multi_newz]/' unknown_task
variant 's/budgets: \[128\]/budgets: [32]/' budget_window      # SnapKV window is 64
variant 's/snapkv\]/{name: snapkv, window: 128}]/' window_budget
variant 's/budgets: \[128\]/budgets: [0]/' budget_zero
variant 's/budgets: \[128\]/budgets: [-5]/' budget_negative
variant 's/family: smollm2/tensor_parallel: 3/' tp3             # 4 heads, 2 KV heads
variant 's/family: smollm2/tensor_parallel: 4/' tp4             # divides 4 heads but not 2 KV heads
variant "s#$BAD/tiny.gguf#$T/no_such_model.gguf#" missing_model
variant 's#data: data/demo#data: data/no_such_data#' missing_data
variant 's#data: data/demo#data: ${KVBENCH_NO_SUCH_VAR}#' unset_var
variant "s#$BAD/tiny.gguf#$T/trunc_meta.gguf#" model_trunc_gguf
variant "s#$BAD/tiny.gguf#$T/text.gguf#" model_text_gguf
variant "s#$BAD/tiny.gguf#$T/badcfg#" model_bad_config
variant "s#$BAD/tiny.gguf#$T/nocfg#" model_no_config
variant 's/^models:.*//; /^  - name: tiny/,/family/d' no_models
printf 'just a string\n' >"$T/not_mapping.yaml"
: >"$T/empty.yaml"
printf '\xff\xfe\x00b\x00a\x00d\x00' >"$T/binary.yaml"
# data folders with one broken task file each
mkdir -p "$T/data_badline" "$T/data_nofield" "$T/data_missing_task"
cp data/demo/*.jsonl "$T/data_badline/"; cp data/demo/*.jsonl "$T/data_nofield/"
cp data/demo/*.jsonl "$T/data_missing_task/"; rm "$T/data_missing_task/trec.jsonl"
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
p = t + "/data_badline/trec.jsonl"; L = open(p).read().split("\n"); L[1] = L[1][:40]; open(p, "w").write("\n".join(L))
p = t + "/data_nofield/trec.jsonl"; L = open(p).read().split("\n"); d = json.loads(L[2]); del d["answers"]
L[2] = json.dumps(d); open(p, "w").write("\n".join(L))
PY
variant "s#data: data/demo#data: $T/data_badline#" data_badline
variant "s#data: data/demo#data: $T/data_nofield#" data_nofield
variant "s#data: data/demo#data: $T/data_missing_task#" data_missing_task

Y="\.yaml:[0-9]+:[0-9]+\)"   # where: (file:line:column)
sweep_cases() { # sweep_cases CMD
    local c=$1
    expect_error "$c: YAML syntax error" "malformed YAML \(.*syntax$Y: " "$KVBENCH" "$c" "$T/syntax.yaml" --output "$T/out_$c"
    expect_error "$c: YAML syntax error 2" "malformed YAML \(.*syntax2$Y: " "$KVBENCH" "$c" "$T/syntax2.yaml" --output "$T/out_$c"
    expect_error "$c: budgets of the wrong type" "'budgets' has the wrong type \(.*$Y: .*list of integers" "$KVBENCH" "$c" "$T/type_budgets.yaml" --output "$T/out_$c"
    expect_error "$c: samples of the wrong type" "samples.* \(.*type_samples$Y: " "$KVBENCH" "$c" "$T/type_samples.yaml" --output "$T/out_$c"
    expect_error "$c: engine value of the wrong type" "max_new_tokens.* \(.*type_engine$Y: .*integer" "$KVBENCH" "$c" "$T/type_engine.yaml" --output "$T/out_$c"
    expect_error "$c: unknown key" "unknown key 'sample' .*\(.*unknown_key.yaml:4:1\): one of: " "$KVBENCH" "$c" "$T/unknown_key.yaml" --output "$T/out_$c"
    expect_error "$c: unknown model key" "unknown key 'colour' .*$Y: one of: " "$KVBENCH" "$c" "$T/unknown_model_key.yaml" --output "$T/out_$c"
    expect_error "$c: unknown engine key" "unknown key 'speed' .*$Y: one of: " "$KVBENCH" "$c" "$T/unknown_engine_key.yaml" --output "$T/out_$c"
    expect_error "$c: unknown activations" "'activations' is not valid \(.*bad_activations$Y: unknown activations 'int4' \(expected f32 or q8\)" "$KVBENCH" "$c" "$T/bad_activations.yaml" --output "$T/out_$c"
    expect_error "$c: unknown weight format" "'weights' is not valid \(.*bad_weights.yaml:11:14\): .*q4_k.*as-stored" "$KVBENCH" "$c" "$T/bad_weights.yaml" --output "$T/out_$c"
    expect_error "$c: duplicate key" "duplicate key 'name' \(.*dup_key.yaml:2:1\)" "$KVBENCH" "$c" "$T/dup_key.yaml" --output "$T/out_$c"
    expect_error "$c: unknown method" "unknown method 'snapkvv' \(.*$Y: one of: .*snapkv" "$KVBENCH" "$c" "$T/unknown_method.yaml" --output "$T/out_$c"
    expect_error "$c: unknown knob" "windw.*$Y: .*window" "$KVBENCH" "$c" "$T/unknown_knob.yaml" --output "$T/out_$c"
    expect_error "$c: unknown task" "unknown task 'multi_newz' \(.*$Y: one of: .*multi_news" "$KVBENCH" "$c" "$T/unknown_task.yaml" --output "$T/out_$c"
    expect_error "$c: budget <= window" "budget 32 .*SnapKV.*$Y: .*window 64" "$KVBENCH" "$c" "$T/budget_window.yaml" --output "$T/out_$c"
    expect_error "$c: window >= budget" "SnapKV.*$Y: .*(window|budget)" "$KVBENCH" "$c" "$T/window_budget.yaml" --output "$T/out_$c"
    expect_error "$c: budget 0" "'budgets' = 0 .*$Y: " "$KVBENCH" "$c" "$T/budget_zero.yaml" --output "$T/out_$c"
    expect_error "$c: negative budget" "'budgets' = -5 .*$Y: " "$KVBENCH" "$c" "$T/budget_negative.yaml" --output "$T/out_$c"
    expect_error "$c: tensor_parallel 3 vs 4 heads" "tensor_parallel 3 does not divide the heads of model 'tiny' \(.*$Y: .*n_heads 4" "$KVBENCH" "$c" "$T/tp3.yaml" --output "$T/out_$c"
    expect_error "$c: tensor_parallel 4 vs 2 KV heads" "tensor_parallel 4 does not divide the heads .*$Y: .*n_kv_heads 2" "$KVBENCH" "$c" "$T/tp4.yaml" --output "$T/out_$c"
    expect_error "$c: missing model path" "model file '.*no_such_model.gguf' not found \(.*$Y: " "$KVBENCH" "$c" "$T/missing_model.yaml" --output "$T/out_$c"
    expect_error "$c: missing data folder" "data folder 'data/no_such_data' not found \(.*$Y: " "$KVBENCH" "$c" "$T/missing_data.yaml" --output "$T/out_$c"
    expect_error "$c: unset \${VAR}" "KVBENCH_NO_SUCH_VAR.*$Y" "$KVBENCH" "$c" "$T/unset_var.yaml" --output "$T/out_$c"
    expect_error "$c: missing task file" "trec.jsonl' not found \(.*$Y: " "$KVBENCH" "$c" "$T/data_missing_task.yaml" --output "$T/out_$c"
    expect_error "$c: JSONL line that does not parse" "data_badline/trec.jsonl:2: .*(parse|JSON)" "$KVBENCH" "$c" "$T/data_badline.yaml" --output "$T/out_$c"
    expect_error "$c: JSONL line without a field" "data_nofield/trec.jsonl:3: field \"answers\" is missing" "$KVBENCH" "$c" "$T/data_nofield.yaml" --output "$T/out_$c"
    expect_error "$c: model is a truncated GGUF" "model 'tiny' \(.*$Y: .*trunc_meta.gguf: .*(truncated|cannot fit|file has)" "$KVBENCH" "$c" "$T/model_trunc_gguf.yaml" --output "$T/out_$c"
    expect_error "$c: model is not a GGUF" "model 'tiny' \(.*$Y: .*text.gguf: .*GGUF" "$KVBENCH" "$c" "$T/model_text_gguf.yaml" --output "$T/out_$c"
    expect_error "$c: model config.json does not parse" "badcfg/config.json:[0-9]+:[0-9]+" "$KVBENCH" "$c" "$T/model_bad_config.yaml" --output "$T/out_$c"
    expect_error "$c: model folder without config.json" "nocfg.*config.json" "$KVBENCH" "$c" "$T/model_no_config.yaml" --output "$T/out_$c"
    expect_error "$c: sweep without models" "without models \(.*no_models.yaml:1:1\)" "$KVBENCH" "$c" "$T/no_models.yaml" --output "$T/out_$c"
    expect_error "$c: sweep not a mapping" "not a mapping \(.*not_mapping.yaml:1:1\)" "$KVBENCH" "$c" "$T/not_mapping.yaml" --output "$T/out_$c"
    expect_error "$c: empty sweep" "empty.yaml" "$KVBENCH" "$c" "$T/empty.yaml" --output "$T/out_$c"
    expect_error "$c: binary sweep" "binary.yaml" "$KVBENCH" "$c" "$T/binary.yaml" --output "$T/out_$c"
    expect_error "$c: missing sweep file" "no_such.yaml" "$KVBENCH" "$c" "$T/no_such.yaml" --output "$T/out_$c"
    expect_error "$c: unknown option" "--bogus" "$KVBENCH" "$c" "$T/ok.yaml" --bogus
    # Nothing stored: run takes its folder lock before it reads the data files, so a JSONL error
    # may leave the empty folder and its .lock, but never an item, a summary or a table.
    check "$c: failed commands stored nothing" test -z "$(find "$T/out_$c" -type f ! -name .lock 2>/dev/null)"
}
if have plan; then sweep_cases plan; else skip plan; fi
if have run; then
    sweep_cases run
    # An output folder that cannot be written: its parent is a regular file (fails even as root).
    : >"$T/a_file"
    expect_error "run: output folder cannot be created" "a_file/out.*(Not a directory|cannot)" \
        env KVBENCH_FAKE_ENGINE=1 "$KVBENCH" run "$T/ok.yaml" --output "$T/a_file/out"
    # A write that fails in the middle of an item (file size limit: EFBIG, SIGXFSZ ignored): one
    # error line, and no item file (nor any other *.h5) becomes visible, only nothing or temporaries.
    expect_error "run: write fails mid-item" "cannot write item file .*File too large" \
        bash -c 'ulimit -f 8; trap "" XFSZ; exec env KVBENCH_FAKE_ENGINE=1 "$0" run "$1" --output "$2"' \
        "$KVBENCH" "$T/ok.yaml" "$T/out_efbig"
    check "run: no partial item visible after a failed write" \
        test "$(find "$T/out_efbig" -name '*.h5' | wc -l)" -eq 0
    check "run: no temporary left behind by a failed write" \
        test "$(find "$T/out_efbig" -name '*.tmp.*' | wc -l)" -eq 0
    # The same folder then completes normally: the failed attempt left nothing that blocks it.
    out=$(KVBENCH_FAKE_ENGINE=1 timeout 60 "$KVBENCH" run "$T/ok.yaml" --output "$T/out_efbig" 2>&1)
    check "run: rerun after a failed write completes" test -s "$T/out_efbig/summary.h5"
    check "run: rerun stores all 4 items" test "$(find "$T/out_efbig/items" -name '*.h5' | wc -l)" -eq 4
else skip run; fi

# ---------------------------------------------------------------- loaders through tokenize
printf '{"text": "hello"}\n' >"$T/hello.jsonl"
if have tokenize; then
    expect_error_in "tokenize: GGUF of 3 bytes" "magic_only.gguf: .*(truncated|GGUF)" "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/magic_only.gguf"
    expect_error_in "tokenize: GGUF cut in the metadata" "trunc_meta.gguf: .*(truncated|cannot fit|file has)" "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/trunc_meta.gguf"
    expect_error_in "tokenize: GGUF with 2^63 tensors" "huge_count.gguf: " "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/huge_count.gguf"
    expect_error_in "tokenize: GGUF of garbage" "garbage.gguf: " "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/garbage.gguf"
    expect_error_in "tokenize: text file named .gguf" "text.gguf: .*GGUF" "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/text.gguf"
    expect_error_in "tokenize: truncated tokenizer.json" "trunc_tokenizer.json:[0-9]+:[0-9]+: " "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/trunc_tokenizer.json"
    expect_error_in "tokenize: truncated tokenizer.json in a folder" "trunc_tok/tokenizer.json:[0-9]+:[0-9]+: " "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/trunc_tok"
    expect_error_in "tokenize: WordPiece tokenizer.json" "wordpiece_tokenizer.json: .*WordPiece.*(support|BPE)" "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/wordpiece_tokenizer.json"
    expect_error_in "tokenize: missing tokenizer" "no_such_tok: no such file" "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T/no_such_tok"
    expect_error_in "tokenize: folder without tokenizer.json" "no tokenizer.json" "$T/hello.jsonl" "$KVBENCH" tokenize --tokenizer "$T"
    printf '{"text": "a"}\n{"text": "b"\n' >"$T/tok_badline.jsonl"
    expect_error_in "tokenize: stdin line that does not parse" "stdin:2" "$T/tok_badline.jsonl" "$KVBENCH" tokenize --tokenizer "$BAD/tiny_hf"
    printf '{"text": "a"}\n{"txt": "b"}\n' >"$T/tok_nofield.jsonl"
    expect_error_in "tokenize: stdin line without text" "no \"text\" string \(stdin:2\)" "$T/tok_nofield.jsonl" "$KVBENCH" tokenize --tokenizer "$BAD/tiny_hf"
    printf '{"ids": [1, 99999]}\n' >"$T/tok_badid.jsonl"
    expect_error_in "tokenize --decode: id outside the vocab" "ids\[1\] is not a token id \(stdin:1\)" "$T/tok_badid.jsonl" "$KVBENCH" tokenize --tokenizer "$BAD/tiny_hf" --decode
else skip tokenize; fi

# ---------------------------------------------------------------- score
P="$T/pred"
mkdir -p "$P"
good='{"pred": "a b", "answers": ["a b"], "all_classes": null, "length": 3}'
printf '%s\n%s\n' "$good" '{"pred": "a", "answers": ["a"], "all_classes": null, "length": 3' >"$P/badline.jsonl"
printf '%s\n%s\n' "$good" '{"pred": "a", "all_classes": null, "length": 3}' >"$P/noanswers.jsonl"
printf '%s\n' '{"answers": ["a"], "all_classes": null, "length": 3}' >"$P/nopred.jsonl"
printf '%s\n' '{"pred": "a", "answers": "a", "all_classes": null, "length": 3}' >"$P/answers_str.jsonl"
printf '%s\n' '{"pred": 7, "answers": ["a"], "all_classes": null, "length": 3}' >"$P/pred_int.jsonl"
printf '%s\n' "$good" >"$P/good.jsonl"
: >"$P/empty.jsonl"
if have score; then
    expect_error "score: line that does not parse" "badline.jsonl:2: .*(parse|JSON)" "$KVBENCH" score --task qasper "$P/badline.jsonl"
    expect_error "score: prediction without answers" "noanswers.jsonl:2: field \"answers\" is missing" "$KVBENCH" score --task qasper "$P/noanswers.jsonl"
    expect_error "score: line without pred" "nopred.jsonl:1: field \"pred\" is missing" "$KVBENCH" score --task qasper "$P/nopred.jsonl"
    expect_error "score: answers not a list" "answers_str.jsonl:1: .*answers.*list" "$KVBENCH" score --task qasper "$P/answers_str.jsonl"
    expect_error "score: pred not a string" "pred_int.jsonl:1: .*pred" "$KVBENCH" score --task qasper "$P/pred_int.jsonl"
    expect_error "score: no predictions" "empty.jsonl: no predictions" "$KVBENCH" score --task qasper "$P/empty.jsonl"
    expect_error "score: trec without all_classes" "good.jsonl: .*all_classes" "$KVBENCH" score --task trec "$P/good.jsonl"
    expect_error "score: unknown task" "unknown task 'qaspr' \(--task\): .*qasper" "$KVBENCH" score --task qaspr "$P/good.jsonl"
    expect_error "score: missing file" "no_such.jsonl: cannot open" "$KVBENCH" score --task qasper "$P/no_such.jsonl"
    expect_error "score: results folder missing" "not a folder" "$KVBENCH" score --results "$P/no_such_dir"
else skip score; fi

# ---------------------------------------------------------------- prompts
if have prompts; then
    expect_error "prompts: unknown task" "unknown task 'trek'" "$KVBENCH" prompts --task trek --data data/demo/trec.jsonl --tokenizer "$BAD/tiny_hf"
    expect_error "prompts: JSONL line that does not parse" "data_badline/trec.jsonl:2: " "$KVBENCH" prompts --task trec --data "$T/data_badline/trec.jsonl" --tokenizer "$BAD/tiny_hf"
    expect_error "prompts: JSONL line without a field" "data_nofield/trec.jsonl:3: field \"answers\" is missing" "$KVBENCH" prompts --task trec --data "$T/data_nofield/trec.jsonl" --tokenizer "$BAD/tiny_hf"
    expect_error "prompts: missing data file" "no_such.jsonl" "$KVBENCH" prompts --task trec --data "$T/no_such.jsonl" --tokenizer "$BAD/tiny_hf"
    expect_error "prompts: truncated GGUF tokenizer" "trunc_meta.gguf: .*(truncated|cannot fit|file has)" "$KVBENCH" prompts --task trec --data data/demo/trec.jsonl --tokenizer "$T/trunc_meta.gguf"
    expect_error "prompts: truncated tokenizer.json" "trunc_tok/tokenizer.json:[0-9]+:[0-9]+: " "$KVBENCH" prompts --task trec --data data/demo/trec.jsonl --tokenizer "$T/trunc_tok"
    expect_error "prompts: unsupported tokenizer kind" "WordPiece" "$KVBENCH" prompts --task trec --data data/demo/trec.jsonl --tokenizer "$T/wordpiece"
    expect_error "prompts: unknown chat format" "chat.*klingon|klingon.*chat" "$KVBENCH" prompts --task trec --data data/demo/trec.jsonl --tokenizer "$BAD/tiny_hf" --chat klingon
    expect_error "prompts: negative max-prompt-tokens" "max-prompt-tokens" "$KVBENCH" prompts --task trec --data data/demo/trec.jsonl --tokenizer "$BAD/tiny_hf" --max-prompt-tokens -3
else skip prompts; fi

# ---------------------------------------------------------------- generate
if have generate; then
    G=("$KVBENCH" generate --prompt "hello" --max-new-tokens 2)
    expect_error "generate: GGUF of 3 bytes" "magic_only.gguf: " "${G[@]}" --model "$T/magic_only.gguf"
    expect_error "generate: GGUF cut in the metadata" "trunc_meta.gguf: .*(truncated|cannot fit|file has)" "${G[@]}" --model "$T/trunc_meta.gguf"
    expect_error "generate: GGUF cut in the tensor data" "trunc_data.gguf: .*(truncated|outside|beyond|past|end)" "${G[@]}" --model "$T/trunc_data.gguf"
    expect_error "generate: GGUF with 2^63 tensors" "huge_count.gguf: " "${G[@]}" --model "$T/huge_count.gguf"
    expect_error "generate: truncated safetensors" "trunc_st/model.safetensors" "${G[@]}" --model "$T/trunc_st"
    expect_error "generate: safetensors header length corrupt" "corrupt_st/model.safetensors" "${G[@]}" --model "$T/corrupt_st"
    expect_error "generate: index json that does not parse" "badidx/model.safetensors.index.json" "${G[@]}" --model "$T/badidx"
    expect_error "generate: index names a missing shard" "model-00002-of-00002.safetensors" "${G[@]}" --model "$T/missing_shard"
    expect_error "generate: truncated tokenizer.json" "trunc_tok/tokenizer.json:[0-9]+:[0-9]+: " "${G[@]}" --model "$T/trunc_tok"
    expect_error "generate: unsupported tokenizer kind" "WordPiece" "${G[@]}" --model "$T/wordpiece"
    expect_error "generate: config.json does not parse" "badcfg/config.json:[0-9]+:[0-9]+" "${G[@]}" --model "$T/badcfg"
    expect_error "generate: missing model" "no_such_model" "${G[@]}" --model "$T/no_such_model"
    expect_error "generate: unknown method" "snapkvv" "${G[@]}" --model "$BAD/tiny.gguf" --method snapkvv --budget 128
    expect_error "generate: budget below the window" "(budget 32.*window 64|window 64.*budget 32)" "${G[@]}" --model "$BAD/tiny.gguf" --method snapkv --budget 32
    expect_error "generate: negative max-new-tokens" "max-new-tokens" "$KVBENCH" generate --model "$BAD/tiny.gguf" --prompt hi --max-new-tokens -1
    expect_error "generate: no prompt" "prompt" "$KVBENCH" generate --model "$BAD/tiny.gguf"
else skip generate; fi

[ -n "$SKIPPED" ] && echo "note: skipped (not landed):$SKIPPED"
finish
