"""Layer-wise learning-rate decay for any backbone that answers ``get_layer_depth``.

Accepts the official ConvNeXt ``paramwise_cfg`` (``decay_rate``, ``decay_type``,
``num_layers``) with the official semantics: a parameter in group ``i`` of ``N`` gets
``lr * decay_rate ** (N - 1 - i)``; which group a parameter is in is the backbone's
answer (``ConvNeXt.get_layer_depth``), so no parameter-name parsing lives here.
Biases and 1-D parameters (norms, layer scale, GRN) get no weight decay.
"""

import inspect
from typing import Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor

from mmconvnext.registry import OPTIM_WRAPPER_CONSTRUCTORS

PARAMWISE_KEYS = ('decay_rate', 'decay_type', 'num_layers')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LearningRateDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Optimizer wrapper constructor with layer-wise lr decay.

    ``paramwise_cfg``:
        decay_rate (float): lr multiplier per group step (required).
        decay_type (str): ``'layer_wise'`` (default), ``'stage_wise'`` or ``'block_wise'`` (V2's 'single').
        num_layers (int): number of backbone groups ``N - 2`` (default: the backbone's).

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
            group_name = f'layer_{layer_id}_{"no_decay" if no_decay else "decay"}'
            if group_name not in groups:
                scale = decay_rate ** (num_groups - layer_id - 1)
                groups[group_name] = {
                    'params': [],
                    'param_names': [],
                    'group_name': group_name,
                    'lr_scale': scale,
                    'lr': scale * self.base_lr,
                    'weight_decay': 0.0 if no_decay else base_wd,
                }
            groups[group_name]['params'].append(param)
            groups[group_name]['param_names'].append(prefix + name)

        logger = MMLogger.get_current_instance()
        logger.info(
            f'layer-wise lr decay: {decay_type}, rate {decay_rate}, '
            f'{num_layers if num_layers is not None else "default"} layers, {len(groups)} groups'
        )
        for group_name, group in sorted(groups.items(), key=lambda kv: -kv[1]['lr_scale']):
            logger.debug(
                f'{group_name}: lr_scale {group["lr_scale"]:.4g}, weight_decay '
                f'{group["weight_decay"]}, {len(group["params"])} params'
            )
        params.extend(groups.values())
