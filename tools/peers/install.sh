#!/usr/bin/env bash
# Installs the peers (timm, mmpretrain; requirements-peers.txt) into a folder of their own, .peers by default,
# for the parity tests and the benchmarks; says what it did. torchvision cannot load against the CPU build of
# torch, and both peers import it, so tools/peers/stub stands in for it when they are imported:
#
#   bash tools/peers/install.sh [TARGET] [PYTHON]     # `make peers`
#   PYTHONPATH=.peers:tools/peers/stub python tools/analysis/benchmark.py
#
# Idempotent: a TARGET that already imports the pinned versions is left as it is.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:-$root/.peers}
python=${2:-python}
stub=$root/tools/peers/stub
check() {
  PYTHONPATH="$target:$stub" "$python" - <<'PY'
import timm
from mmpretrain.models.backbones.convnext import ConvNeXt  # noqa: F401
import mmpretrain
print(f'timm {timm.__version__}, mmpretrain {mmpretrain.__version__}')
PY
}
want=$(grep -E '^(timm|mmpretrain)==' "$root/requirements-peers.txt" | sort | tr '\n' ' ')
if have=$(check 2>/dev/null) && [ -f "$target/.requirements" ] && cmp -s "$target/.requirements" "$root/requirements-peers.txt"; then
  echo "[peers] already in $target: $have"
  exit 0
fi
echo "[peers] installing ${want}(requirements-peers.txt) into $target"
rm -rf "$target"
mkdir -p "$target"
"$python" -m pip install -q --disable-pip-version-check --no-deps --target "$target" -r "$root/requirements-peers.txt"
have=$(check)
cp "$root/requirements-peers.txt" "$target/.requirements"
echo "[peers] ready in $target: $have (import them with PYTHONPATH=$target:$stub)"
