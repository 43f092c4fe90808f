# lib.sh: helpers for shell tests (tests/t_*.sh). Each `check` counts one case; `finish` prints
# "name: N passed, N failed" and sets the exit status.
T_PASSED=0; T_FAILED=0
KVBENCH=${KVBENCH:-build/kvbench}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
# KVBENCH_TIMEOUT_SCALE: a whole-number factor on the tests' time limits and polling waits, for
# slower builds (the ASan tier of tests/ci_robustness.sh sets it); what is checked stays the same.
TIMEOUT_SCALE=${KVBENCH_TIMEOUT_SCALE:-1}
scaled() { echo $(($1 * TIMEOUT_SCALE)); }
check() { # check "description" command...
    local what=$1; shift
    if "$@"; then T_PASSED=$((T_PASSED + 1)); else T_FAILED=$((T_FAILED + 1)); echo "FAIL: $what" >&2; fi
}
# expect_fail "description" "regex the one error line must match" command...
expect_fail() {
    local what=$1 re=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qE -- "$re" <<<"$err"; then
        T_PASSED=$((T_PASSED + 1))
    else
        T_FAILED=$((T_FAILED + 1)); echo "FAIL: $what (exit $rc): $err" >&2
    fi
}
finish() { echo "$(basename "$0"): $T_PASSED passed, $T_FAILED failed"; [ $T_FAILED -eq 0 ]; }
# six_method_sweep FILE NAME: the demo data, budgets 128 and 256, the six methods of DESIGN §4 on
# the demo model, written to FILE (t_run_fake, t_mpi_run).
six_method_sweep() {
    cat >"$1" <<YAML
name: $2
data: data/demo
budgets: [128, 256]
methods: [fullkv, snapkv, pyramidkv, h2o, streamingllm, circuitkv]
models:
  - name: m1
    path: $MODEL
YAML
}
# strip_mem: generate --json without weight_bytes and scratch_peak_bytes, which under tensor
# parallelism are rank 0's own share (what TP and single-rank outputs are compared without)
strip_mem() { sed -E 's/,"weight_bytes":[0-9]+,"scratch_peak_bytes":[0-9]+//'; }
