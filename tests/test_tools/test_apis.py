"""The tools' config edits (mmconvnext.apis), config-level only: no model is built and nothing trains."""

import argparse
import copy
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config, DictAction

from mmconvnext.apis import apply_cli_args, load_config, shorten_schedule, use_cpu_distributed

from ..conftest import ROOT

DEMOS = ('configs/upernet_convnext_atto_shapes_demo.py', 'configs/mask_rcnn_convnext_atto_shapes_demo.py')


def _namespace(config: str, **flags) -> argparse.Namespace:
    return argparse.Namespace(config=config, **flags)


def _old_demo_options(n: int, warmup_iters: int, logger_interval: int, validations: int) -> dict:
    """The ``--cfg-options`` tools/demo.py passed for ``--iters n`` before ``--max-iters`` existed (then for
    configs of 50 warm-up iterations, logging every 25, validating 4 times), parsed as tools/train.py parses
    them."""
    val, warmup = max(1, n // validations), max(1, min(warmup_iters, n // 10))
    options = [
        f'train_cfg.max_iters={n}',
        f'train_cfg.val_interval={val}',
        f'param_scheduler.0.end={warmup}',
        f'param_scheduler.1.begin={warmup}',
        f'param_scheduler.1.end={n}',
        f'default_hooks.checkpoint.interval={n}',
        f'default_hooks.logger.interval={min(logger_interval, val)}',
    ]
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


@pytest.mark.parametrize('config', DEMOS)
def test_max_iters_resolves_the_demos_as_their_old_cfg_options_did(config):
    """tools/demo.py --iters N now passes tools/train.py --max-iters N: every resolved value must stay what
    the positional --cfg-options made it."""
    path = str(ROOT / config)
    loaded = load_config(path)
    warmup, interval = loaded.param_scheduler[0].end, loaded.default_hooks.logger.interval
    validations = loaded.train_cfg.max_iters // loaded.train_cfg.val_interval
    for n in (1, 2, 3, 8, 9, 10, 11, 40, 99, 100, 333, 499, 500, 501, 800, 1200, 5000):
        options = _old_demo_options(n, warmup, interval, validations)
        old = apply_cli_args(copy.deepcopy(loaded), _namespace(path, cfg_options=options))
        new = apply_cli_args(copy.deepcopy(loaded), _namespace(path, max_iters=n))
        assert new.to_dict() == old.to_dict(), n


def test_max_iters_rescales_a_long_schedule_by_role():
    cfg = load_config(str(ROOT / 'configs/upernet_convnext_tiny_ade20k.py'))  # 160k: warm-up 1500, val 16k
    cfg.param_scheduler = cfg.param_scheduler[::-1]  # found by role, not position
    shorten_schedule(cfg, 2000)
    poly, warmup = cfg.param_scheduler
    assert (warmup.begin, warmup.end, poly.begin, poly.end) == (0, 200, 200, 2000)
    assert cfg.train_cfg.max_iters == 2000 and cfg.train_cfg.val_interval == 200
    assert cfg.default_hooks.checkpoint.interval == 16000  # not a checkpoint-at-the-end: left alone
    assert cfg.default_hooks.logger.interval == 50


def test_max_iters_errors_name_the_flag():
    with pytest.raises(ValueError, match='--max-iters shortens an iteration-based schedule'):
        shorten_schedule(load_config(str(ROOT / 'configs/mask_rcnn_convnext_tiny_coco_1x.py')), 10)
    cfg = Config(
        dict(
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=100),
            param_scheduler=[
                dict(type='LinearLR', by_epoch=False, begin=0, end=10),
                dict(type='PolyLR', by_epoch=False, begin=20, end=80),
            ],
        )
    )
    with pytest.raises(ValueError, match="--max-iters: param_scheduler 'PolyLR' .* neither a warm-up"):
        shorten_schedule(cfg, 10)
    cfg.param_scheduler[1].end = 100
    with pytest.raises(ValueError, match="'PolyLR' begins at 20, neither at 0 nor where the warm-up ends"):
        shorten_schedule(cfg, 10)
    with pytest.raises(ValueError, match='--max-iters must be >= 1'):
        shorten_schedule(cfg, 0)


