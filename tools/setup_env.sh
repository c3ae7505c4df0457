#!/usr/bin/env bash
# Creates (once) the project's virtual environment and installs the pinned stack in the
# order the stack needs: torch, mmcv's build tools, mmcv compiled with ops against that
# torch, then the rest, then mmconvnext itself (editable). Idempotent: a second run with
# unchanged requirements returns at once.
#
#   bash tools/setup_env.sh            # -> .venv (override with MMCONVNEXT_VENV=/path)
#
# GPU users: install your CUDA build of torch and a matching mmcv 2.1.0 build first
# (see README "Install on a GPU machine"), then `pip install -r requirements.txt -e .`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${MMCONVNEXT_VENV:-$root/.venv}
py="$venv/bin/python"
stamp="$venv/.mmconvnext-stamp"
want=$(cat requirements.txt requirements-dev.txt requirements-deploy.txt requirements-nodeps.txt setup.py mmconvnext/csrc/*.cpp mmconvnext/csrc/*.h | sha256sum | cut -d' ' -f1)
if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x "$py" ] || python3 -m venv "$venv"
pip_() { "$py" -m pip install -q --disable-pip-version-check "$@"; }
echo "[setup_env] torch (CPU wheel unless one is already installed)"
"$py" -c 'import torch' 2>/dev/null || pip_ "torch==2.13.0"
echo "[setup_env] build tools for mmcv"
# mmcv's setup.py imports pkg_resources, which setuptools >= 81 no longer ships.
pip_ "setuptools==80.9.0" wheel ninja numpy
echo "[setup_env] mmcv 2.1.0 with ops (compiled once, ~8 min on 2 cores; pip caches the wheel)"
"$py" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null || \
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} pip_ --no-build-isolation "mmcv==2.1.0"
echo "[setup_env] the rest of the stack, the test tools and the deployment extra (onnx, onnxruntime, openvino)"
pip_ -r requirements.txt -r requirements-dev.txt -r requirements-deploy.txt "setuptools==80.9.0"
echo "[setup_env] packages whose declared pins this stack overrides (requirements-nodeps.txt)"
pip_ --no-deps -r requirements-nodeps.txt
echo "[setup_env] mmconvnext (editable; compiles its depthwise-conv kernels, about 35 s on 2 cores)"
pip_ --no-build-isolation --no-deps -e .
"$py" -c 'import mmconvnext, mmcv.ops, mmdet, mmseg; print("[setup_env] ready:", mmconvnext.__version__)'
echo "$want" > "$stamp"
