"""Shared fixtures: small archs and inputs keep the suite fast on a 2-core CPU."""

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: pytest-xdist runs as many workers as cores (``make test``): each one thread, so they do not oversubscribe
XDIST = 'PYTEST_XDIST_WORKER' in os.environ
torch.set_num_threads(1 if XDIST else max(1, min(2, os.cpu_count() or 1)))

# The backbone's automatic CPU path choice (mmconvnext.models.layers.path_select) times
# kernels before a run: the suite forces the oneDNN path instead, so results do not
# depend on a measurement; the tests that use `auto_cpu_path` test the choice itself.
# Subprocesses (the tools) inherit both variables; the cache stays out of the user's.
os.environ.setdefault('MMCONVNEXT_CPU_PATH', 'onednn')
os.environ.setdefault(
    'MMCONVNEXT_CACHE_DIR', os.path.join(tempfile.gettempdir(), f'mmconvnext-test-cache-{os.getpid()}')
)

#: a 4-stage ConvNeXt small enough for gradient checks in milliseconds
TINY_ARCH = {'depths': [1, 1, 3, 1], 'channels': [8, 16, 32, 64]}


@pytest.fixture
def tiny_arch() -> dict:
    return {k: list(v) for k, v in TINY_ARCH.items()}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def auto_cpu_path(tmp_path, monkeypatch):
    """The CPU path left to the machine (the suite forces oneDNN elsewhere), with a cache of the test's own and
    no choice carried in from another test."""
    from mmconvnext.models.layers import path_select

    monkeypatch.delenv(path_select.ENV_PATH, raising=False)
    monkeypatch.setenv(path_select.ENV_CACHE, str(tmp_path / 'cache'))
    path_select.reset()
    yield
    path_select.reset()


def fake_timings(monkeypatch, onednn_wins: bool, kernel_wins: bool = False) -> list:
    """The path choice's measurements replaced by fixed times (the winners: oneDNN or the plain ops for the
    pointwise layers, the compiled kernels or aten for the three depthwise passes); returns the list the measured
    pointwise ``(kind, rows, channels, hidden)`` are appended to (depthwise ones as ``('dw', n, h, w, c, k, d)``
    to its ``dw`` attribute)."""
    from mmconvnext.models.layers import path_select

    class Calls(list):
        dw: list

    calls = Calls()
    calls.dw = []

    def measure(kind, rows, channels, hidden):
        calls.append((kind, rows, channels, hidden))
        return (2.0, 1.0) if onednn_wins else (1.0, 2.0)

    def measure_dw(n, h, w, channels, k, d):
        calls.dw.append(('dw', n, h, w, channels, k, d))
        return {'forward': kernel_wins, 'input': kernel_wins, 'weight': kernel_wins, 'ms': {}}

    monkeypatch.setattr(path_select, '_measure', measure)
    monkeypatch.setattr(path_select, '_measure_dw', measure_dw)
    return calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def tool_env(**extra: str) -> dict:
    """Environment for running the tools in a subprocess: this venv's python first on
    PATH (torchrun, srun stubs), one thread per process, a free port for torchrun."""
    path = os.pathsep.join([os.path.dirname(sys.executable), extra.pop('PATH', ''), os.environ.get('PATH', '')])
    env = {**os.environ, 'OMP_NUM_THREADS': '1', **extra, 'PATH': path, 'PORT': str(free_port())}
    if XDIST:
        env['OMP_NUM_THREADS'] = '1'
    return env


def run_tool(args: list, env: dict, timeout: int = 300) -> str:
    """Run a tool from the repository root; assert success; return stdout + stderr."""
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    return log


def run_tool_failing(args: list, env: dict, timeout: int = 300) -> str:
    """Run a tool that must fail; return its stderr."""
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert run.returncode != 0, (run.stdout + run.stderr)[-4000:]
    return run.stderr


def load_checkpoint_file(path, **kwargs):
    """``torch.load`` of a runner checkpoint with mmengine's objects allow-listed for this load only, as the
    project's runner and checkpoint reader load them (``mmconvnext.serialization.safe_loading``)."""
    from mmconvnext.serialization import safe_loading

    with safe_loading():
        return torch.load(path, **{'map_location': 'cpu', 'weights_only': True, **kwargs})
