#!/usr/bin/env bash
# t_bench: kvbench bench on random weights of a real shape — the whole model and one rank's shard
# of a tensor-parallel split run alone (--shard T: the per-GPU shapes of a TP group on one device),
# and the 26 variants batched vs one by one with their token mismatches counted.
# The shard streams its slices of the attention and MLP weights plus the unsplit embeddings, so
# its bytes per decode step lie strictly between a third and the whole of the full model's.
cd "$(dirname "$0")/.." && source tests/lib.sh
export OMP_NUM_THREADS=1
args=(bench --random smollm2-135m --backend cpu --prompt-tokens 24 --gen 3 --runs 1)
full=$($KVBENCH "${args[@]}" 2>&1)
shard=$($KVBENCH "${args[@]}" --shard 3 2>&1)
check "bench on random weights reports prefill and decode" grep -q '^decode: ' <<<"$full"
# Large buffers ask for transparent huge pages (util/util.c): where THP is on (always or madvise)
# and the kernel compacts memory for such a request when it faults (defrag always, madvise or
# defer+madvise: otherwise a fragmented machine may give 4 KiB pages), the 538 MB of fp32 weights
# sit mostly on them.
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
defrag=$(cat /sys/kernel/mm/transparent_hugepage/defrag 2>/dev/null)
if [[ ($thp == *"[always]"* || $thp == *"[madvise]"*) &&
      ($defrag == *"[always]"* || $defrag == *"[madvise]"* || $defrag == *"[defer+madvise]"*) ]]; then
    hmb=$(sed -n 's/^memory: .*, on huge pages now \([0-9.]*\) MB$/\1/p' <<<"$full")
    check "THP on ($thp): the weights on huge pages (${hmb:-none} MB)" awk -v h="${hmb:-0}" 'BEGIN { exit !(h > 256) }'
else
    check "THP off or without compaction ($thp; $defrag): the memory line still says how much is on huge pages" \
        grep -qE '^memory: .*, on huge pages now' <<<"$full"
fi
# the decode step's parts: 134,479,872 multiply-adds a SmolLM2 token in the weights, and its
# attention over 24 + 3/2 tokens 2 x 64 x 9 x 30 x 25.5 = 881,280 (a shard prints none: its products
# are not the model's)
dparts=$(sed -n 's/^decode step parts (the last run): weight products \([0-9.]*\) ms (\([0-9.]*\) M multiply-adds, f32 activations: [0-9.]* G\/s), decode attention \([0-9.]*\) ms (\([0-9.]*\) M multiply-adds at least: [0-9.]* G\/s), the rest \(-\?[0-9.]*\) ms$/\1 \2 \3 \4 \5/p' <<<"$full")
check "the decode step's parts, 134.5 M and 0.9 M multiply-adds, the rest >= 0 ($dparts)" \
    awk -v p="$dparts" 'BEGIN { split(p, v, " "); exit !(v[1] > 0 && v[2] == 134.5 && v[3] > 0 && v[4] == 0.9 && v[5] >= 0) }'
check "--shard 3 prints no step parts" bash -c '! grep -q "step parts" <<<"$1"' _ "$shard"
check "--shard 3 says which shard it measured" grep -q '^shard: 1 of 3 (tensor-parallel shapes' <<<"$shard"
check "--shard 3 reports prefill and decode" grep -q '^decode: ' <<<"$shard"
mb() { sed -n 's/^roofline: decode reads \([0-9.]*\) MB.*/\1/p' <<<"$1"; }
fmb=$(mb "$full"); smb=$(mb "$shard")
check "shard streams between 1/3 and all of the model's weights ($smb of $fmb MB)" \
    awk -v s="$smb" -v f="$fmb" 'BEGIN { exit !(s > f / 3 && s < f) }'
# --variants all: the mismatch count between batched and one-by-one decoding is reported; on the
# CPU (fp32) identity is required and holds.
var=$($KVBENCH bench --random smollm2-135m --backend cpu --prompt-tokens 16 --gen 2 --runs 1 --variants all 2>&1)
check "--variants all on fp32: 0 mismatches, identity required" \
    grep -qE '^mismatches vs one-by-one: 0 of 26 variant runs, 0 of [0-9]+ tokens \(fp32: identity required\)' <<<"$var"
check "--variants all: the batched step against its bytes and the measured bandwidth" \
    grep -qE '^batched step: [0-9.]+ ms for 26 variants \(1 decoded\); reads at least [0-9.]+ MB \([0-9.]+ MB f32 weights once \+ [0-9.]+ MB kept K/V\) -> [0-9.]+ GB/s vs [0-9.]+ GB/s measured read bandwidth; byte bound [0-9.]+ ms, step [0-9.]+x it' <<<"$var"
