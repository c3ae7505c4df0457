"""Importing mmconvnext registers its modules and changes nothing else: in a fresh process, mmcv's NMS and
RoIAlign autograd Functions, mmengine's file-backend tables and torch's ``weights_only`` allow-list are the same
objects before and after ``import mmconvnext`` (and its engine, models, datasets and analysis). The parts that
used to act at import act when a config builds them: the mixed-precision wrappers wrap mmcv's ops, the
checkpoint hook registers its atomic backend, loads pass their allow-list for the load only."""

import json
import subprocess
import sys

from .conftest import ROOT

SNAPSHOT = """
import json, sys, os
import torch
from mmcv.ops.nms import NMSop
from mmcv.ops.roi_align import RoIAlignFunction
from mmengine.fileio import io

def snapshot():
    ops = {f'{cls.__name__}.{name}': id(cls.__dict__.get(name))
           for cls in (NMSop, RoIAlignFunction) for name in ('forward', 'backward')}
    return dict(
        ops=ops,
        backends={k: id(v) for k, v in io.backends.items()},
        prefixes={k: id(v) for k, v in io.prefix_to_backends.items()},
        instances=sorted(io.backend_instances),
        safe_globals=sorted(map(str, torch.serialization.get_safe_globals())),
        umask=open('/proc/self/status').read().split('Umask:')[1].split()[0],
    )

before = snapshot()
import mmconvnext, mmconvnext.engine, mmconvnext.models, mmconvnext.datasets, mmconvnext.analysis
after_import = snapshot()
{extra}
print(json.dumps(dict(before=before, after_import=after_import, after=snapshot())))
"""


def run(extra: str = '') -> dict:
    out = subprocess.run(
        [sys.executable, '-c', SNAPSHOT.replace('{extra}', extra)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_changes_no_other_librarys_state():
    seen = run()
    assert seen['after_import'] == seen['before']


def test_the_parts_act_when_a_config_builds_them():
    extra = (
        'from mmengine.registry import OPTIM_WRAPPERS\n'
        'from mmconvnext.engine import AutocastOptimWrapper, AtomicCheckpointHook, atomic_backend_args\n'
        'AutocastOptimWrapper(optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1))\n'
        'atomic_backend_args()\n'
    )
    seen = run(extra)
    assert seen['after_import'] == seen['before']
    after, before = seen['after'], seen['before']
    assert after['ops']['NMSop.forward'] != before['ops']['NMSop.forward']  # wrapped for autocast
    assert after['ops']['RoIAlignFunction.backward'] != before['ops']['RoIAlignFunction.backward']
    assert set(after['backends']) - set(before['backends']) == {'mmconvnext_atomic_local'}
    assert after['backends']['local'] == before['backends']['local']  # mmengine's own local backend untouched
    # torch adds its own DTensor/dynamo classes when an optimizer is built; mmengine's are never installed
    assert not any('HistoryBuffer' in g or 'history_buffer' in g for g in after['safe_globals'])
    assert after['umask'] == before['umask']
