#!/usr/bin/env bash
# Multi-process / multi-node training through torchrun and mmengine's DDP.
#   tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE [train.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
# Without a GPU the processes use the gloo backend (CPU DDP).
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/torchrun.sh" "$NPROC" "$here/train.py" "$CONFIG" --launcher pytorch "$@"
