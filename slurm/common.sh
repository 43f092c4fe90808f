# slurm/common.sh: the body the sbatch scripts share (sourced, not run). Everything comes from
# environment variables, so one script serves every sweep and cluster:
#   KVBENCH_SWEEP     sweep file (required), e.g. sweeps/llama3-8b-head.yaml
#   KVBENCH_OUTPUT    result folder (default: the sweep's `output`)
#   KVBENCH_HOME      project checkout (default: the folder sbatch was called from)
#   KVBENCH           the executable (default: $KVBENCH_HOME/build/kvbench)
#   KVBENCH_LAUNCHER  mpirun (default; Open MPI reads the Slurm allocation) or srun
#   KVBENCH_LAUNCH_ARGS  extra launcher arguments (e.g. "--mpi=pmix" for srun)
#   KVBENCH_BIND_GPU  1 (default): each rank sees one GPU, its node-local rank; 0: leave as is
#   KVBENCH_STATUS_FILE  if set, `run --status-file`: whether the sweep is complete (requeue.sbatch)
# plus what the sweep reads (KVBENCH_MODELS, KVBENCH_DATA, KVBENCH_RESULTS, ...).
# A SIGUSR1/SIGTERM reaching this shell (sbatch --signal=B:USR1@SECS, scancel --signal) is
# forwarded to the launcher, which passes it to every rank: kvbench stops taking items, stores
# or drops the item in flight, reduces what is done and exits 0.

set -u
: "${KVBENCH_HOME:=${SLURM_SUBMIT_DIR:-$PWD}}"
: "${KVBENCH:=$KVBENCH_HOME/build/kvbench}"
: "${KVBENCH_SWEEP:?set KVBENCH_SWEEP to the sweep file (e.g. sweeps/llama3-8b-head.yaml)}"
: "${KVBENCH_LAUNCHER:=mpirun}"
: "${KVBENCH_LAUNCH_ARGS:=}"
: "${KVBENCH_BIND_GPU:=1}"
cd "$KVBENCH_HOME" || exit 1

kvbench_args=(run "$KVBENCH_SWEEP")
[ -n "${KVBENCH_OUTPUT:-}" ] && kvbench_args+=(--output "$KVBENCH_OUTPUT")
[ -n "${KVBENCH_STATUS_FILE:-}" ] && kvbench_args+=(--status-file "$KVBENCH_STATUS_FILE")
wrap=()
[ "$KVBENCH_BIND_GPU" = 1 ] && wrap=(bash "$KVBENCH_HOME/slurm/bind_gpu.sh")

kvbench_got_signal=0
kvbench_pid=
kvbench_forward() {
    kvbench_got_signal=1
    [ -n "$kvbench_pid" ] && kill -USR1 "$kvbench_pid" 2>/dev/null
}

# Launch every rank of the job; returns kvbench's exit status. Sets kvbench_got_signal.
kvbench_launch() {
    echo "kvbench: job ${SLURM_JOB_ID:-?} on ${SLURM_JOB_NUM_NODES:-1} node(s), ${SLURM_NTASKS:-?} ranks," \
         "sweep $KVBENCH_SWEEP, launcher $KVBENCH_LAUNCHER, restart ${SLURM_RESTART_COUNT:-0}"
    trap kvbench_forward USR1 TERM
    case "$KVBENCH_LAUNCHER" in
    srun) srun --kill-on-bad-exit=1 $KVBENCH_LAUNCH_ARGS "${wrap[@]}" "$KVBENCH" "${kvbench_args[@]}" & ;;
    mpirun) mpirun $KVBENCH_LAUNCH_ARGS "${wrap[@]}" "$KVBENCH" "${kvbench_args[@]}" & ;;
    *) echo "kvbench: error: KVBENCH_LAUNCHER must be mpirun or srun, not '$KVBENCH_LAUNCHER'" >&2; return 2 ;;
    esac
    kvbench_pid=$!
    # `wait` returns early when a trapped signal arrives; wait again until the launcher exits.
    local rc
    while :; do
        wait "$kvbench_pid"; rc=$?
        kill -0 "$kvbench_pid" 2>/dev/null || break
    done
    trap - USR1 TERM
    return $rc
}
