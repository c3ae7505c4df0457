"""ConvNeXt V1/V2 backbone: the one implementation every task of mmconvnext uses.

Papers:
    Liu et al., "A ConvNet for the 2020s", CVPR 2022, https://arxiv.org/abs/2201.03545
    Woo et al., "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked
    Autoencoders", CVPR 2023, https://arxiv.org/abs/2301.00808 (``use_grn=True``,
    ``layer_scale_init_value=0``).

Layout and constructor arguments match ``mmpretrain.models.backbones.ConvNeXt`` so an
mmdet/mmseg config written for ``mmpretrain.ConvNeXt`` only changes ``type`` and
``custom_imports``, and mmdet's/mmseg's ``LearningRateDecayOptimizerConstructor``
recognise it (class name containing ``ConvNeXt``; modules ``downsample_layers`` and
``stages``). That is also why downsampling layers live in ``downsample_layers`` rather
than inside their stage as in timm: their parameter names are a public contract.
"""
from itertools import chain
from types import MappingProxyType
from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.logging import MMLogger
from mmengine.model import BaseModule, ModuleList, Sequential

from mmconvnext.registry import MODELS

from ..layers import GRN, LayerNorm2d, build_norm_layer, onednn

ArchSpec = Mapping[str, Sequence[int]]

#: depths (blocks per stage) and channels (width per stage) of every named arch.
#: ``huge`` is a ConvNeXt V2 arch (build it with ``use_grn=True``).
ARCH_SETTINGS: Mapping[str, ArchSpec] = MappingProxyType({
    'atto': MappingProxyType({'depths': (2, 2, 6, 2), 'channels': (40, 80, 160, 320)}),
    'femto': MappingProxyType({'depths': (2, 2, 6, 2), 'channels': (48, 96, 192, 384)}),
    'pico': MappingProxyType({'depths': (2, 2, 6, 2), 'channels': (64, 128, 256, 512)}),
    'nano': MappingProxyType({'depths': (2, 2, 8, 2), 'channels': (80, 160, 320, 640)}),
    'tiny': MappingProxyType({'depths': (3, 3, 9, 3), 'channels': (96, 192, 384, 768)}),
    'small': MappingProxyType({'depths': (3, 3, 27, 3), 'channels': (96, 192, 384, 768)}),
    'base': MappingProxyType({'depths': (3, 3, 27, 3), 'channels': (128, 256, 512, 1024)}),
    'large': MappingProxyType({'depths': (3, 3, 27, 3), 'channels': (192, 384, 768, 1536)}),
    'xlarge': MappingProxyType({'depths': (3, 3, 27, 3), 'channels': (256, 512, 1024, 2048)}),
    'huge': MappingProxyType({'depths': (3, 3, 27, 3), 'channels': (352, 704, 1408, 2816)}),
})

DECAY_TYPES = ('layer_wise', 'stage_wise')


def _default_init_cfg() -> list:
    return [
        dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=0.02, bias=0.0),
        dict(type='Constant', layer=['LayerNorm'], val=1.0, bias=0.0),
    ]


