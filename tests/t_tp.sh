#!/usr/bin/env bash
# t_tp: tensor parallelism on CPU ranks (issue 7): three MPI ranks with --tensor-parallel 3 print
# exactly what one rank prints, for FullKV and each method; a T that does not divide the heads is
# refused with a clear message. The prompt (the paragraph three times, 211 tokens) is longer than
# every budget, so each method really compresses: a kept count below the prompt length is checked,
# otherwise the comparison would be of uncompressed caches.
cd "$(dirname "$0")/.." && source tests/lib.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
PROMPT="The committee published its report on Monday. It recommends that the city invest in public transport, \
expand the bicycle network and plant more trees along the main avenues. The mayor welcomed the report \
and promised a decision before the end of the year. Opposition members said the plan was too expensive \
and asked for a detailed budget. Summarize the report in one sentence."
# generate --json's weight_bytes and scratch_peak_bytes are rank 0's own (its shard: a third of the
# matrices at tp=3); everything else must be equal (strip_mem in lib.sh)
args=(generate --model "$MODEL" --prompt "$PROMPT $PROMPT $PROMPT" --chat none --max-new-tokens 12 --json)
for m in "fullkv" "snapkv --budget 72" "pyramidkv --budget 72" "h2o --budget 72" "streamingllm --budget 40" \
         "circuitkv --budget 72" "snapkv --budget 40 --preset reference-2026-01"; do
    one=$($KVBENCH "${args[@]}" --method $m 2>&1 | strip_mem)
    three=$(timeout "$(scaled 120)" mpirun -np 3 $KVBENCH "${args[@]}" --method $m --tensor-parallel 3 2>&1 | strip_mem)
    check "tp=3 equals tp=1 for --method $m" [ "${one:0:8}" = '{"text":' -a "$one" = "$three" ]
    [ "$one" = "$three" ] || { echo "  one:   $one" >&2; echo "  three: $three" >&2; }
    if [ "$m" != fullkv ]; then
        kept=$(sed -n 's/.*"kept_tokens":\([0-9.]*\).*/\1/p' <<<"$one")
        plen=$(sed -n 's/.*"prompt_tokens":\([0-9]*\).*/\1/p' <<<"$one")
        check "--method $m compresses (kept $kept < prompt $plen tokens)" \
            awk -v k="$kept" -v p="$plen" 'BEGIN { exit !(k != "" && p != "" && k + 0 < p + 0) }'
    fi
done
expect_fail "tp=2 does not divide 9 query / 3 KV heads" "must divide|does not divide" \
    timeout "$(scaled 60)" mpirun -np 2 $KVBENCH "${args[@]}" --tensor-parallel 2
expect_fail "tp=3 needs 3 ranks" "needs exactly 3 MPI ranks" $KVBENCH "${args[@]}" --tensor-parallel 3
# bench on a 3-way group prints rank 0's part of the decode step, counted as its shard: 30 layers of a
# third of 3,538,944 multiply-adds plus the 49152x576 lm_head whole = 63,700,992; attention over
# 24 + 3/2 tokens for 3 of the 9 query heads, 2 x 64 x 3 x 30 x 25.5 = 293,760
tpb=$(timeout "$(scaled 120)" mpirun -np 3 $KVBENCH bench --random smollm2-135m --backend cpu --prompt-tokens 24 \
    --gen 3 --runs 1 --tensor-parallel 3 2>&1)
check "bench --tensor-parallel 3: the step's parts as rank 0's shard, 63.7 M and 0.3 M multiply-adds" \
    grep -qE "^decode step parts \(the last run, rank 0's shard of 3\): weight products [0-9.]+ ms \(63\.7 M multiply-adds, .*decode attention [0-9.]+ ms \(0\.3 M multiply-adds" <<<"$tpb"
finish
