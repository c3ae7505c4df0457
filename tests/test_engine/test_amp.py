"""``--amp``'s parts: enable_amp's config edits on either device, and the CPU wrapper
(bf16 autocast around the forward pass only, no loss scaler, refusing fp16, saying once
what it does and when the CPU will be slow)."""

import logging

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, build_optim_wrapper

from mmconvnext.apis import enable_amp
from mmconvnext.engine import AutocastOptimWrapper
from mmconvnext.engine.optimizers import autocast_optim_wrapper


def cfg_with(**wrapper) -> Config:
    return Config(dict(optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3), **wrapper)))


def test_enable_amp_on_a_cpu_picks_the_autocast_wrapper():
    cfg = cfg_with(type='AmpOptimWrapper', loss_scale='dynamic', clip_grad=dict(max_norm=1.0))
    enable_amp(cfg, 'cpu')
    assert cfg.optim_wrapper.type == 'mmconvnext.AutocastOptimWrapper' and cfg.optim_wrapper.dtype == 'bfloat16'
    assert 'loss_scale' not in cfg.optim_wrapper and cfg.optim_wrapper.clip_grad == dict(max_norm=1.0)
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
    assert type(wrapper) is AutocastOptimWrapper and wrapper.clip_grad_kwargs == dict(max_norm=1.0)


@pytest.mark.parametrize('dtype', [None, 'bfloat16', 'float16'])
def test_enable_amp_on_a_gpu_keeps_mmengines_wrapper(dtype):
    cfg = cfg_with()
    enable_amp(cfg, 'cuda', dtype)
    assert cfg.optim_wrapper.type == 'mmconvnext.AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.get('dtype') == dtype


def test_enable_amp_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match='float16 needs a GPU'):
        enable_amp(cfg_with(), 'cpu', 'float16')
    with pytest.raises(ValueError, match="--amp-dtype must be 'float16' or 'bfloat16'"):
        enable_amp(cfg_with(), 'cpu', 'float64')
    with pytest.raises(ValueError, match="optim_wrapper type 'ApexOptimWrapper'"):
        enable_amp(cfg_with(type='ApexOptimWrapper'), 'cuda')
    with pytest.raises(KeyError, match='no optim_wrapper'):
        enable_amp(Config(dict()), 'cpu')


def test_wrapper_refuses_fp16():
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(ValueError, match='dtype must be bfloat16'):
        AutocastOptimWrapper(dtype='float16', optimizer=optimizer)
    assert AutocastOptimWrapper(dtype=torch.bfloat16, optimizer=optimizer).cast_dtype == torch.bfloat16


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


@pytest.mark.parametrize('native', [False, True])
def test_wrapper_autocasts_the_forward_only_and_says_so_once(monkeypatch, native):
    monkeypatch.setattr(autocast_optim_wrapper, 'cpu_has_native_bf16', lambda: native)
    logger = MMLogger.get_instance(f'test_amp_{native}')
    handler = _ListHandler()
    logger.addHandler(handler)
    model = torch.nn.Linear(4, 3)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    for _ in range(2):
        with wrapper.optim_context(model):
            assert torch.is_autocast_enabled('cpu') and torch.get_autocast_dtype('cpu') == torch.bfloat16
            out = model(torch.randn(5, 4))
        assert out.dtype == torch.bfloat16 and not torch.is_autocast_enabled('cpu')
        wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32
    assert sum('forward pass runs under cpu autocast' in m for _, m in handler.messages) == 1
    slow = [m for level, m in handler.messages if level == logging.WARNING and 'no native bf16' in m]
    assert len(slow) == (0 if native else 1)
    logger.removeHandler(handler)


def test_plain_optim_wrapper_is_untouched_without_amp():
    cfg = cfg_with()
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
    assert type(wrapper) is OptimWrapper
