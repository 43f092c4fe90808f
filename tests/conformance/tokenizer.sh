#!/usr/bin/env bash
# conformance/tokenizer: the Llama-3 tokenizer of the shared folder ($1) against its full
# golden.jsonl (exact ids, no BOS), the decode round trip on the same texts, and the encode rate
# on the LongBench multi_news sample contexts.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
shared=${1:?usage: tests/conformance/tokenizer.sh SHARED_DIR}
dir=$shared/data/llama3-tokenizer
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tok() { "$KVBENCH" tokenize --tokenizer "$dir" "$@"; }

# kvbench tokenize reads only "text" from each golden line; compare with the golden "ids" arrays.
tok < "$dir/golden.jsonl" | sed -E 's/^\{"ids": \[(.*)\]\}$/\1/; s/ //g' > "$tmp/got"
sed -E 's/.*"ids": ?\[([^]]*)\]\}$/\1/; s/ //g' "$dir/golden.jsonl" > "$tmp/want"
n=$(wc -l < "$tmp/want")
same=$(paste -d'|' "$tmp/got" "$tmp/want" | awk -F'|' '$1 == $2' | wc -l)
check "golden ids: $same of $n lines identical" [ "$n" -gt 0 ] && [ "$same" -eq "$n" ]
# Round trip: re-encoding the decoded text gives the same ids on every line.
tok < "$dir/golden.jsonl" > "$tmp/ids"
tok --decode --no-cleanup < "$tmp/ids" | tok > "$tmp/ids2"
check "encode(decode(ids)) == ids on the golden texts" cmp -s "$tmp/ids" "$tmp/ids2"

mn=$shared/data/longbench/multi_news.sample.jsonl
if [ -f "$mn" ]; then
    # the sample lines carry "context" (the long part); rename it to "text" for the filter
    sed -E 's/"context": /"text": /' "$mn" > "$tmp/mn.jsonl"
    bytes=$(wc -c < "$tmp/mn.jsonl")
    t0=$(date +%s.%N); tok < /dev/null; t1=$(date +%s.%N)
    tok < "$tmp/mn.jsonl" > "$tmp/mn.ids"; t2=$(date +%s.%N)
    lines=$(wc -l < "$tmp/mn.ids")
    check "multi_news sample: one ids line per sample ($lines)" [ "$lines" -eq "$(wc -l < "$mn")" ]
    awk -v b="$bytes" -v l="$t0" -v m="$t1" -v e="$t2" 'BEGIN {
        enc = (e - m) - (m - l); if (enc < 1e-3) enc = 1e-3;
        printf "multi_news: %d bytes encoded in %.3f s after a %.3f s load (%.1f MB/s)\n", b, enc, m - l, b / enc / 1e6 }'
fi
finish
