"""tools/analysis/tune_cpu.py: the kernels a config's model runs on this machine, chosen and printed before a
run, and written as a record the run follows (ComputePathHook(use=FILE))."""

import json

import pytest
import torch

from mmconvnext.models.layers import depthwise_kernel, onednn, path_select

from ..conftest import run_tool, tool_env

pytestmark = pytest.mark.skipif(not onednn.available(torch.zeros(1)), reason='no oneDNN in this torch build')

CONFIG = 'configs/upernet_convnext_tiny_ade20k.py'


def test_the_tool_prints_and_records_the_choice(tmp_path):
    env = tool_env(MMCONVNEXT_CACHE_DIR=str(tmp_path / 'cache'), OMP_NUM_THREADS='1')
    env.pop('MMCONVNEXT_CPU_PATH', None)
    out = tmp_path / 'paths.json'
    cmd = ['python', 'tools/analysis/tune_cpu.py', CONFIG, '--batch', '2', '--shape', '64', '--out', str(out)]
    log = run_tool(cmd, env)
    # ConvNeXt-T at 64x64, batch 2: stage rows 512, 128, 32, 8; both kinds
    keys = [
        f'{kind}:rows={r}:c={c}:h={4 * c}'
        for kind in ('infer', 'train')
        for r, c in zip((512, 128, 32, 8), (96, 192, 384, 768))
    ]
    # and, where the compiled kernels are built, each stage's depthwise gradients (the 2x2 map's kernel cropped
    # to the 3x3 that reaches it)
    dw = [f'dw:h={m}:w={m}:c={c}:k={k}:d=1' for m, c, k in zip((16, 8, 4, 2), (96, 192, 384, 768), (7, 7, 7, 3))]
    keys += dw if depthwise_kernel.built() else []
    for key in keys:
        assert key in log
    assert log.count('measured') == len(keys)
    rec = json.loads(out.read_text())
    assert sorted(rec['choices']) == sorted(keys) and rec['machine']['threads'] == 1
    again = run_tool(cmd, env)  # the machine's cache answers: nothing measured
    assert again.count('cached') == len(keys) and 'measured' not in again.split('shape')[-1]
    path_select.reset()
    try:
        assert path_select.use_record(rec, origin=str(out), check_machine=False)
    finally:
        path_select.reset()


def test_a_forced_path_has_nothing_to_choose(tmp_path):
    env = tool_env(MMCONVNEXT_CPU_PATH='plain', MMCONVNEXT_CACHE_DIR=str(tmp_path / 'cache'))
    log = run_tool(['python', 'tools/analysis/tune_cpu.py', CONFIG, '--shape', '32'], env)
    assert 'MMCONVNEXT_CPU_PATH=plain forces' in log and 'no backbone leaves' in log
    env.pop('MMCONVNEXT_CPU_PATH')  # a config that forces its backbone's path (the demo's: the plain ops)
    log = run_tool(['python', 'tools/analysis/tune_cpu.py', 'configs/upernet_convnext_atto_shapes_demo.py'], env)
    assert 'no backbone leaves' in log
    assert not (tmp_path / 'cache').exists()
