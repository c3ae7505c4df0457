"""docs/custom_data.md, run: every command of its bash blocks, in order, from a scratch directory.

The commands run as written (the tools from this checkout, ``data/`` and ``work_dirs/`` inside the scratch
directory), except that ``configs/NAME.py`` there is the real config shrunk by a derived config of the same
name (a tiny backbone, small images, one epoch / two iterations), and the checkpoint names of the full
schedules become those of the short ones. Then what the guide promises is checked: the dumped configs'
heads follow the classes, the tests print per-class tables under the user's class names, the exports
carry them, and ``--show`` drew its samples.
"""

import json
import re
import shlex
import subprocess
import sys

import pytest
from mmengine.config import Config

from .conftest import ROOT, tool_env
from .derived_configs import det_tiny, seg_tiny

pytest.importorskip('skimage', reason='the guide builds its example data with scikit-image (requirements-dev.txt)')

ARCH = 'arch=dict(_delete_=True, depths=[1, 1, 1, 1], channels=[8, 16, 32, 64])'
LOADER = 'loader = dict(num_workers=0, persistent_workers=False)\n'
DERIVED = {
    'convnext_tiny_in1k.py': f"""
_base_ = '{ROOT}/configs/convnext_tiny_in1k.py'
model = dict(backbone=dict({ARCH}, drop_path_rate=0.0))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmconvnext.RandomResizedCrop', scale=48, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmconvnext.PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(100000, 55), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=48),
    dict(type='mmconvnext.PackClsInputs'),
]
{LOADER}loader.update(pin_memory=False)
train_dataloader = dict(loader, batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(loader, batch_size=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
""",
    'upernet_convnext_tiny_ade20k.py': seg_tiny(
        f'{ROOT}/configs/upernet_convnext_tiny_ade20k.py', photometric=False, cat_max_ratio=False, train_batch=2
    ),
    'mask_rcnn_convnext_tiny_coco_1x.py': det_tiny(f'{ROOT}/configs/mask_rcnn_convnext_tiny_coco_1x.py'),
}
#: the full schedules' last checkpoints, as the guide names them -> the short runs'
SHORT = {'epoch_300.pth': 'epoch_1.pth', 'iter_160000.pth': 'iter_2.pth', 'epoch_12.pth': 'epoch_1.pth'}


def guide_commands() -> list[str]:
    text = (ROOT / 'docs' / 'custom_data.md').read_text()
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, flags=re.S):
        commands += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith('#')]
    return commands


def _adapt(command: str) -> list[str]:
    args = shlex.split(command)
    assert args[0] == 'python', command
    args[0] = sys.executable
    if args[1].startswith('tools/'):
        args[1] = str(ROOT / args[1])
    for i in range(len(args)):
        for full, short in SHORT.items():
            args[i] = args[i].replace(full, short)
    return args


@pytest.fixture(scope='module')
def guide(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('guide')
    (tmp / 'configs').mkdir()
    for name, text in DERIVED.items():
        (tmp / 'configs' / name).write_text(text)
    logs = {}
    for command in guide_commands():
        run = subprocess.run(_adapt(command), cwd=tmp, env=tool_env(), capture_output=True, text=True, timeout=600)
        log = run.stdout + run.stderr
        assert run.returncode == 0, f'{command}\n{log[-4000:]}'
        logs[command] = log
    return tmp, logs


def _log(logs: dict, *words: str) -> str:
    found = [log for command, log in logs.items() if all(w in command for w in words)]
    assert len(found) == 1, (words, list(logs))
    return found[0]


def test_the_guide_runs_every_task(guide):
    tmp, logs = guide
    assert len(logs) == 15  # 3 example datasets + 3 walkthroughs x 4 commands
    tasks = {
        'convnext_tiny_in1k': (('kitten', 'mug', 'portrait'), 'photos', ['num_classes']),
        'upernet_convnext_tiny_ade20k': (
            ('shadow', 'midtone', 'highlight'),
            'scenes',
            ['decode_head.num_classes', 'auxiliary_head.num_classes'],
        ),
        'mask_rcnn_convnext_tiny_coco_1x': (
            ('coin', 'glare'),
            'objects',
            ['roi_head.bbox_head.num_classes', 'roi_head.mask_head.num_classes'],
        ),
    }
    for name, (classes, data, heads) in tasks.items():
        dumped = Config.fromfile(tmp / 'work_dirs' / name / f'{name}.py')
        for head in heads:  # the dumped config: every head follows the data's classes
            node = dumped.model
            for part in head.split('.'):
                node = node[part]
            assert node == len(classes), (name, head, node)
        assert tuple(dumped.val_dataloader.dataset.metainfo.classes) == classes
        test_log = _log(logs, 'tools/test.py', name)
        for c in classes:  # the per-class table of the metric, under the user's names
            assert re.search(rf'\|\s*{c}\s*\|', test_log), (name, c, test_log[-3000:])
        deploy = json.loads((tmp / 'work_dirs' / f'{data}_onnx' / 'deploy.json').read_text())
        assert tuple(deploy['classes']) == classes
    assert 'coco/bbox_mAP' in _log(logs, 'tools/test.py', 'mask_rcnn') and 'mIoU' in _log(
        logs, 'tools/test.py', 'upernet'
    )
    # the classifier's checkpoint started the UperNet backbone (one set of weights for all tasks)
    loaded = r'Loaded (\d+)/(\d+) backbone tensors from work_dirs/convnext_tiny_in1k/epoch_1.pth'
    found = re.search(loaded, _log(logs, 'tools/train.py', 'upernet'))
    assert found and int(found[1]) >= int(found[2]) - 6, found  # all but the dense heads' extra output norms
    check = _log(logs, 'dataset_check.py', 'convnext_tiny_in1k')
    assert 'OK (0 error(s)' in check and len(list((tmp / 'work_dirs' / 'check_photos').glob('*.png'))) == 4