# where the step went: SmolLM2-135M's 30 layers of 576x576 (q, o), 576x192 (k, v), 3 x 576x1536 and
# the 49152x576 lm_head are 134,479,872 multiply-adds a token; its attention over 16 prompt tokens
# and the half-step's tail (2 generated: 1) is 2 x 64 x 9 heads x 30 layers x 17 = 587,520. Kernel
# times are inside the decode's, so the rest is not negative (the prefill's products are not counted).
parts=$(sed -n 's/^batched step parts (the last run): weight products \([0-9.]*\) ms (\([0-9.]*\) M multiply-adds, f32 activations: [0-9.]* G\/s), decode attention \([0-9.]*\) ms (\([0-9.]*\) M multiply-adds at least: [0-9.]* G\/s), the rest \(-\?[0-9.]*\) ms$/\1 \2 \3 \4 \5/p' <<<"$var")
check "--variants all: the step's parts, 134.5 M and 0.6 M multiply-adds, the rest >= 0 ($parts)" \
    awk -v p="$parts" 'BEGIN { split(p, v, " "); exit !(v[1] > 0 && v[2] == 134.5 && v[3] > 0 && v[4] == 0.6 && v[5] >= 0) }'
# every budget (128..2048) covers the 16-token prompt: the 25 compressed variants keep FullKV's
# positions, are decoded once with it, and still equal their one-by-one runs (the line above)
check "--variants all: 25 twins of FullKV decoded once" \
    grep -qE '^twins: 25 of 26 variants keep the same positions as an earlier one' <<<"$var"
bat=$($KVBENCH bench --random smollm2-135m --backend cpu --prompt-tokens 16 --gen 2 --runs 1 --variants batched 2>&1)
check "--variants batched: the batched step without the one-by-one runs" \
    bash -c 'grep -q "^batched step: " <<<"$1" && ! grep -qE "^(one by one|speed-up|mismatches)" <<<"$1"' _ "$bat"
# --activations q8 (8-bit activations on Q8_0 weights): a row's outputs do not depend on the batch,
# so the 26 variants batched still equal their one-by-one runs token for token
q8=$($KVBENCH bench --random smollm2-135m --weights q8_0 --activations q8 --backend cpu --prompt-tokens 16 --gen 2 \
    --runs 1 --variants all 2>&1)
check "--activations q8: the memory line names the activations and their kernels" \
    grep -qE '^memory: weights [0-9.]+ MB held \(q8_0; CPU kernels [a-z0-9]+, decode activations q8 \((vnni|avx2|c)\)\)' \
    <<<"$($KVBENCH "${args[@]}" --weights q8_0 --activations q8 2>&1)"
check "--activations q8 --variants all: 0 mismatches with one by one" \
    grep -qE '^mismatches vs one-by-one: 0 of 26 variant runs, 0 of [0-9]+ tokens' <<<"$q8"
expect_fail "--activations with another word" "expected f32 or q8" $KVBENCH "${args[@]}" --activations int4
expect_fail "--variants with another word" "expects 'all' or 'batched'" $KVBENCH "${args[@]}" --variants some
expect_fail "--shard with --variants" "FullKV only" $KVBENCH "${args[@]}" --shard 3 --variants all
expect_fail "--shard with --tensor-parallel" "exclude each other" $KVBENCH "${args[@]}" --shard 3 --tensor-parallel 3
expect_fail "--shard 2 does not divide 9 query heads" "must divide" $KVBENCH "${args[@]}" --shard 2
# OpenMP waits (harness/cli/wait_policy.c): a policy the user set is kept; unset, waits are passive,
# and spinning (bounded) only when the cores look free: never with another rank of the job on the
# node or more threads than CPUs.
# The policy is settled before the model loads: the tiny model keeps these five runs short.
waits() { sed -n 's/^model: .*(.*; \(OpenMP waits [^)]*\)), prompt.*/\1/p'; }
tiny=(bench --model tests/data/bad/tiny.gguf --backend cpu --prompt-tokens 8 --gen 2 --runs 1)
pol() { env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT "$@" $KVBENCH "${tiny[@]}" 2>&1 | waits; }
check "a wait policy the user set is kept and reported" \
    test "$(OMP_WAIT_POLICY=active $KVBENCH "${tiny[@]}" 2>&1 | waits)" = "OpenMP waits active"
check "unset: passive, no spinning with two ranks of the job on the node" \
    test "$(pol OMPI_COMM_WORLD_LOCAL_SIZE=2)" = "OpenMP waits passive"
check "unset: passive, no spinning with more threads than CPUs" \
    test "$(pol OMP_NUM_THREADS=$(($(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) + 1)))" = "OpenMP waits passive"
check "unset: passive, at most a bounded spin when alone" \
    grep -qxE "OpenMP waits passive(, spin 10000)?" <<<"$(pol)"
check "GOMP_SPINCOUNT alone is the user's choice: no policy added" \
    test "$(env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=5 $KVBENCH "${tiny[@]}" 2>&1 | waits)" = "OpenMP waits default, spin 5"
finish
