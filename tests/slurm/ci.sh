#!/usr/bin/env bash
# tests/slurm/ci.sh: the Slurm tier (not part of `make test`; .ci/run runs it when CI=true or
# KVBENCH_SLURM_TESTS=1). As root it installs Debian's slurm-wlm and munge, writes a single-node
# slurm.conf for this host (CPU only, no cgroups), starts munged, slurmctld and slurmd, then:
#   1. sbatch slurm/single_node.sbatch with 2 CPU ranks on a fake-engine sweep; checks the tables;
#   2. sbatch slurm/requeue.sbatch with slow items; sends the time-limit signal with
#      `scancel --batch --signal=USR1` (what --signal=B:USR1@SECS delivers), checks the job
#      stopped early, requeued itself and finished the sweep on the restart with tables
#      identical to an uninterrupted run.
# If a daemon cannot start here, it prints why (the daemon's log) and fails.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
T=$PWD/tests/tmp/slurm
KVBENCH=$PWD/${KVBENCH:-build/kvbench}
[ "$(id -u)" -eq 0 ] || { echo "ci.sh: must run as root (starts slurmctld/slurmd)"; exit 1; }
if ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
rm -rf "$T"; mkdir -p "$T/spool/ctld" "$T/spool/d" "$T/log"
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 512 ))
cat > "$T/slurm.conf" <<CONF
ClusterName=kvbenchci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$T/spool/ctld
SlurmdSpoolDir=$T/spool/d
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobRequeue=1
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$T/slurm.conf
mkdir -p /run/munge /var/log/munge /var/lib/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null; chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
cleanup() {
    [ -s "$T/slurmd.pid" ] && kill "$(cat "$T/slurmd.pid")" 2>/dev/null
    [ -s "$T/slurmctld.pid" ] && kill "$(cat "$T/slurmctld.pid")" 2>/dev/null
}
trap cleanup EXIT
slurmctld -i 2>"$T/log/slurmctld.err"
slurmd 2>"$T/log/slurmd.err"
up=0
for _ in $(seq 1 60); do
    sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && { up=1; break; }
    sleep 1
done
if [ $up -ne 1 ]; then
    echo "ci.sh: the single-node Slurm did not come up; why:"
    sinfo 2>&1 | head -5
    tail -n 20 "$T"/log/*.log "$T"/log/*.err 2>/dev/null
    check "slurmctld and slurmd run here" false
    finish; exit
fi
check "slurm node up" true

cat > "$T/s.yaml" <<YAML
name: slurmci
data: data/demo
tasks: [trec, lcc, qasper, samsum]
budgets: [128, 256]
methods: [fullkv, snapkv, pyramidkv, h2o, streamingllm, circuitkv]
models:
  - {name: m1, path: models/SmolLM2-135M-Instruct.Q4_1.gguf}
engine: {fake: true}
YAML
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 KVBENCH_HOME=$PWD KVBENCH KVBENCH_BIND_GPU=0
export KVBENCH_SWEEP=$T/s.yaml KVBENCH_LAUNCH_ARGS="--oversubscribe"
"$KVBENCH" run "$T/s.yaml" --output "$T/ref" --quiet

wait_job() { # wait_job ID SECONDS: until the job has left the queue
    for _ in $(seq 1 "$2"); do squeue -h -j "$1" 2>/dev/null | grep -q . || return 0; sleep 1; done
    return 1
}
# 1. single node, 2 CPU ranks.
id=$(KVBENCH_OUTPUT=$T/single sbatch --parsable --ntasks-per-node=2 --gres=none --cpus-per-task=1 --time=10 \
     --output="$T/single-%j.out" slurm/single_node.sbatch)
check "single_node.sbatch submitted" test -n "$id"
check "single node job finished" wait_job "$id" 120
check "single node: tables identical to a direct run" cmp -s "$T/ref/tables.md" "$T/single/tables.md"
check "single node: 2 ranks took part" test "$(ls "$T/single/logs" | wc -l)" -eq 2

# 2. time-limit signal, requeue, resume.
id=$(KVBENCH_OUTPUT=$T/requeue KVBENCH_FAKE_MS_PER_KTOK=1500 sbatch --parsable --ntasks-per-node=2 --gres=none \
     --cpus-per-task=1 --time=10 --output="$T/requeue-%j.out" slurm/requeue.sbatch)
check "requeue.sbatch submitted" test -n "$id"
for _ in $(seq 1 120); do [ "$(find "$T/requeue/items" -name '*.h5' 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.5; done
scancel --batch --signal=USR1 "$id"
restarted=0
for _ in $(seq 1 300); do
    grep -q "restart 1" "$T/requeue-$id.out" 2>/dev/null && { restarted=1; break; }
    sleep 1
done
check "job requeued itself after the signal" test $restarted -eq 1
check "first run stopped early and reduced" grep -q "stopped by signal" "$T/requeue-$id.out"
check "requeued job finished" wait_job "$id" 300
check "after requeue: tables identical to an uninterrupted run" cmp -s "$T/ref/tables.md" "$T/requeue/tables.md"
finish
