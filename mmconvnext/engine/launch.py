"""What ``tools/train.py`` and ``tools/test.py`` share: config loading with command-line
overrides, the runner (with the CPU distributed preparation), and process-group teardown.

The tools serve every task (segmentation, detection, classification): nothing here
knows which one a config is.
"""
import contextlib
import os.path as osp
from typing import Iterator, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODELS, RUNNERS, DefaultScope
from mmengine.runner import Runner

from .cpu_dist import prepare_cpu_distributed

__all__ = ['build_model', 'build_runner', 'distributed_teardown', 'enable_amp', 'load_config', 'set_data_root']

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def load_config(config: str, *, cfg_options: Optional[dict] = None, launcher: str = 'none',
                work_dir: Optional[str] = None, data_root: Optional[str] = None) -> Config:
    """``Config.fromfile`` + ``--cfg-options`` + ``--data-root``; the work dir defaults to
    ``./work_dirs/<config name>`` (as in mmdet/mmseg)."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} not found')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if data_root is not None:
        set_data_root(cfg, data_root)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def _datasets(dataset: ConfigDict) -> Iterator[ConfigDict]:
    """A dataset config and the ones it wraps (RepeatDataset, ConcatDataset, ...)."""
    yield dataset
    inner = dataset.get('dataset')
    if isinstance(inner, dict):
        yield from _datasets(inner)
    for inner in dataset.get('datasets', []) or []:
        yield from _datasets(inner)


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataloader's dataset (and the datasets it wraps) that has a
    ``data_root`` at ``data_root``, and the evaluators' ``ann_file`` under the old root
    with them: one flag instead of several ``--cfg-options``."""
    old_roots = set()
    for key in _LOADERS:
        loader = cfg.get(key)
        if not loader or 'dataset' not in loader:
            continue
        for ds in _datasets(loader.dataset):
            if 'data_root' in ds:
                old_roots.add(ds.data_root)
                ds.data_root = data_root
    found = bool(old_roots)
    # metrics that read the annotation file themselves (COCO) name it under the old root
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key) or []
        for ev in evaluators if isinstance(evaluators, list) else [evaluators]:
            ann_file = ev.get('ann_file') if isinstance(ev, dict) else None
            for old in old_roots:
                if isinstance(ann_file, str) and old and ann_file.startswith(old):
                    ev.ann_file = osp.join(data_root, ann_file[len(old):].lstrip('/'))
    if not found:
        raise KeyError('--data-root: no dataset in train/val/test_dataloader has a data_root to override')


#: optimizer wrappers ``--amp`` may replace: fp32 ones and the AMP ones of either device
_AMP_REPLACEABLE = ('OptimWrapper', 'AmpOptimWrapper', 'AutocastOptimWrapper', 'mmconvnext.AutocastOptimWrapper')


def enable_amp(cfg: Config, device: str, dtype: Optional[str] = None) -> None:
    """``--amp``: mixed-precision training on ``device``.

    On an accelerator, mmengine's ``AmpOptimWrapper`` (fp16 with a dynamic loss scale
    unless the config sets one; ``dtype='bfloat16'`` for bf16). On a CPU,
    :class:`mmconvnext.engine.AutocastOptimWrapper` (bf16 autocast, no loss scaler),
    since mmengine's refuses a machine without an accelerator. Any other wrapper type
    in the config is left to the user, with an error naming it.
    """
    if dtype not in (None, 'float16', 'bfloat16'):
        raise ValueError(f"--amp-dtype must be 'float16' or 'bfloat16', got {dtype!r}")
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        raise KeyError('--amp: the config has no optim_wrapper dict to switch to mixed precision')
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in _AMP_REPLACEABLE:
        raise ValueError(f'--amp: optim_wrapper type {kind!r} is not one --amp knows how to switch (one of '
                         f'{_AMP_REPLACEABLE}); set mixed precision in the config instead')
    if device == 'cpu':
        if dtype == 'float16':
            raise ValueError('--amp-dtype float16 needs a GPU: fp16 gradients need loss scaling, which mmengine '
                             'provides only on accelerators; on a CPU --amp trains in bfloat16')
        wrapper.pop('loss_scale', None)
        wrapper.pop('use_fsdp', None)
        wrapper.type, wrapper.dtype = 'mmconvnext.AutocastOptimWrapper', 'bfloat16'
        return
    wrapper.type = 'AmpOptimWrapper'
    wrapper.setdefault('loss_scale', 'dynamic')
    if dtype is not None:
        wrapper.dtype = dtype


def build_model(cfg: Config, device: str = 'cpu') -> torch.nn.Module:
    """``cfg.model`` built in the config's default scope, its parameters on ``device``
    (``'meta'``: no memory, for counting or checking construction)."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'), torch.device(device):
        return MODELS.build(cfg.model)


def build_runner(cfg: Config) -> Runner:
    """The config's runner; on a machine without CUDA a distributed launcher gets gloo."""
    prepare_cpu_distributed(cfg)  # a no-op unless launcher is pytorch/slurm and there is no CUDA
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


@contextlib.contextmanager
def distributed_teardown() -> Iterator[None]:
    """mmengine leaves the process group up; a gloo group still alive at interpreter exit
    aborts the process ("terminate called without an active exception")."""
    ok = False
    try:
        yield
        ok = True
    finally:
        if dist.is_available() and dist.is_initialized():
            if ok:
                # every rank reaches this point before any closes its connections: a rank that
                # finished first (no checkpoint to write) and tore down its gloo pairs while
                # the others still used them aborted the job now and then
                dist.barrier()
            dist.destroy_process_group()
