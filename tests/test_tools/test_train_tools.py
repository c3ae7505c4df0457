"""tools/train.py and tools/dist_train.sh end to end on a throwaway config: 2 CPU
processes (gloo DDP through mmengine), then --resume in one process."""

import sys
import textwrap

import mmconvnext  # noqa: F401  (its import allow-lists mmengine checkpoint state for torch.load)

from ..conftest import ROOT, load_checkpoint_file, run_tool, tool_env

TOY_MODULE = """
import torch

import mmconvnext  # noqa: F401  (its import allow-lists mmengine checkpoint state for torch.load)
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS
from torch.utils.data import Dataset

from mmconvnext import ConvNeXt


@MODELS.register_module()
class ToyClassifier(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ConvNeXt({'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]})
        self.head = torch.nn.Linear(64, 3)

    def forward(self, inputs, label, mode='tensor'):
        out = self.head(self.backbone(inputs)[0])
        return {'loss': F.cross_entropy(out, label)} if mode == 'loss' else out


@DATASETS.register_module()
class ToyData(Dataset):
    def __len__(self):
        return 32

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {'inputs': torch.randn(3, 32, 32, generator=g), 'label': i % 3}
"""

CONFIG = """
custom_imports = dict(imports=['toy_module', 'mmconvnext'], allow_failed_imports=False)
default_scope = 'mmengine'
model = dict(type='ToyClassifier')
train_dataloader = dict(dataset=dict(type='ToyData'), batch_size=4, num_workers=0,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        collate_fn=dict(type='default_collate'))
train_cfg = dict(by_epoch=False, max_iters=6)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                     constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
                     paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6))
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False))
auto_scale_lr = dict(base_batch_size=8)
"""


def test_dist_train_two_cpu_processes_then_resume(tmp_path):
    (tmp_path / 'toy_module.py').write_text(textwrap.dedent(TOY_MODULE))
    config = tmp_path / 'toy_config.py'
    config.write_text(CONFIG)
    work_dir = tmp_path / 'work'
    env = tool_env(PYTHONPATH=str(tmp_path))
    log = run_tool(
        [
            'bash',
            str(ROOT / 'tools/dist_train.sh'),
            str(config),
            '2',
            '--work-dir',
            str(work_dir),
            '--auto-scale-lr',
            '--cfg-options',
            'train_cfg.max_iters=3',
        ],
        env,
    )
    assert 'Distributed training: True' in log
    assert 'current batch size is 8' in log  # 2 processes x 4 images
    assert (work_dir / 'iter_3.pth').exists()

    log = run_tool(
        [sys.executable, str(ROOT / 'tools/train.py'), str(config), '--work-dir', str(work_dir), '--resume'], env
    )
    assert 'resumed epoch: 0, iter: 3' in log
    ckpt = load_checkpoint_file(work_dir / 'iter_6.pth')  # weights_only, allow-listed for the load
    assert ckpt['meta']['iter'] == 6
