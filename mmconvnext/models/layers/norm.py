"""LayerNorm over the channel dimension of NCHW tensors (registered as ``LN2d``).

mmcv registers ``LN`` (``nn.LayerNorm``, last-dim only) but no channels-first variant;
mmpretrain's ``LN2d`` is the one configs name, so this module provides it under the
same name and the same parameters (``weight``, ``bias``).
"""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmconvnext.registry import MODELS


@MODELS.register_module(name='LN2d')
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels, for ``(N, C, H, W)`` or ``(N, H, W, C)`` input.

    Args:
        num_channels: number of channels ``C``.
        eps: added to the variance. ConvNeXt uses 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(num_channels, eps=eps, **kwargs)

    def forward(self, x: torch.Tensor, data_format: str = 'channel_first') -> torch.Tensor:
        if data_format == 'channel_last':  # (N, H, W, C)
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        if data_format != 'channel_first':
            raise ValueError(f"data_format must be 'channel_first' or 'channel_last', got {data_format!r}")
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)


def build_norm_layer(cfg: Optional[dict], num_features: int) -> nn.Module:
    """Build a norm layer from ``cfg`` (``type`` plus keyword arguments).

    Looks ``type`` up with ``Registry.get`` (this scope, then mmengine's root, where
    mmcv registers BN/GN/LN/...), so the result does not depend on the default scope
    of whichever runner builds the backbone. The caller's dict is not modified.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f"norm_cfg must be a dict with a 'type' key, got {cfg!r}")
    kwargs = dict(cfg)
    layer_type = kwargs.pop('type')
    requires_grad = kwargs.pop('requires_grad', True)
    norm_cls = MODELS.get(layer_type) if isinstance(layer_type, str) else layer_type
    if norm_cls is None:
        raise KeyError(f'norm_cfg type {layer_type!r} is not registered (try LN2d, BN, GN, SyncBN)')
    if layer_type == 'GN' or getattr(norm_cls, '__name__', '') == 'GroupNorm':
        if 'num_groups' not in kwargs:
            raise KeyError("norm_cfg of type GN needs 'num_groups'")
        layer = norm_cls(num_channels=num_features, **kwargs)
    else:
        layer = norm_cls(num_features, **kwargs)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return layer
