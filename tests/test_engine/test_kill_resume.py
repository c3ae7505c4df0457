"""The real thing: tools/train.py (1 process) and tools/dist_train.sh (2 gloo processes) on the real UperNet-T
config, shrunk only in size and iterations, its randomness on (drop path 0.4, decode-head dropout, random
resize/crop/flip, photometric distortion), killed with SIGKILL at a random moment after its first checkpoint
and resumed with --resume: the final weights equal the uninterrupted run's bit for bit. Also with the CPU
kernels chosen by the run on this machine and the resumed process given an empty kernel cache."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import mmconvnext  # noqa: F401  (allow-lists mmengine checkpoint state for torch.load)
from mmconvnext.datasets import make_shapes_dataset

from ..conftest import ROOT, load_checkpoint_file, run_tool, tool_env
from ..derived_configs import seg_tiny

#: 24 iterations, validated every 8, a checkpoint every 4 (the last two kept); one seed for both runs (without
#: one, each run draws its own)
SCHEDULE = """train_cfg = dict(max_iters=24, val_interval=8)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=4, max_keep_ckpts=2))
randomness = dict(seed=0)
"""


def derived(base: str, workers: int) -> str:
    return seg_tiny(
        base, depths=(1, 1, 2, 1), test_cfg="dict(mode='whole')", train_batch=2, workers=workers, schedule=SCHEDULE
    )


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_shapes_dataset(str(tmp_path_factory.mktemp('data')), num_train=6, num_val=2, size=48)


def launch(procs, config, work, data_root, env, *extra):
    train = ['tools/train.py'] if procs == 1 else ['tools/dist_train.sh']
    cmd = [sys.executable, *train] if procs == 1 else ['bash', *train]
    cmd += [config] + ([] if procs == 1 else [str(procs)])
    return cmd + ['--work-dir', str(work), '--data-root', data_root, *extra]


def kill_after_first_checkpoint(cmd, work, env, rng):
    """Start ``cmd`` in its own process group, SIGKILL the group at a random moment after the first
    checkpoint is on record; return how far the killed run got."""
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 300
    while not (work / 'last_checkpoint').exists():
        assert proc.poll() is None, 'the run ended before its first checkpoint'
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 2.0))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return (work / 'last_checkpoint').read_text().strip()


def cpu_env(path: str, cache) -> dict:
    """The tools' environment with the CPU kernels forced (``path='onednn'``, as in the rest of the suite) or
    chosen by the run (``'auto'``), measured into the cache directory ``cache``."""
    if path != 'auto':
        return tool_env(MMCONVNEXT_CPU_PATH=path)
    env = tool_env(MMCONVNEXT_CACHE_DIR=str(cache))
    env.pop('MMCONVNEXT_CPU_PATH', None)
    return env


@pytest.mark.parametrize(
    'procs,workers,path',
    [(1, 2, 'onednn'), (2, 0, 'onednn'), (1, 0, 'auto')],
    ids=['1proc-2workers', '2procs-0workers', '1proc-chosen-kernels-empty-cache'],
)
def test_killed_run_resumes_to_the_same_weights(data_root, tmp_path, procs, workers, path):
    """With ``path='auto'`` the run chooses its kernels at its start; the uninterrupted and the killed run
    share a cache (so they choose alike), the resumed run gets an empty one, as on a fresh machine of the
    same kind: it follows the checkpoint's record and measures no training kernel."""
    config = tmp_path / 'upernet_derived.py'
    base = ROOT / 'configs' / 'upernet_convnext_tiny_ade20k.py'
    config.write_text(derived(str(base), workers))
    env = cpu_env(path, tmp_path / 'cache')
    run_tool(launch(procs, str(config), tmp_path / 'straight', data_root, env), env, timeout=600)
    expected = load_checkpoint_file(tmp_path / 'straight' / 'iter_24.pth')['state_dict']

    killed = tmp_path / 'killed'
    cmd = launch(procs, str(config), killed, data_root, env)
    at = kill_after_first_checkpoint(cmd, killed, env, random.Random(procs))
    assert not (killed / 'iter_24.pth').exists(), f'the kill came after the end (last: {at})'
    empty = tmp_path / 'empty-cache'
    log = run_tool(cmd + ['--resume'], cpu_env(path, empty), timeout=600)
    assert 'resumed epoch: 0, iter:' in log
    if path == 'auto':
        assert 'recorded in the loaded checkpoint' in log
        chosen = load_checkpoint_file(killed / 'iter_24.pth')['meta']['compute_paths']['choices']
        assert any(k.startswith('train:') for k in chosen)
        measured = [json.load(open(f))['choices'] for f in empty.glob('compute_paths-*.json')]
        assert not any(k.startswith('train:') for c in measured for k in c)  # no training kernel measured
    got = load_checkpoint_file(killed / 'iter_24.pth')['state_dict']
    assert expected.keys() == got.keys()
    assert [k for k in expected if not torch.equal(expected[k], got[k])] == []
