#!/usr/bin/env bash
# Multi-process / multi-node training through torchrun and mmengine's DDP.
#   tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE [train.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
# Without a GPU the processes use the gloo backend (CPU DDP).
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
exec python -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$NPROC" --master_port="$PORT" \
  "$here/train.py" "$CONFIG" --launcher pytorch "$@"
