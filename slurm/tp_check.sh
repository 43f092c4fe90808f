# slurm/tp_check.sh: sourced by the multi-node scripts before launching. A tensor-parallel group is
# tensor_parallel consecutive ranks and must sit on one node (its all-reduces run twice per layer
# over NVLink, not the network), so the ranks per node must be a multiple of T. This checks that
# from the sweep file and the allocation and says how the job splits, before any GPU time is
# spent (kvbench checks it again when its ranks start).
#   kvbench_check_tp SWEEP   -> status 0 and one line of plan, or status 2 and one error line

# tensor_parallel of the sweep (one value per sweep; 1 when absent).
kvbench_sweep_tp() {
    local t
    t=$(sed -n 's/^[[:space:]]*tensor_parallel:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1)
    echo "${t:-1}"
}

kvbench_check_tp() {
    local sweep=$1 tp per_node nodes
    [ -r "$sweep" ] || { echo "kvbench: error: sweep file $sweep is not readable" >&2; return 2; }
    tp=$(kvbench_sweep_tp "$sweep")
    nodes=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}
    # SLURM_NTASKS_PER_NODE is set with --ntasks-per-node; otherwise the first count of
    # SLURM_TASKS_PER_NODE ("8(x2)" or "8,6").
    per_node=${SLURM_NTASKS_PER_NODE:-${SLURM_TASKS_PER_NODE:-}}
    per_node=${per_node%%[(,]*}
    if [ -z "$per_node" ]; then
        echo "kvbench: tensor_parallel $tp; ranks per node unknown (not under Slurm): kvbench checks the groups at start"
        return 0
    fi
    if [ "$tp" -gt 1 ] && [ $((per_node % tp)) -ne 0 ]; then
        echo "kvbench: error: tensor_parallel $tp ($sweep) does not divide the $per_node ranks per node:" \
             "a group would span two nodes; use --ntasks-per-node a multiple of $tp" >&2
        return 2
    fi
    case "${SLURM_TASKS_PER_NODE:-}" in
    *,*) echo "kvbench: error: uneven ranks per node (SLURM_TASKS_PER_NODE=$SLURM_TASKS_PER_NODE): use --ntasks-per-node" >&2
         return 2 ;;
    esac
    echo "kvbench: tensor_parallel $tp: $nodes node(s) x $per_node ranks = $((nodes * per_node / tp)) group(s)" \
         "of $tp consecutive ranks, $((per_node / tp)) per node, none spanning nodes"
}
