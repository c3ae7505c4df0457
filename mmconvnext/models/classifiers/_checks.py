"""Argument checks shared by the batch augmentations (rand_augment.py, random_erasing.py,
mixup_cutmix.py).

They run at the public entry points only (constructors, ``forward`` and the public
methods and functions); the private helpers behind them trust their inputs. Every
check raises a ``ValueError`` that names the argument and shows the value given.
"""

import math
from typing import Optional

from torch import Tensor


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_range(
    name: str, value: object, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """``value`` as a float, or a ValueError naming ``name`` when it is not a number in the interval."""
    if not _is_number(value) or math.isnan(value):
        raise ValueError(f'{name} must be a number, got {value!r}')
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f'{"(" if low_open else "["}{low}, {high}{")" if high_open else "]"}'
        raise ValueError(f'{name} must be in {interval}, got {value!r}')
    return float(value)


def check_int(name: str, value: object, low: int) -> int:
    """``value``, or a ValueError naming ``name`` when it is not an integer (bools are not) ``>= low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')
    return value


def check_bool(name: str, value: object) -> bool:
    """``value``, or a ValueError naming ``name`` when it is not a bool (1 and 0 are not)."""
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be a bool, got {value!r}')
    return value


def check_images(imgs: object, name: str = 'imgs', channels: Optional[int] = None) -> Tensor:
    """``imgs``, or a ValueError unless it is a floating-point ``B x C x H x W`` tensor (with
    ``channels`` channels when given)."""
    if not isinstance(imgs, Tensor) or imgs.dim() != 4 or not imgs.is_floating_point():
        desc = f'{imgs.dtype} tensor of shape {tuple(imgs.shape)}' if isinstance(imgs, Tensor) else type(imgs)
        raise ValueError(f'{name} must be a floating-point B x C x H x W tensor, got {desc}')
    if channels is not None and imgs.shape[1] != channels:
        raise ValueError(f'{name} must have {channels} channels, got shape {tuple(imgs.shape)}')
    return imgs


def check_class_indices(labels: object) -> Tensor:
    """``labels``, or a ValueError unless it is a 1-D integer tensor (class indices)."""
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
        desc = f'{labels.dtype} tensor of shape {tuple(labels.shape)}' if isinstance(labels, Tensor) else labels
        raise ValueError(f'labels must be a 1-D integer tensor of class indices, got {desc}')
    return labels
