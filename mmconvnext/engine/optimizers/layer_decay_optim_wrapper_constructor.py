"""Layer-wise learning-rate decay for any backbone that answers ``get_layer_depth``.

Accepts the official ConvNeXt ``paramwise_cfg`` (``decay_rate``, ``decay_type``,
``num_layers``) with the official semantics: a parameter in group ``i`` of ``N`` gets
``lr * decay_rate ** (N - 1 - i)``; which group a parameter is in is the backbone's
answer (``ConvNeXt.get_layer_depth``), so no parameter-name parsing lives here.
Biases and 1-D parameters (norms, layer scale, GRN) get no weight decay. ``custom_keys``
(mmengine's name-matching rule) multiply a matching parameter's lr and weight decay on top,
e.g. Mask2Former's backbone lr multiplier and its undecayed query and level embeddings.
"""

import inspect
from typing import Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from mmconvnext.registry import OPTIM_WRAPPER_CONSTRUCTORS

PARAMWISE_KEYS = ('decay_rate', 'decay_type', 'num_layers', 'custom_keys')
CUSTOM_KEY_ENTRIES = ('lr_mult', 'decay_mult')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LearningRateDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Optimizer wrapper constructor with layer-wise lr decay.

    ``paramwise_cfg``:
        decay_rate (float): lr multiplier per group step (required).
        decay_type (str): ``'layer_wise'`` (default), ``'stage_wise'`` or ``'block_wise'`` (V2's 'single').
        num_layers (int): number of backbone groups ``N - 2`` (default: the backbone's).
        custom_keys (dict): ``{name part: dict(lr_mult=..., decay_mult=...)}``, as mmengine's
            ``DefaultOptimWrapperConstructor``: a parameter whose full name contains a key
            takes the longest such key's multipliers (alphabetical among equal lengths),
            applied to its layer-decayed lr and its weight decay. ``decay_rate=1.0`` with
            ``custom_keys`` is mmengine's plain rule (Mask2Former's recipe).

    The model's backbone is ``model.backbone`` (its parameters under ``backbone.``) or,
    for a bare backbone, the model itself.
    """

    def add_params(self, params: list[dict], module: nn.Module, prefix: str = '', **kwargs) -> None:
        cfg = dict(self.paramwise_cfg or {})
        unknown = sorted(set(cfg) - set(PARAMWISE_KEYS))
        if unknown:
            raise KeyError(
                f'paramwise_cfg keys {unknown} are not understood by '
                f'LearningRateDecayOptimizerConstructor; it takes {list(PARAMWISE_KEYS)}'
            )
        if 'decay_rate' not in cfg:
            raise KeyError("paramwise_cfg needs 'decay_rate' (e.g. 0.9) for layer-wise lr decay")
        decay_rate = float(cfg['decay_rate'])
        decay_type: str = cfg.get('decay_type', 'layer_wise')
        num_layers: Optional[int] = cfg.get('num_layers')
        custom_keys = self._check_custom_keys(cfg.get('custom_keys') or {})

        backbone, backbone_prefix = (module.backbone, 'backbone.') if hasattr(module, 'backbone') else (module, '')
        get_depth = getattr(backbone, 'get_layer_depth', None)
        if get_depth is None:
            raise TypeError(
                f'{type(backbone).__name__} has no get_layer_depth(param_name, prefix); '
                'LearningRateDecayOptimizerConstructor needs a backbone that defines it'
            )
        accepted = inspect.signature(get_depth).parameters
        depth_kwargs = {}
        if 'decay_type' in accepted:
            depth_kwargs['decay_type'] = decay_type
        elif decay_type != 'layer_wise':
            raise TypeError(f'{type(backbone).__name__}.get_layer_depth does not take decay_type={decay_type!r}')
        if 'num_layers' in accepted:
            depth_kwargs['num_layers'] = num_layers
        elif num_layers is not None:
            raise TypeError(f'{type(backbone).__name__}.get_layer_depth does not take num_layers')

        base_wd = self.base_wd or 0.0
        groups: dict = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue  # frozen
            no_decay = param.ndim == 1 or name.endswith('.bias')
            layer_id, num_groups = get_depth(name, backbone_prefix, **depth_kwargs)
            key = next((k for k in custom_keys if k in prefix + name), None)
            mult = custom_keys.get(key, {})
            group_name = f'layer_{layer_id}_{"no_decay" if no_decay else "decay"}' + (f'_{key}' if key else '')
            if group_name not in groups:
                scale = decay_rate ** (num_groups - layer_id - 1) * mult.get('lr_mult', 1.0)
                groups[group_name] = {
                    'params': [],
                    'param_names': [],
                    'group_name': group_name,
                    'lr_scale': scale,
                    'lr': scale * self.base_lr,
                    'weight_decay': 0.0 if no_decay else base_wd * mult.get('decay_mult', 1.0),
                }
            groups[group_name]['params'].append(param)
            groups[group_name]['param_names'].append(prefix + name)

        logger = MMLogger.get_current_instance()
        logger.info(
            f'layer-wise lr decay: {decay_type}, rate {decay_rate}, '
            f'{num_layers if num_layers is not None else "default"} layers, {len(groups)} groups'
            + (f', custom keys {list(custom_keys)}' if custom_keys else '')
        )
        for group_name, group in sorted(groups.items(), key=lambda kv: -kv[1]['lr_scale']):
            logger.debug(
                f'{group_name}: lr_scale {group["lr_scale"]:.4g}, weight_decay '
                f'{group["weight_decay"]}, {len(group["params"])} params'
            )
        params.extend(groups.values())

    @staticmethod
    def _check_custom_keys(custom_keys: dict) -> dict:
        """``custom_keys`` checked, ordered as mmengine matches them: longest key first, then alphabetical."""
        if not isinstance(custom_keys, dict):
            raise TypeError(
                f'paramwise_cfg.custom_keys must be a dict of name -> dict(lr_mult, decay_mult), got '
                f'{type(custom_keys).__name__}'
            )
        for key, entry in custom_keys.items():
            if not isinstance(entry, dict) or not set(entry) <= set(CUSTOM_KEY_ENTRIES):
                raise KeyError(
                    f'paramwise_cfg.custom_keys[{key!r}] = {entry!r}: give a dict with {list(CUSTOM_KEY_ENTRIES)}'
                )
        return {k: dict(custom_keys[k]) for k in sorted(sorted(custom_keys), key=len, reverse=True)}
