"""The staged-backbone contract that ConvNeXt and the roadmap's ResNet-to-ConvNeXt ladder share.

A staged backbone is a sequence of stages, each entered through a downsample layer (the
stem for the first), with a norm ``norm{i}`` on every stage it returns. Everything that
reads that layout lives here once: argument checks, the forward loop over the stages,
frozen stages, the parameter groups of layer-wise lr decay (``get_layer_depth``, which
``LearningRateDecayOptimizerConstructor`` asks) and weight initialisation with pretrained
checkpoints of any supported format. A family only builds its own layers, stage by stage,
through :meth:`StagedBackbone._add_stage`.

The module names are a checkpoint contract, and mmdet's/mmseg's
``LearningRateDecayOptimizerConstructor`` parse them: ``downsample_layers.{i}``,
``stages.{i}.{j}`` and ``norm{i}``, registered in that order (the order of the state dict).
"""

from itertools import chain
from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule, ModuleList, Sequential

from mmconvnext.checkpoint import load_pretrained

__all__ = ['DECAY_TYPES', 'StagedBackbone', 'default_init_cfg']

DECAY_TYPES = ('layer_wise', 'stage_wise', 'block_wise')


def default_init_cfg() -> list[dict]:
    """Truncated-normal convs and linears (std 0.02, zero bias), LayerNorms at identity:
    the official ConvNeXt initialisation. A fresh list per call: mmengine keeps a
    reference to it and the caller may edit it."""
    return [
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=0.02, bias=0.0),
        dict(type='Constant', layer=['LayerNorm'], val=1.0, bias=0.0),
    ]


