"""Config edits the tools make on a user's behalf: the dataset root, mixed precision and a shortened schedule.

Each is one command-line flag of ``tools/train.py`` / ``tools/test.py`` (applied through
:func:`mmconvnext.apis.apply_cli_args`) and works on any task's config: the edits find what they change by its
role (a dataloader's dataset, the optimizer wrapper, the warm-up scheduler), never by position in a list, so a
config that inherits and reorders its bases still resolves to the same values.
"""

import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict

from .custom_data import apply_custom_data_entry

__all__ = ['enable_amp', 'load_config', 'scheduler_roles', 'set_epoch_schedule', 'set_pretrained', 'shorten_schedule']


def load_config(config: str) -> Config:
    """``Config.fromfile``, with an error naming the path when there is no such file (mmengine's would name
    the first file of an inheritance chain it cannot read). A ``custom_data = dict(data_root=..., classes=...)``
    entry of the config is applied here (:func:`mmconvnext.apis.use_custom_data`) and removed."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} not found')
    cfg = Config.fromfile(config)
    if 'custom_data' in cfg:
        apply_custom_data_entry(cfg, config)
    return cfg


def set_pretrained(cfg: Config, checkpoint: str) -> None:
    """``--pretrained CKPT``: initialise the backbone from ``checkpoint`` (a path or URL in any format the
    backbone reads: ours, official, timm, mmpretrain, FCMAE), replacing the config's backbone ``init_cfg``.

    Raises:
        FileNotFoundError: a local ``checkpoint`` that does not exist.
        KeyError: the config's model has no backbone.
    """
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'--pretrained {checkpoint!r}: no such file')
    backbone = (cfg.get('model') or {}).get('backbone')
    if not isinstance(backbone, dict):
        raise KeyError('--pretrained: the config has no model.backbone to initialise')
    backbone.init_cfg = ConfigDict(type='Pretrained', checkpoint=checkpoint)


#: optimizer wrappers ``--amp`` may replace: fp32 ones and the AMP ones of either device
_AMP_REPLACEABLE = (
    'OptimWrapper',
    'AmpOptimWrapper',
    'mmconvnext.AmpOptimWrapper',
    'AutocastOptimWrapper',
    'mmconvnext.AutocastOptimWrapper',
)


def enable_amp(cfg: Config, device: str, dtype: Optional[str] = None) -> None:
    """``--amp``: mixed-precision training on ``device``.

    On an accelerator, mmengine's ``AmpOptimWrapper`` as :class:`mmconvnext.engine.AmpOptimWrapper` (fp16
    with a dynamic loss scale unless the config sets
    one; ``dtype='bfloat16'`` for bf16). On a CPU, :class:`mmconvnext.engine.AutocastOptimWrapper` (bf16
    autocast, no loss scaler), since mmengine's refuses a machine without an accelerator. Any other wrapper
    type in the config is left to the user, with an error naming it.

    Raises:
        ValueError: an unknown ``dtype``, float16 on a CPU, or a wrapper type ``--amp`` cannot switch.
        KeyError: the config has no ``optim_wrapper`` dict.
    """
    if dtype not in (None, 'float16', 'bfloat16'):
        raise ValueError(f"--amp-dtype must be 'float16' or 'bfloat16', got {dtype!r}")
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        raise KeyError('--amp: the config has no optim_wrapper dict to switch to mixed precision')
    kind = wrapper.get('type', 'OptimWrapper')
    if kind not in _AMP_REPLACEABLE:
        raise ValueError(
            f'--amp: optim_wrapper type {kind!r} is not one --amp knows how to switch (one of '
            f'{_AMP_REPLACEABLE}); set mixed precision in the config instead'
        )
    if device == 'cpu':
        if dtype == 'float16':
            raise ValueError(
                '--amp-dtype float16 needs a GPU: fp16 gradients need loss scaling, which mmengine '
                'provides only on accelerators; on a CPU --amp trains in bfloat16'
            )
        wrapper.pop('loss_scale', None)
        wrapper.pop('use_fsdp', None)
        wrapper.type, wrapper.dtype = 'mmconvnext.AutocastOptimWrapper', 'bfloat16'
        return
    wrapper.type = 'mmconvnext.AmpOptimWrapper'  # mmengine's, + mmcv's NMS/RoIAlign under autocast
    wrapper.setdefault('loss_scale', 'dynamic')
    if dtype is not None:
        wrapper.dtype = dtype


def _schedulers(cfg: Config) -> list[ConfigDict]:
    schedulers = cfg.get('param_scheduler') or []
    return list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]


def scheduler_roles(cfg: Config, old_end: int, by_epoch: bool, flag: str) -> tuple[Optional[ConfigDict], list]:
    """``cfg.param_scheduler`` sorted by role, not position, for a schedule that ends at ``old_end`` (iterations,
    or epochs with ``by_epoch``): ``(warm-up or None, main schedulers)``. The warm-up begins at 0 and ends before
    ``old_end``; a main scheduler ends at ``old_end`` (or runs to the end: no ``end``) and begins at 0 or where the
    warm-up ends.

    Raises:
        ValueError: (naming ``flag``, the option being applied) a scheduler counted in the other unit, one that
            fits no role, or more than one warm-up.
    """
    unit = 'epochs' if by_epoch else 'iterations'
    warmup, main = [], []
    for s in _schedulers(cfg):
        where = f'param_scheduler {s.get("type")!r} (begin={s.get("begin", 0)}, end={s.get("end")})'
        if s.get('by_epoch', True) != by_epoch:  # mmengine's default is by epoch; convert_to_iter_based keeps it so
            raise ValueError(f'{flag}: {where} does not count {unit}; it cannot be changed in {unit}')
        end = s.get('end')
        if s.get('begin', 0) == 0 and end is not None and end < old_end:
            warmup.append(s)
        elif end is None or end == old_end:
            main.append(s)
        else:
            raise ValueError(
                f'{flag}: {where} is neither a warm-up (begins at 0, ends before {old_end} {unit}) nor runs to the '
                'end of training; change this schedule with --cfg-options'
            )
    if len(warmup) > 1:
        raise ValueError(
            f'{flag}: {len(warmup)} warm-up schedulers (begin at 0, end before {old_end} {unit}) where one is '
            'expected; change this schedule with --cfg-options'
        )
    warmup_end = warmup[0].end if warmup else 0
    for s in main:
        if s.get('begin', 0) not in (0, warmup_end):
            raise ValueError(
                f'{flag}: param_scheduler {s.get("type")!r} begins at {s.get("begin")}, neither at 0 nor where the '
                f'warm-up ends ({warmup_end}); change this schedule with --cfg-options'
            )
    return (warmup[0] if warmup else None), main


def set_epoch_schedule(cfg: Config, epochs: int, warmup_epochs: int, flag: str = 'the schedule') -> None:
    """An epoch-based config's schedule set to ``epochs`` with a warm-up of ``warmup_epochs`` (0: none), in place:
    each scheduler found by its role (:func:`scheduler_roles`), so a config whose list holds them in another
    order, or only a main one, is changed as meant.

    Raises:
        ValueError: ``warmup_epochs`` not below ``epochs``, a warm-up asked of a schedule that has none, or what
            :func:`scheduler_roles` refuses.
    """
    if not 0 <= warmup_epochs < epochs:
        raise ValueError(f'{flag}: a warm-up of {warmup_epochs} epochs in {epochs} is not 0 <= warm-up < epochs')
    old_max = cfg.train_cfg.get('max_epochs')
    if old_max is None:
        raise ValueError(f'{flag}: the config sets no train_cfg.max_epochs (train_cfg={dict(cfg.train_cfg)})')
    warmup, main = scheduler_roles(cfg, old_max, by_epoch=True, flag=flag)
    if warmup is None and warmup_epochs:
        raise ValueError(f'{flag}: a warm-up of {warmup_epochs} epochs asked, but the config has no warm-up scheduler')
    for s in main:
        if s.get('begin', 0):  # began where the warm-up ended
            s.begin = warmup_epochs
        if s.get('end') is not None:
            s.end = epochs
    if warmup is not None:
        if warmup_epochs:
            warmup.end = warmup_epochs
        else:
            cfg.param_scheduler = [s for s in _schedulers(cfg) if s is not warmup]
    cfg.train_cfg.max_epochs = epochs


def shorten_schedule(cfg: Config, max_iters: int) -> None:
    """``--max-iters N``: the config's iteration-based schedule compressed to ``N`` iterations, in place.

    For quick runs (the demos, smoke tests) of a config written for a long schedule: changing
    ``train_cfg.max_iters`` alone would leave the warm-up, the decay, validation and checkpointing on the old
    time scale. Each scheduler is recognised by its role, not its position:

    - the warm-up (begins at 0 and ends before the old ``max_iters``) ends at ``min(its end, max(1, N // 10))``;
    - the scheduler(s) ending at the old ``max_iters`` (or running to the end: no ``end``) end at ``N``; those
      that began where the warm-up ended begin where it now ends, those that began at 0 still do;
    - ``train_cfg.val_interval`` scales with the schedule: ``max(1, old_interval * N // old_max_iters)``;
    - the checkpoint hook's interval, when it was the old ``max_iters`` (a checkpoint at the end), becomes
      ``N``; the logger's interval becomes ``min(its interval, the new val_interval)``.

    Raises:
        ValueError: ``N < 1``, an epoch-based config or scheduler, or a scheduler none of these roles fits.
    """
    if max_iters < 1:
        raise ValueError(f'--max-iters must be >= 1, got {max_iters}')
    train_cfg = cfg.get('train_cfg') or {}
    old_max = train_cfg.get('max_iters')
    if 'max_epochs' in train_cfg or train_cfg.get('by_epoch'):
        raise ValueError(
            '--max-iters shortens an iteration-based schedule; this config trains by epochs '
            f'(train_cfg={dict(train_cfg)}): set train_cfg.max_epochs with --cfg-options instead'
        )
    if old_max is None:
        raise ValueError(
            f'--max-iters: the config sets no train_cfg.max_iters to shorten (train_cfg={dict(train_cfg)})'
        )
    warmup, main = scheduler_roles(cfg, old_max, by_epoch=False, flag='--max-iters')
    old_warmup_end = new_warmup_end = 0
    if warmup is not None:
        old_warmup_end = warmup.end
        new_warmup_end = warmup.end = min(old_warmup_end, max(1, max_iters // 10))
    for s in main:  # over the whole run (begin 0), or after the warm-up
        if s.get('begin', 0):
            s.begin = new_warmup_end
        if s.get('end') is not None:
            s.end = max_iters
    train_cfg.max_iters = max_iters
    if 'val_interval' in train_cfg:
        train_cfg.val_interval = max(1, train_cfg.val_interval * max_iters // old_max)
    hooks = cfg.get('default_hooks') or {}
    checkpoint, logger = hooks.get('checkpoint'), hooks.get('logger')
    if checkpoint and checkpoint.get('interval') == old_max:
        checkpoint.interval = max_iters
    if logger and 'interval' in logger and 'val_interval' in train_cfg:
        logger.interval = min(logger.interval, train_cfg.val_interval)
