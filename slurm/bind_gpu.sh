#!/usr/bin/env bash
# slurm/bind_gpu.sh: run a command seeing only the GPU of this rank's node-local index (Open MPI
# or Slurm local rank), so N ranks on a node with N GPUs use one each. No GPU: runs unchanged.
local_rank=${OMPI_COMM_WORLD_LOCAL_RANK:-${SLURM_LOCALID:-0}}
if [ -z "${CUDA_VISIBLE_DEVICES:-}" ] && command -v nvidia-smi >/dev/null 2>&1; then
    export CUDA_VISIBLE_DEVICES=$local_rank
fi
exec "$@"
