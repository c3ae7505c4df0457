"""Resume is bit-identical: a run stopped at a checkpoint and resumed in a fresh runner ends with the weights
of the uninterrupted run, with randomness everywhere (drop path, dropout, augmentations drawing from torch,
numpy and python in the loading process), iteration- and epoch-based, with 0 and 2 dataloader workers."""

import pytest
import torch
from mmengine.runner import Runner

from mmconvnext.engine import ResumableRunner
from mmconvnext.serialization import safe_loading

from .toy import AugmentedData, NoisyClassifier


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
    with safe_loading():  # mmengine's own runner resumes under torch >= 2.6 only with the allow-list passed
        got = stopped_and_resumed(Runner, tmp_path, False, 0, 6, 10)
    assert len(differing(straight.model.state_dict(), got)) > 10
