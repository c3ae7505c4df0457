"""OpenVINO's CPU plugin swaps the creating thread's alternate signal stack in and out with each ``Core``; graphs
released out of order used to leave the main thread on a freed stack, and the next SIGCHLD with a Python handler
(a DataLoader with workers is enough) killed the process with SIGSEGV -- the whole test suite, once. Run in a child
process, since the failure is a crash."""

import subprocess
import sys

import pytest

from ..conftest import ROOT

pytest.importorskip('openvino')

SCRIPT = r"""
import gc, signal, subprocess, sys
import torch
from mmconvnext.deploy.runtime import BackendGraph

torch.onnx.export(torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), sys.argv[1], dynamo=False)
first = BackendGraph(sys.argv[1], 'openvino', [[1, 4, 6, 6]])
second = BackendGraph(sys.argv[1], 'openvino', [[1, 4, 6, 6]])
assert first(torch.randn(1, 3, 8, 8))[0].shape == (1, 4, 6, 6)
del first  # released in the order they were made: not the reverse
gc.collect()
del second
gc.collect()
signal.signal(signal.SIGCHLD, lambda *_: None)  # what torch's DataLoader installs for its workers
for _ in range(3):
    subprocess.run(['true'])  # each exit sends SIGCHLD, delivered on the alternate stack
print('alive')
"""


def test_released_graphs_leave_a_usable_signal_stack(tmp_path):
    run = subprocess.run(
        [sys.executable, '-X', 'faulthandler', '-c', SCRIPT, str(tmp_path / 'conv.onnx')],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0 and 'alive' in run.stdout, (run.returncode, run.stderr[-2000:])
