"""mmengine 0.10.7 runner checkpoints save and resume under torch >= 2.6, whose
torch.load defaults to weights_only=True, through an allow-list (not weights_only=False)."""

import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmconvnext.models import ConvNeXt
from mmconvnext.serialization import MMENGINE_SAFE_GLOBALS, safe_loading

from ..conftest import TINY_ARCH, load_checkpoint_file


class ToyClassifier(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, drop_path_rate=0.0)
        self.head = torch.nn.Linear(64, 3)

    def forward(self, inputs, label, mode='tensor'):
        logits = self.head(self.backbone(inputs)[0])
        if mode == 'loss':
            return {'loss': F.cross_entropy(logits, label)}
        return logits


class ToyData(Dataset):
    def __init__(self, n=32):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, 32, 32, generator=g)
        self.y = torch.randint(0, 3, (n,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {'inputs': self.x[i], 'label': self.y[i]}


class NotAllowed:
    pass


def make_runner(work_dir, max_iters, resume_from=None):
    torch.manual_seed(0)  # the head's default init happens here, before the Runner seeds
    return Runner(
        model=ToyClassifier(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(),
            batch_size=4,
            num_workers=0,
            sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
        ),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
            constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
            paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=6),
        ),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3),
            dict(type='CosineAnnealingLR', by_epoch=False, begin=3, end=8),
        ],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1),
        ),
        randomness=dict(seed=0),
        resume=resume_from is not None,
        load_from=resume_from,
        default_scope='mmengine',
        experiment_name=f'resume_{max_iters}_{work_dir.name}',
    )


def test_resume_equals_uninterrupted(tmp_path):
    straight = make_runner(tmp_path / 'straight', 8)
    straight.train()
    expected = copy.deepcopy(straight.model.state_dict())

    first = make_runner(tmp_path / 'interrupted', 4)
    first.train()
    ckpt = tmp_path / 'interrupted' / 'iter_4.pth'
    assert ckpt.exists()
    # the checkpoint holds objects beyond tensors, all of them allow-listed
    before = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()  # what would torch refuse without any allow-list?
    try:
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(ckpt)))
    finally:
        torch.serialization.add_safe_globals(before)
    assert any('HistoryBuffer' in g for g in needed)
    allowed = set()
    for g in MMENGINE_SAFE_GLOBALS:
        obj, name = g if isinstance(g, tuple) else (g, f'{g.__module__}.{g.__qualname__}')
        allowed.add(name)
    assert needed <= allowed, needed - allowed

    resumed = make_runner(tmp_path / 'interrupted', 8, resume_from=str(ckpt))
    with safe_loading():  # mmengine's plain Runner: the allow-list passed around its load (ResumableRunner does it)
        resumed.train()
    assert resumed.iter == 8
    got = resumed.model.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, rtol=1e-6, atol=1e-7, msg=k)
    # and it really trained from the resumed state: iteration 4 weights differ from 8
    at4 = load_checkpoint_file(ckpt)['state_dict']
    assert not torch.equal(at4['head.weight'], got['head.weight'])


def test_unsafe_objects_are_still_refused(tmp_path):
    import pickle

    path = tmp_path / 'x.pth'
    torch.save({'meta': NotAllowed()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with safe_loading(), pytest.raises(pickle.UnpicklingError):  # the allow-list admits nothing more
        torch.load(path)


class GetattrAbuse:
    def __reduce__(self):
        return (getattr, (torch.Tensor, 'tofile'))


def test_getattr_is_allowed_only_for_history_buffer_statistics(tmp_path):
    import pickle

    path = tmp_path / 'y.pth'
    torch.save({'meta': GetattrAbuse()}, path)
    with safe_loading(), pytest.raises(pickle.UnpicklingError, match='only HistoryBuffer statistics'):
        torch.load(path)