class StagedBackbone(BaseModule):
    """Base of the backbones made of downsample layers, stages and output norms.

    The constructor checks the arguments every such backbone takes and creates the
    empty ``downsample_layers`` and ``stages``; the subclass then calls
    :meth:`_add_stage` once per stage, in order. It is not registered: it builds no
    layers of its own.

    Args:
        depths: blocks per stage (one entry per stage).
        channels: output channels of each stage.
        stem_stride: stride of the first downsample layer; every later one halves the
            resolution, so stage ``i`` has stride ``stem_stride * 2**i``.
        out_indices: stages whose outputs are returned (int or sequence; negative
            indices count from the last stage). Each gets its own norm ``norm{i}``.
        frozen_stages: freeze the downsample layers and blocks of the first
            ``frozen_stages`` stages (0 or -1: none). They stay in eval mode and get no
            gradient, also after ``train()``.
        drop_path_rate: stochastic depth rate of the last block, growing linearly from
            0 over all blocks (:meth:`_drop_path_rates`).
        layer_scale_init_value: initial layer scale of the blocks (checked here: every
            family has one; 0 disables it).
        gap_before_final_norm: global-average-pool each output before its norm and
            return ``(N, C)`` vectors (classification); else ``(N, C, H, W)`` maps.
        init_cfg: mmengine init config (default :func:`default_init_cfg`); a
            ``Pretrained`` entry loads a checkpoint in any format ``mmconvnext.checkpoint``
            detects.

    Attributes:
        depths, channels (tuple[int]): per stage.
        num_stages (int): ``len(depths)``.
        out_indices (tuple[int]): sorted, non-negative.
        out_channels (tuple[int]): channels of each returned output.
        out_strides (tuple[int]): stride of each returned output w.r.t. the input.
    """

    def __init__(
        self,
        depths: Sequence[int],
        channels: Sequence[int],
        *,
        stem_stride: int,
        out_indices: Union[int, Sequence[int]],
        frozen_stages: int,
        drop_path_rate: float,
        layer_scale_init_value: float,
        gap_before_final_norm: bool,
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg=default_init_cfg() if init_cfg is None else init_cfg)
        depths, channels = tuple(depths), tuple(channels)
        if not depths or len(depths) != len(channels):
            raise ValueError(f'depths {depths} and channels {channels} must be non-empty and of the same length')
        self.depths, self.channels = depths, channels
        self.num_stages = len(depths)
        self.out_indices = self._parse_out_indices(out_indices, self.num_stages)
        self.frozen_stages = self._check_args(self.num_stages, frozen_stages, drop_path_rate, layer_scale_init_value)
        self.gap_before_final_norm = gap_before_final_norm
        self.out_channels = tuple(channels[i] for i in self.out_indices)
        self.out_strides = tuple(stem_stride * 2**i for i in self.out_indices)
        self.downsample_layers = ModuleList()
        self.stages = ModuleList()

    # ------------------------------------------------------------------ arguments
    @staticmethod
    def _check_args(num_stages: int, frozen_stages: int, drop_path_rate: float, layer_scale_init_value: float) -> int:
        """Check the arguments every staged backbone takes; the number of stages to freeze."""
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'frozen_stages must be an int in [-1, {num_stages}] (this arch has '
                f'{num_stages} stages; 0 or -1 freezes nothing), got {frozen_stages!r}'
            )
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate must be in [0, 1), got {drop_path_rate!r}')
        if layer_scale_init_value < 0:
            raise ValueError(f'layer_scale_init_value must be >= 0, got {layer_scale_init_value!r}')
        return max(frozen_stages, 0)

    @staticmethod
    def _parse_out_indices(out_indices: Union[int, Sequence[int]], num_stages: int) -> tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence) or not out_indices:
            raise TypeError(f'out_indices must be an int or a non-empty sequence of ints, got {out_indices!r}')
        parsed = []
        for index in out_indices:
            if not isinstance(index, int) or not -num_stages <= index < num_stages:
                raise ValueError(
                    f'out_indices entry {index!r} is out of range for {num_stages} stages '
                    f'(valid: {-num_stages}..{num_stages - 1})'
                )
            parsed.append(index % num_stages)
        if len(set(parsed)) != len(parsed):
            raise ValueError(f'out_indices {list(out_indices)} name a stage twice')
        return tuple(sorted(parsed))

    # ------------------------------------------------------------------ building
    def _drop_path_rates(self, drop_path_rate: float) -> list[list[float]]:
        """Per stage, the stochastic depth rate of each block: linear from 0 for the
        first block to ``drop_path_rate`` for the last one of the backbone."""
        num_blocks = sum(self.depths)
        rates = [drop_path_rate * j / max(num_blocks - 1, 1) for j in range(num_blocks)]
        starts = [sum(self.depths[:i]) for i in range(self.num_stages)]
        return [rates[start : start + depth] for start, depth in zip(starts, self.depths)]

    def _add_stage(self, downsample: nn.Module, blocks: Sequence[nn.Module], out_norm: Callable[[], nn.Module]) -> None:
        """Append the next stage: its downsample layer (the stem for stage 0), its blocks
        and, when it is in ``out_indices``, the norm ``out_norm()`` as ``norm{i}``. A
        stage in ``frozen_stages`` is frozen as it is added."""
        i = len(self.stages)
        if i >= self.num_stages:
            raise RuntimeError(f'{type(self).__name__} has {self.num_stages} stages; a stage {i} was added')
        self.downsample_layers.append(downsample)
        self.stages.append(Sequential(*blocks))
        if i in self.out_indices:
            self.add_module(f'norm{i}', out_norm())
        if i < self.frozen_stages:
            self._freeze_stage(i)

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, in_channels, H, W) -> tuple of (N, C_i, H/s_i, W/s_i), or (N, C_i) with
        ``gap_before_final_norm``, for each i in ``out_indices``."""
        if len(self.stages) != self.num_stages:
            raise RuntimeError(
                f'{type(self).__name__} built {len(self.stages)} of its {self.num_stages} stages '
                '(a subclass must call _add_stage once per stage)'
            )
        outs = []
        for i, (downsample, stage) in enumerate(zip(self.downsample_layers, self.stages)):
            x = stage(downsample(x))
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean((-2, -1), keepdim=True)).flatten(1))
                else:
                    # Dense outputs leave in NCHW memory: the channels-first LayerNorm returns a
                    # channels-last-strided view, and mmcv's RoIAlign (Mask R-CNN's RoI heads)
                    # reads its input's memory as contiguous NCHW, so a view gave it garbage.
                    outs.append(norm(x).contiguous())
        return tuple(outs)

    # ------------------------------------------------------------------ freezing
    def _freeze_stage(self, i: int) -> None:
        for module in (self.downsample_layers[i], self.stages[i]):
            module.eval()
        for param in chain(self.downsample_layers[i].parameters(), self.stages[i].parameters()):
            param.requires_grad = False

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            self._freeze_stage(i)

    def train(self, mode: bool = True) -> 'StagedBackbone':
        super().train(mode)
        self._freeze_stages()
        return self

    # ------------------------------------------------------------------ layer decay
    def default_num_layers(self) -> int:
        """``num_layers`` of :meth:`get_layer_depth` when none is given. Four stages:
        mmpretrain's rule (12 when stage 2 is deeper than 9 blocks, else 6), so lr
        schedules carry over. Other stage counts: just enough groups that every group of
        the deep stage has its own id and the last stage follows it."""
        if self.num_stages == 4:
            return 12 if self.depths[2] > 9 else 6
        if self.num_stages == 1:
            return 1
        return self.num_stages + (self.depths[-2] - 1) // 3

    def get_layer_depth(
        self,
        param_name: str,
        prefix: str = '',
        num_layers: Optional[int] = None,
        decay_type: str = 'layer_wise',
    ) -> tuple[int, int]:
        """Group id of a parameter for layer-wise lr decay, and the number of groups.

        The official ConvNeXt definition (4 stages), stated for any number of stages
        ``S``: with ``N = num_layers + 2`` groups, ``layer_wise`` puts the stem in 0;
        stage ``s`` before the deep stage ``S - 2`` (and the downsample layer into it)
        in ``s + 1``; the deep stage's blocks in threes from ``S - 1`` (``3 + j // 3``
        for ConvNeXt's stage 2); the last stage and its downsample layer in
        ``num_layers``. ``stage_wise`` puts the stem and all downsample layers in 0 and
        stage ``s`` in ``s + 1``. Output norms and everything outside ``prefix`` (neck,
        heads) are in ``N - 1``. A single-stage backbone has its stage in ``num_layers``.
        ``block_wise`` is ConvNeXt V2's ``'single'`` fine-tuning decay: every block its own
        group, ``sum(depths[:s]) + j + 1`` for block ``j`` of stage ``s``, each downsample
        layer (the stem too) in its stage's first block's group; ``num_layers`` defaults
        to the number of blocks (so the last block is ``N - 2`` and the head ``N - 1``).

        Args:
            param_name: the parameter's name in the model being optimised.
            prefix: the backbone's prefix in that model (``'backbone.'``).
            num_layers: default :meth:`default_num_layers`.
            decay_type: ``'layer_wise'``, ``'stage_wise'`` or ``'block_wise'``.

        Returns:
            (group id, number of groups ``N``)
        """
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'decay_type must be one of {DECAY_TYPES}, got {decay_type!r}')
        if num_layers is None:
            num_layers = sum(self.depths) if decay_type == 'block_wise' else self.default_num_layers()
        needed = self.min_num_layers(decay_type)
        if num_layers < needed:
            raise ValueError(
                f'{decay_type} layer decay over num_layers={num_layers} groups is too few for this backbone '
                f'(depths {list(self.depths)}): its parameters need group ids up to {needed}, and a group above '
                f'num_layers would get an lr scale above 1; give num_layers >= {needed}'
            )
        num_groups = num_layers + 2
        if not param_name.startswith(prefix):
            return num_groups - 1, num_groups
        if decay_type == 'block_wise':
            return self._block_wise_depth(param_name[len(prefix) :].split('.'), num_layers), num_groups
        last = self.num_stages - 1
        deep = self.num_stages - 2  # the stage that holds most blocks (ConvNeXt's stage 2 of 4)
        parts = param_name[len(prefix) :].split('.')
        if parts[0] == 'downsample_layers':
            stage_id = int(parts[1])
            if decay_type == 'stage_wise' or stage_id == 0:
                return 0, num_groups
            return (stage_id + 1 if stage_id < last else num_layers), num_groups
        if parts[0] == 'stages':
            stage_id, block_id = int(parts[1]), int(parts[2])
            if decay_type == 'stage_wise' or stage_id < deep:
                return stage_id + 1, num_groups
            return (deep + 1 + block_id // 3 if stage_id == deep else num_layers), num_groups
        return num_groups - 1, num_groups

    def min_num_layers(self, decay_type: str = 'layer_wise') -> int:
        """The smallest ``num_layers`` :meth:`get_layer_depth` accepts for ``decay_type``: the highest group id
        it gives a backbone parameter (every block for ``block_wise``, every stage for ``stage_wise``, the deep
        stage's last group of three for ``layer_wise``)."""
        if decay_type == 'block_wise':
            return sum(self.depths)
        if decay_type == 'stage_wise':
            return self.num_stages
        if self.num_stages < 2:
            return 1
        deep = self.num_stages - 2
        return deep + 1 + (self.depths[deep] - 1) // 3

    def _block_wise_depth(self, parts: list, num_layers: int) -> int:
        if parts[0] in ('downsample_layers', 'stages'):
            stage_id = int(parts[1])
            block_id = int(parts[2]) if parts[0] == 'stages' else 0
            return sum(self.depths[:stage_id]) + block_id + 1
        return num_layers + 1  # output norms: with the head

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Default init, then (when ``init_cfg`` holds a ``Pretrained`` entry) load that
        checkpoint in any supported format; unmatched parameters keep the default init."""
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = [c for c in cfgs if isinstance(c, dict) and c.get('type') == 'Pretrained']
        if not pretrained:
            super().init_weights()
            return
        if len(pretrained) > 1:
            raise ValueError(f'init_cfg holds {len(pretrained)} Pretrained entries; give one')
        user_init_cfg = self.init_cfg
        self.init_cfg = [c for c in cfgs if c is not pretrained[0] and c] or default_init_cfg()
        try:
            super().init_weights()
        finally:
            self.init_cfg = user_init_cfg
        cfg = pretrained[0]
        if 'checkpoint' not in cfg:
            raise KeyError("init_cfg of type 'Pretrained' needs a 'checkpoint' (path or URL)")
        load_pretrained(
            self,
            cfg['checkpoint'],
            prefix=cfg.get('prefix'),
            map_location=cfg.get('map_location', 'cpu'),
            logger=MMLogger.get_current_instance(),
        )
