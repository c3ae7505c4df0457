#!/usr/bin/env bash
# Training on a slurm cluster, one task per GPU (CPU_ONLY=1: no GPUs requested, gloo processes).
#   [GPUS=16] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] [CPU_ONLY=1] \
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
GRES=()
if [ "$GPUS_PER_NODE" -gt 0 ] 2>/dev/null && [ "${CPU_ONLY:-0}" != 1 ]; then GRES=(--gres="gpu:$GPUS_PER_NODE"); fi
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2086
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
exec srun -p "$PARTITION" --job-name="$JOB_NAME" "${GRES[@]}" \
  --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 $SRUN_ARGS \
  python -u "$here/train.py" "$CONFIG" --launcher slurm "$@"