def _apply_norm(norm: nn.Module, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Apply ``norm`` to ``x`` laid out as (N, H, W, C) if ``channels_last`` else NCHW."""
    if isinstance(norm, LayerNorm2d):
        return norm(x, data_format='channel_last' if channels_last else 'channel_first')
    if isinstance(norm, nn.LayerNorm):  # normalises the last dim only
        if channels_last:
            return norm(x)
        return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    if channels_last:  # BN, GN, ...: channels-first modules
        return norm(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    return norm(x)


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> norm -> pw 4C -> act [-> GRN] -> pw C [-> layer scale] -> drop path, + x.

    Args:
        in_channels: channels ``C`` of input and output.
        dw_conv_cfg: keyword arguments of the depthwise conv (default 7x7, padding 3).
        norm_cfg: norm after the depthwise conv (default ``LN2d``, eps 1e-6).
        act_cfg: activation between the pointwise layers (default GELU).
        mlp_ratio: hidden width of the pointwise layers over ``C``.
        linear_pw_conv: pointwise layers as ``nn.Linear`` on (N, H, W, C) (the
            official layout) or as 1x1 ``nn.Conv2d`` on NCHW.
        drop_path_rate: stochastic depth probability of this block.
        layer_scale_init_value: initial layer scale; 0 disables it (V2).
        use_grn: add Global Response Normalization after the activation (V2).
        with_cp: save memory in training by recomputing in the backward pass: only the
            expansion (``fc1`` + GELU) for Linear pointwise layers with exact GELU and no
            GRN (selective checkpointing), else the whole block.
        onednn_cpu: on CPU (fp32), run the pointwise layers through oneDNN: about twice
            MKL's speed here, fused with the GELU and (in inference) with layer scale and
            the residual add (see :mod:`mmconvnext.models.layers.onednn`). Same results
            up to summation order; GPUs and other dtypes take the plain path.
    """

    def __init__(
        self,
        in_channels: int,
        dw_conv_cfg: Optional[dict] = None,
        norm_cfg: Optional[dict] = None,
        act_cfg: Optional[dict] = None,
        mlp_ratio: float = 4.0,
        linear_pw_conv: bool = True,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        use_grn: bool = False,
        with_cp: bool = False,
        onednn_cpu: bool = True,
    ) -> None:
        super().__init__()
        dw_conv_cfg = dict(kernel_size=7, padding=3) if dw_conv_cfg is None else dw_conv_cfg
        norm_cfg = dict(type='LN2d', eps=1e-6) if norm_cfg is None else norm_cfg
        act_cfg = dict(type='GELU') if act_cfg is None else act_cfg
        self.with_cp = with_cp
        self.linear_pw_conv = linear_pw_conv

        self.depthwise_conv = nn.Conv2d(in_channels, in_channels, groups=in_channels, **dw_conv_cfg)
        self.norm = build_norm_layer(norm_cfg, in_channels)
        mid_channels = int(mlp_ratio * in_channels)
        if linear_pw_conv:
            self.pointwise_conv1 = nn.Linear(in_channels, mid_channels)
            self.pointwise_conv2 = nn.Linear(mid_channels, in_channels)
        else:
            self.pointwise_conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1)
            self.pointwise_conv2 = nn.Conv2d(mid_channels, in_channels, kernel_size=1)
        act_cls = MODELS.get(act_cfg['type'])
        if act_cls is None:
            raise KeyError(f"act_cfg type {act_cfg['type']!r} is not registered (try GELU, ReLU)")
        self.act = act_cls(**{k: v for k, v in act_cfg.items() if k != 'type'})
        self.grn = GRN(mid_channels) if use_grn else None
        self.gamma = (
            nn.Parameter(torch.full((in_channels,), float(layer_scale_init_value)))
            if layer_scale_init_value > 0
            else None
        )
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.onednn_cpu = onednn_cpu and linear_pw_conv
        self._exact_gelu = isinstance(self.act, nn.GELU) and self.act.approximate == 'none'

    def _fc2_with_layer_scale(self) -> tuple:
        """``pointwise_conv2`` with the layer scale folded in (inference). Folded on every
        call: a weight-sized product (well under 1% of the layer's FLOPs), and no cache
        that a fused optimizer step (which does not bump tensor versions) could leave stale."""
        w, b, g = self.pointwise_conv2.weight, self.pointwise_conv2.bias, self.gamma
        if g is None:
            return w, b
        return w * g[:, None], b * g

    def _dwconv_norm(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise conv and norm: (N, C, H, W) -> normalised (N, H, W, C)."""
        return _apply_norm(self.norm, self.depthwise_conv(x).permute(0, 2, 3, 1), True)

    def _scale_and_add(self, shortcut: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Layer scale, drop path and the residual for an (N, H, W, C) branch output."""
        if self.gamma is not None:
            x = x * self.gamma
        return shortcut + self.drop_path(x.permute(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)

    def _onednn_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same computation as :meth:`_plain_forward` (``linear_pw_conv``) with the
        pointwise layers on oneDNN; in inference also fused with GELU, layer scale and
        the residual."""
        shortcut = x
        x = self._dwconv_norm(x)
        inference = not (torch.is_grad_enabled() and (x.requires_grad or self.pointwise_conv1.weight.requires_grad))
        fc1, fc2 = self.pointwise_conv1, self.pointwise_conv2
        if self._exact_gelu:
            x = onednn.linear_gelu(x, fc1.weight, fc1.bias)
        else:
            x = self.act(onednn.linear(x, fc1.weight, fc1.bias))
        if self.grn is not None:
            x = self.grn(x, data_format='channel_last')
        if inference and (not self.training or isinstance(self.drop_path, nn.Identity)):
            weight, bias = self._fc2_with_layer_scale()
            x = onednn.linear_add(x, weight, bias, shortcut.permute(0, 2, 3, 1))
            return x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W), channels-last memory
        return self._scale_and_add(shortcut, onednn.linear(x, fc2.weight, fc2.bias))

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.onednn_cpu and onednn.available(x):
            return self._onednn_forward(x)
        return self._plain_forward(x)

    def _plain_forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.depthwise_conv(x)
        channels_last = self.linear_pw_conv  # nn.Linear works on the last dimension
        if channels_last:
            x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = _apply_norm(self.norm, x, channels_last)
        x = self.act(self.pointwise_conv1(x))
        if self.grn is not None:
            x = self.grn(x, data_format='channel_last' if channels_last else 'channel_first')
        x = self.pointwise_conv2(x)
        if self.gamma is not None:
            x = x * (self.gamma if channels_last else self.gamma.view(1, -1, 1, 1))
        if channels_last:
            x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        return shortcut + self.drop_path(x)

    def _recomputed_mlp_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Selective checkpointing: as :meth:`_plain_forward`, but the pointwise layers
        keep only their input for the backward pass and recompute ``fc1`` + GELU there
        (the 4C-wide activations are two thirds of what a block stores; ``fc1`` is a
        third of its FLOPs)."""
        fc1, fc2 = self.pointwise_conv1, self.pointwise_conv2
        y = onednn.mlp_recompute(self._dwconv_norm(x), fc1.weight, fc1.bias, fc2.weight, fc2.bias,
                                 use_onednn=self.onednn_cpu)
        return self._scale_and_add(x, y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and self.training and torch.is_grad_enabled():
            if self.linear_pw_conv and self._exact_gelu and self.grn is None:
                return self._recomputed_mlp_forward(x)
            # Non-reentrant checkpointing also recomputes blocks whose input does not
            # require grad (e.g. right after frozen stages) and keeps parameter grads.
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class ConvNeXt(BaseModule):
    """ConvNeXt V1/V2 backbone with multi-scale outputs.

    Args:
        arch: a name in ``ConvNeXt.arch_settings`` (atto, femto, pico, nano, tiny,
            small, base, large, xlarge, huge) or a dict with ``depths`` and
            ``channels`` (sequences of equal length).
        in_channels: channels of the input image.
        stem_patch_size: kernel and stride of the patchify stem.
        norm_cfg: norm layers (default ``dict(type='LN2d', eps=1e-6)``).
        act_cfg: activation inside blocks (default ``dict(type='GELU')``).
        linear_pw_conv: pointwise layers as ``nn.Linear`` (official) or 1x1 convs.
        use_grn: Global Response Normalization in every block (ConvNeXt V2).
        drop_path_rate: stochastic depth rate of the last block; it grows linearly
            from 0 over all blocks.
        layer_scale_init_value: initial layer scale (1e-6 for classification, 1.0 in
            the dense-prediction configs, 0 to disable as in V2).
        out_indices: stages whose outputs are returned (int or sequence; negative
            indices count from the last stage). Each gets its own norm ``norm{i}``.
        frozen_stages: freeze the stem/downsample layers and blocks of the first
            ``frozen_stages`` stages (0 or -1: none). They stay in eval mode and get no
            gradient, also after ``train()``.
        gap_before_final_norm: global-average-pool each output before its norm and
            return ``(N, C)`` vectors (classification); else ``(N, C, H, W)`` maps.
        with_cp: activation checkpointing of every block (same outputs and
            gradients, less memory, more time): V1 blocks recompute only their
            expansion layer and GELU (the 4C-wide activations), others the whole block.
        onednn_cpu: on CPU (fp32), keep activations in channels-last memory and run the
            blocks' pointwise layers through oneDNN, fused with GELU, layer scale and the
            residual where no gradient is needed (:class:`ConvNeXtBlock`). On by
            default; ``False`` gives the plain eager ops.
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')`` loads official, timm, mmpretrain or mmconvnext
            checkpoints, detecting the format (see ``mmconvnext.checkpoint``).

    Attributes:
        out_channels (tuple[int]): channels of each returned output.
        out_strides (tuple[int]): stride of each returned output w.r.t. the input.
    """

    arch_settings = ARCH_SETTINGS

    def __init__(
        self,
        arch: Union[str, ArchSpec] = 'tiny',
        in_channels: int = 3,
        stem_patch_size: int = 4,
        norm_cfg: Optional[dict] = None,
        act_cfg: Optional[dict] = None,
        linear_pw_conv: bool = True,
        use_grn: bool = False,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        out_indices: Union[int, Sequence[int]] = -1,
        frozen_stages: int = 0,
        gap_before_final_norm: bool = True,
        with_cp: bool = False,
        onednn_cpu: bool = True,
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg=_default_init_cfg() if init_cfg is None else init_cfg)
        norm_cfg = dict(type='LN2d', eps=1e-6) if norm_cfg is None else dict(norm_cfg)
        act_cfg = dict(type='GELU') if act_cfg is None else dict(act_cfg)

        self.depths, self.channels = self._parse_arch(arch)
        self.num_stages = len(self.depths)
        self.out_indices = self._parse_out_indices(out_indices, self.num_stages)
        self.frozen_stages = self._check_args(self.num_stages, frozen_stages, drop_path_rate, layer_scale_init_value)
        if not isinstance(stem_patch_size, int) or stem_patch_size < 1:
            raise ValueError(f'stem_patch_size must be a positive int, got {stem_patch_size!r}')
        self.gap_before_final_norm = gap_before_final_norm
        self.use_grn = use_grn
        self.onednn_cpu = onednn_cpu and linear_pw_conv
        self.out_channels = tuple(self.channels[i] for i in self.out_indices)
        self.out_strides = tuple(stem_patch_size * 2**i for i in self.out_indices)

        num_blocks = sum(self.depths)  # drop path grows linearly from 0 to the rate
        dpr = [drop_path_rate * j / max(num_blocks - 1, 1) for j in range(num_blocks)]
        self.downsample_layers = ModuleList()
        self.stages = ModuleList()
        block_idx = 0
        for i, (depth, channels) in enumerate(zip(self.depths, self.channels)):
            if i == 0:  # patchify stem: (N, in, H, W) -> (N, C0, H/p, W/p)
                downsample = Sequential(
                    nn.Conv2d(in_channels, channels, kernel_size=stem_patch_size, stride=stem_patch_size),
                    build_norm_layer(norm_cfg, channels),
                )
            else:  # separate downsampling layer: norm, then 2x2 conv stride 2
                downsample = Sequential(
                    build_norm_layer(norm_cfg, self.channels[i - 1]),
                    nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, stride=2),
                )
            self.downsample_layers.append(downsample)
            self.stages.append(
                Sequential(*[
                    ConvNeXtBlock(
                        channels,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                        linear_pw_conv=linear_pw_conv,
                        drop_path_rate=dpr[block_idx + j],
                        layer_scale_init_value=layer_scale_init_value,
                        use_grn=use_grn,
                        with_cp=with_cp,
                        onednn_cpu=onednn_cpu,
                    )
                    for j in range(depth)
                ])
            )
            block_idx += depth
            if i in self.out_indices:
                self.add_module(f'norm{i}', build_norm_layer(norm_cfg, channels))
        self._freeze_stages()

    # ------------------------------------------------------------------ arguments
    @classmethod
    def _parse_arch(cls, arch) -> tuple:
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(
                    f'Unknown ConvNeXt arch {arch!r}; choose one of {sorted(cls.arch_settings)} '
                    "or pass a dict with 'depths' and 'channels'"
                )
            arch = cls.arch_settings[arch]
        if not isinstance(arch, Mapping) or not {'depths', 'channels'} <= set(arch):
            raise ValueError(
                "arch must be a name or a dict with 'depths' and 'channels', "
                f'got {arch!r}'
            )
        depths, channels = tuple(arch['depths']), tuple(arch['channels'])
        if len(depths) != len(channels) or not depths:
            raise ValueError(
                f"arch 'depths' {depths} and 'channels' {channels} must be non-empty and "
                'of the same length'
            )
        if not all(isinstance(v, int) and v > 0 for v in depths + channels):
            raise ValueError(f'arch depths/channels must be positive ints, got {depths}/{channels}')
        return depths, channels

    @staticmethod
    def _check_args(num_stages: int, frozen_stages: int, drop_path_rate: float,
                    layer_scale_init_value: float) -> int:
        """Check the arguments every backbone of this family takes; the stages to freeze."""
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
    def _parse_out_indices(out_indices, num_stages: int) -> tuple:
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

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> tuple:
        """(N, in_channels, H, W) -> tuple of (N, C_i, H/s_i, W/s_i), or (N, C_i) with
        ``gap_before_final_norm``, for each i in ``out_indices``."""
        outs = []
        if self.onednn_cpu and onednn.available(x):
            # channels-last memory end to end: the blocks' (N, C, H, W) <-> (N, H, W, C)
            # permutes become free views and the residual is the fused add's operand
            x = x.contiguous(memory_format=torch.channels_last)
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
    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            for module in (self.downsample_layers[i], self.stages[i]):
                module.eval()
            for param in chain(self.downsample_layers[i].parameters(), self.stages[i].parameters()):
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'ConvNeXt':
        super().train(mode)
        self._freeze_stages()
        return self

    # ------------------------------------------------------------------ layer decay
    def get_layer_depth(
        self,
        param_name: str,
        prefix: str = '',
        num_layers: Optional[int] = None,
        decay_type: str = 'layer_wise',
    ) -> tuple:
        """Group id of a parameter for layer-wise lr decay, and the number of groups.

        Follows the official ConvNeXt definition (FACTS.md): with ``N = num_layers + 2``
        groups, ``layer_wise`` puts the stem in 0, downsample layer i and stages 0/1 at
        their stage (``i + 1``), stage-2 blocks in groups of three (``3 + j // 3``) and
        stage 3 (and its downsample layer) at ``num_layers``; ``stage_wise`` puts the
        stem and all downsample layers in 0 and stage s in ``s + 1``. Output norms and
        everything outside ``prefix`` (neck, heads) are in ``N - 1``.

        Args:
            param_name: the parameter's name in the model being optimised.
            prefix: the backbone's prefix in that model (``'backbone.'``).
            num_layers: default 12 when stage 2 is deeper than 9 blocks, else 6 (as
                mmpretrain's ``get_layer_depth``).
            decay_type: ``'layer_wise'`` or ``'stage_wise'``.

        Returns:
            (group id, number of groups ``N``)
        """
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'decay_type must be one of {DECAY_TYPES}, got {decay_type!r}')
        if num_layers is None:
            num_layers = 12 if self.depths[-2] > 9 else 6
        num_groups = num_layers + 2
        if not param_name.startswith(prefix):
            return num_groups - 1, num_groups
        parts = param_name[len(prefix):].split('.')
        if parts[0] == 'downsample_layers':
            stage_id = int(parts[1])
            if decay_type == 'stage_wise' or stage_id == 0:
                return 0, num_groups
            return (stage_id + 1 if stage_id < 3 else num_layers), num_groups
        if parts[0] == 'stages':
            stage_id, block_id = int(parts[1]), int(parts[2])
            if decay_type == 'stage_wise' or stage_id < 2:
                return stage_id + 1, num_groups
            return (3 + block_id // 3 if stage_id == 2 else num_layers), num_groups
        return num_groups - 1, num_groups

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
        from mmconvnext.checkpoint import load_pretrained  # avoid an import cycle

        user_init_cfg = self.init_cfg
        self.init_cfg = [c for c in cfgs if c is not pretrained[0] and c] or _default_init_cfg()
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
