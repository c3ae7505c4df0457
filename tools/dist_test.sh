#!/usr/bin/env bash
# Multi-process / multi-node evaluation through torchrun.
#   tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS_PER_NODE [test.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
exec python -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$NPROC" --master_port="$PORT" \
  "$here/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
