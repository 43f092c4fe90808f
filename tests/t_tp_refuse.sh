#!/usr/bin/env bash
# t_tp_refuse: the kvpress-style methods whose statistics are computed on the host (knorm, keydiff,
# expected_attention, adakv with the knorm or keydiff scorer) are refused under tensor parallelism
# before anything runs, with one line naming the method, the statistics and why; tova, random and
# adakv over SnapKV's scores (no host statistics) are not.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
T=tests/tmp/t_tp_refuse
rm -rf "$T"; mkdir -p "$T"
sweep() { # sweep METHOD
    cat > "$T/s.yaml" <<YAML
name: tp
data: data/demo
tasks: [multi_news]
budgets: [128]
methods: [fullkv, $1]
models:
  - {name: smol, path: $MODEL, family: smollm2, tensor_parallel: 3}
engine: {backend: cpu}
YAML
}
for m in "knorm|key norms" "keydiff|key cosines" "expected_attention|.*query mean and covariance" \
    "{name: adakv, scorer: knorm, window: 0}|key norms"; do
    sweep "${m%%|*}"
    name=$(sed 's/{name: \([a-z_]*\).*/\1/' <<<"${m%%|*}")
    expect_fail "$name refused under TP" \
        "method $name is refused under tensor_parallel 3 \\(model 'smol', .*\\): .*needs ${m#*|}.*every head's q, k and v.*tensor_parallel 1" \
        "$KVBENCH" plan "$T/s.yaml" --ranks 3
    n=$("$KVBENCH" plan "$T/s.yaml" --ranks 3 2>&1 >/dev/null | wc -l)
    check "$name: one error line ($n)" test "$n" -eq 1
done
for m in tova random adakv; do
    sweep $m
    check "$m is accepted under TP" bash -c "'$KVBENCH' plan '$T/s.yaml' --ranks 3 >/dev/null 2>&1"
done
finish