@pytest.mark.parametrize('warmup_epochs', [2, 0])
def test_an_epoch_schedule_is_set_by_role(warmup_epochs):
    """The proxy/roadmap schedule (the classifier's warm-up + cosine, here listed cosine first) changed by role."""
    from mmconvnext.analysis.proxy import proxy_config
    from mmconvnext.apis import set_epoch_schedule

    cfg = load_config(str(ROOT / 'configs/convnext_tiny_in1k.py'))  # 300 epochs, warm-up 20
    cfg.param_scheduler = cfg.param_scheduler[::-1]
    proxy_config(cfg, 'data', 10, 'work', epochs=6, warmup_epochs=warmup_epochs, batch=8, lr=1e-3, img_size=32)
    types = [s.type for s in cfg.param_scheduler]
    cosine = cfg.param_scheduler[types.index('CosineAnnealingLR')]
    assert (cosine.begin, cosine.end, cfg.train_cfg.max_epochs) == (warmup_epochs, 6, 6)
    if warmup_epochs:
        warmup = cfg.param_scheduler[types.index('LinearLR')]
        assert (warmup.begin, warmup.end) == (0, warmup_epochs)
    else:
        assert types == ['CosineAnnealingLR']
    with pytest.raises(ValueError, match='no warm-up scheduler'):
        set_epoch_schedule(cfg, 6, 1) if not warmup_epochs else set_epoch_schedule(
            Config(
                dict(train_cfg=dict(max_epochs=6), param_scheduler=[dict(type='CosineAnnealingLR', begin=0, end=6)])
            ),
            6,
            1,
        )
    with pytest.raises(ValueError, match="roadmap: param_scheduler 'MultiStepLR' .* does not count epochs"):
        set_epoch_schedule(
            Config(
                dict(train_cfg=dict(max_epochs=12), param_scheduler=[dict(type='MultiStepLR', by_epoch=False, end=12)])
            ),
            6,
            0,
            flag='roadmap',
        )


def test_apply_cli_args_train_and_test_flags(tmp_path):
    config = str(ROOT / 'configs/convnext_tiny_in1k.py')
    cfg = apply_cli_args(
        load_config(config),
        _namespace(config, launcher='none', data_root=str(tmp_path), auto_scale_lr=True, resume='auto'),
    )
    assert cfg.work_dir == './work_dirs/convnext_tiny_in1k' and cfg.launcher == 'none'
    assert cfg.train_dataloader.dataset.data_root == str(tmp_path) and cfg.auto_scale_lr.enable
    assert cfg.resume is True and cfg.load_from is None
    with pytest.raises(ValueError, match='--amp-dtype is the dtype of --amp: give --amp too'):
        apply_cli_args(load_config(config), _namespace(config, amp_dtype='bfloat16'))
    cfg = apply_cli_args(load_config(config), _namespace(config, checkpoint='x.pth', work_dir=str(tmp_path)))
    assert cfg.load_from == 'x.pth' and cfg.resume is False and cfg.work_dir == str(tmp_path)
    assert not any(h.type == 'EMAHook' for h in cfg.custom_hooks)


def test_cpu_distributed_config_edits(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(launcher='pytorch'))
    assert use_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.type == 'mmconvnext.CPUDistributedDataParallel'
    assert not use_cpu_distributed(Config(dict(launcher='none')))


def test_engine_loads_none_of_the_tools_plumbing():
    """``custom_imports=['mmconvnext']`` in a config loads the registered parts, not mmconvnext.apis."""
    code = (
        'import sys, mmconvnext, mmconvnext.engine; '
        "assert not [m for m in sys.modules if m.startswith('mmconvnext.apis')], sys.modules.keys()"
    )
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT, capture_output=True)
