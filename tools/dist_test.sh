#!/usr/bin/env bash
# Multi-process / multi-node evaluation through torchrun.
#   tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS_PER_NODE [test.py options]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/torchrun.sh" "$NPROC" "$here/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
