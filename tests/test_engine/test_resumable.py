"""Resume is bit-identical: a run stopped at a checkpoint and resumed in a fresh runner ends with the weights
of the uninterrupted run, with randomness everywhere (drop path, dropout, augmentations drawing from torch,
numpy and python in the loading process), iteration- and epoch-based, with 0 and 2 dataloader workers."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmconvnext.engine import ResumableRunner
from mmconvnext.models import ConvNeXt

from ..conftest import TINY_ARCH


class NoisyClassifier(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, drop_path_rate=0.3)
        self.drop = torch.nn.Dropout(0.3)
        self.head = torch.nn.Linear(64, 3)

    def forward(self, inputs, label, mode='tensor'):
        logits = self.head(self.drop(self.backbone(inputs)[0]))
        if mode == 'loss':
            return {'loss': F.cross_entropy(logits, label)}
        return logits


class AugmentedData(Dataset):
    """Every item drawn with python's, numpy's and torch's global generators, as mmcv/mmseg/mmdet
    transforms do."""

    test_mode = False

    def __init__(self, n=24):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, 32, 32, generator=g)
        self.y = torch.randint(0, 3, (n,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        if random.random() < 0.5:
            x = x.flip(-1)
        x = x * float(np.random.uniform(0.8, 1.2)) + 0.1 * torch.randn(x.shape)
        return {'inputs': x, 'label': self.y[i]}


def make_runner(runner_cls, work_dir, by_epoch, workers, stop, resume=False, interval=3, keep=-1):
    torch.manual_seed(0)
    if by_epoch:
        train_cfg = dict(by_epoch=True, max_epochs=stop)
        sampler = dict(type='DefaultSampler', shuffle=True)
        checkpoint = dict(type='CheckpointHook', interval=1)
    else:
        train_cfg = dict(by_epoch=False, max_iters=stop)
        sampler = dict(type='InfiniteSampler', shuffle=True)
        checkpoint = dict(type='CheckpointHook', interval=interval, by_epoch=False, max_keep_ckpts=keep)
    return runner_cls(
        model=NoisyClassifier(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=AugmentedData(),
            batch_size=4,
            num_workers=workers,
            persistent_workers=workers > 0,
            sampler=sampler,
            collate_fn=dict(type='default_collate'),
        ),
        train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine',
        experiment_name=f'{work_dir.name}_{stop}_{resume}',
    )


def stopped_and_resumed(runner_cls, tmp_path, by_epoch, workers, stop, end):
    make_runner(runner_cls, tmp_path / 'resumed', by_epoch, workers, stop).train()
    runner = make_runner(runner_cls, tmp_path / 'resumed', by_epoch, workers, end, resume=True)
    runner.train()
    return runner.model.state_dict()


def differing(a, b):
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.mark.parametrize(
    'by_epoch,workers',
    [(False, 0), (False, 2), (True, 0), (True, 2)],
    ids=['iter-w0', 'iter-w2', 'epoch-w0', 'epoch-w2'],
)
def test_resume_is_bit_identical(tmp_path, by_epoch, workers):
    stop, end = (2, 3) if by_epoch else (6, 10)
    straight = make_runner(ResumableRunner, tmp_path / 'straight', by_epoch, workers, end)
    straight.train()
    expected = straight.model.state_dict()
    got = stopped_and_resumed(ResumableRunner, tmp_path, by_epoch, workers, stop, end)
    assert differing(expected, got) == []


def test_plain_mmengine_resume_is_not(tmp_path):
    """The control: mmengine's own runner, same run, differs after the resume (what the above fixes)."""
    straight = make_runner(Runner, tmp_path / 'straight', False, 0, 10)
    straight.train()
    got = stopped_and_resumed(Runner, tmp_path, False, 0, 6, 10)
    assert len(differing(straight.model.state_dict(), got)) > 10
