#!/usr/bin/env bash
# What dist_train.sh and dist_test.sh share: torchrun with the multi-node variables.
#   tools/torchrun.sh NUM_PROCS_PER_NODE SCRIPT [script args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
set -euo pipefail
NPROC=$1
SCRIPT=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
exec python -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --nproc_per_node="$NPROC" --master_port="${PORT:-29500}" \
  "$SCRIPT" "$@"
