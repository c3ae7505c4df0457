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

from types import MappingProxyType
from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.model import Sequential

from mmconvnext.registry import MODELS

from ..layers import GRN, LayerNorm2d, build_norm_layer, compute_path, onednn, path_select
from .base import StagedBackbone

ArchSpec = Mapping[str, Sequence[int]]

#: depths (blocks per stage) and channels (width per stage) of every named arch.
#: ``huge`` is a ConvNeXt V2 arch (build it with ``use_grn=True``).
ARCH_SETTINGS: Mapping[str, ArchSpec] = MappingProxyType(
    {
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
    }
)


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

    One forward (:meth:`_forward`): the depthwise conv and norm, then the block's MLP
    (pointwise layers, activation, GRN, layer scale, drop path and the residual) in the
    implementation :func:`~mmconvnext.models.layers.compute_path.block_path` picks for the
    call: plain ops, oneDNN (fused in inference) or recomputed in backward. The layers
    keep their names on every path (``pointwise_conv1``, ``act``, ``grn``,
    ``pointwise_conv2``, ``gamma``): they are the checkpoint contract.

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
        onednn_cpu: on CPU (fp32), the pointwise layers through oneDNN, fused with the
            GELU and (in inference) with layer scale and the residual add (see
            :mod:`mmconvnext.models.layers.onednn`): ``'auto'`` (default) where a one-off
            measurement on this machine found it faster than the plain ops for the shape
            (:mod:`mmconvnext.models.layers.path_select`), ``True`` always, ``False`` never
            (plain ops on every path, ``with_cp`` included). Same results up to summation
            order; GPUs and other dtypes take the plain path.
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
        onednn_cpu: Union[bool, str] = 'auto',
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
            raise KeyError(f'act_cfg type {act_cfg["type"]!r} is not registered (try GELU, ReLU)')
        self.act = act_cls(**{k: v for k, v in act_cfg.items() if k != 'type'})
        self.grn = GRN(mid_channels) if use_grn else None
        self.gamma = (
            nn.Parameter(torch.full((in_channels,), float(layer_scale_init_value)))
            if layer_scale_init_value > 0
            else None
        )
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        # 1x1-conv pointwise layers have no oneDNN path; onednn_cpu: whether oneDNN may run
        self.cpu_path = path_select.parse_mode(onednn_cpu) if linear_pw_conv else 'plain'
        self.onednn_cpu = self.cpu_path != 'plain'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        path = compute_path.block_path(self, x)
        if path.recompute == 'block':
            # Non-reentrant checkpointing also recomputes blocks whose input does not
            # require grad (e.g. right after frozen stages) and keeps parameter grads.
            # The path is fixed here, so the recomputation replays the same kernels.
            return cp.checkpoint(self._forward, x, path, use_reentrant=False)
        return self._forward(x, path)

    def _forward(self, x: torch.Tensor, path: compute_path.BlockPath) -> torch.Tensor:
        """The block on ``path``: depthwise conv and norm, then the MLP and the residual."""
        shortcut = x
        x = compute_path.depthwise_conv(self.depthwise_conv, x, path)
        channels_last = self.linear_pw_conv  # nn.Linear works on the last dimension
        if channels_last:
            x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = _apply_norm(self.norm, x, channels_last)
        if path.recompute == 'mlp':
            return self._recomputed_mlp(x, shortcut, path.onednn)
        if path.onednn:
            return self._onednn_mlp(x, shortcut, path.fused)
        return self._plain_mlp(x, shortcut)

    # ------------------------------------------------------------------ MLP implementations
    # Each maps the normalised depthwise-conv output (channels-last for Linear pointwise
    # layers) and the block input to the block output.
    def _plain_mlp(self, x: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        channels_last = self.linear_pw_conv
        x = self.act(self.pointwise_conv1(x))
        if self.grn is not None:
            x = self.grn(x, data_format='channel_last' if channels_last else 'channel_first')
        return self._residual(shortcut, self.pointwise_conv2(x), channels_last)

    def _onednn_mlp(self, x: torch.Tensor, shortcut: torch.Tensor, fused: bool) -> torch.Tensor:
        """The plain MLP (Linear pointwise layers) with its products on oneDNN; ``fused``:
        the second one, layer scale and the residual in one kernel."""
        fc1, fc2 = self.pointwise_conv1, self.pointwise_conv2
        if compute_path.exact_gelu(self.act):
            x = onednn.linear_gelu(x, fc1.weight, fc1.bias)
        else:
            x = self.act(onednn.linear(x, fc1.weight, fc1.bias))
        if self.grn is not None:
            x = self.grn(x, data_format='channel_last')
        if fused:
            weight, bias = self._fc2_with_layer_scale()
            x = onednn.linear_add(x, weight, bias, shortcut.permute(0, 2, 3, 1))
            return x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W), channels-last memory
        return self._residual(shortcut, onednn.linear(x, fc2.weight, fc2.bias), True)

    def _recomputed_mlp(self, x: torch.Tensor, shortcut: torch.Tensor, use_onednn: bool) -> torch.Tensor:
        """Selective checkpointing: the pointwise layers keep only their input for the
        backward pass and recompute ``fc1`` + GELU there (the 4C-wide activations are two
        thirds of what a block stores; ``fc1`` is a third of its FLOPs)."""
        fc1, fc2 = self.pointwise_conv1, self.pointwise_conv2
        y = onednn.mlp_recompute(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias, use_onednn=use_onednn)
        return self._residual(shortcut, y, True)

    def _residual(self, shortcut: torch.Tensor, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
        """Layer scale, drop path and the residual add for the MLP's output ``x``,
        (N, H, W, C) if ``channels_last`` else NCHW; the result is (N, C, H, W)."""
        if self.gamma is not None:
            x = x * (self.gamma if channels_last else self.gamma.view(1, -1, 1, 1))
        if channels_last:
            x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        return shortcut + self.drop_path(x)

    def _fc2_with_layer_scale(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``pointwise_conv2`` with the layer scale folded in (inference). Folded on every
        call: a weight-sized product (well under 1% of the layer's FLOPs), and no cache
        that a fused optimizer step (which does not bump tensor versions) could leave stale."""
        w, b, g = self.pointwise_conv2.weight, self.pointwise_conv2.bias, self.gamma
        if g is None:
            return w, b
        return w * g[:, None], b * g


@MODELS.register_module()
class ConvNeXt(StagedBackbone):
    """ConvNeXt V1/V2 backbone with multi-scale outputs.

    The forward loop, frozen stages, layer-wise lr decay (``get_layer_depth``) and
    pretrained loading are :class:`~mmconvnext.models.backbones.base.StagedBackbone`'s;
    this class builds the patchify stem, the downsampling layers and the blocks. Any
    number of stages works (``arch`` as a dict).

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
            residual where no gradient is needed (:class:`ConvNeXtBlock`): ``'auto'``
            (default) per block shape and mode (inference/training) where a one-off
            measurement on this machine found it faster than the plain ops (cached per
            machine; ``$MMCONVNEXT_CPU_PATH=onednn|plain`` decides for every backbone left at
            ``'auto'``), ``True`` always, ``False`` the plain eager ops.
        dw_kernel_size: side of the blocks' depthwise kernels (the paper's 7; odd, padded
            to keep the size). For ablations such as ``tools/analysis/ablate.py``.
        mlp_ratio: the blocks' hidden width over their width (4: the inverted
            bottleneck; 1 turns it off).
        output_stride: the largest stride of any output (None: no limit, 32 for four
            stages). Smaller (8 or 16 for DeepLab-style heads), the downsampling layers
            that would exceed it keep their 2x2 conv at stride 1 ("same" padding) and the
            depthwise convs of their stages are dilated to keep the receptive field, as
            timm's ``output_stride``: the parameters keep their shapes, so every checkpoint
            loads unchanged. ``out_strides`` of four stages: 4/8/16/16 for 16, 4/8/8/8 for 8.
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=...,
            prefix='backbone.')`` loads official, timm, mmpretrain or mmconvnext
            checkpoints, detecting the format (see ``mmconvnext.checkpoint``).

    Attributes:
        out_channels (tuple[int]): channels of each returned output.
        out_strides (tuple[int]): stride of each returned output w.r.t. the input.
        depths, channels, num_stages, out_indices: see
            :class:`~mmconvnext.models.backbones.base.StagedBackbone`.
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
        onednn_cpu: Union[bool, str] = 'auto',
        dw_kernel_size: int = 7,
        mlp_ratio: float = 4.0,
        output_stride: Optional[int] = None,
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        arch_depths, arch_channels = self._parse_arch(arch)
        if not isinstance(stem_patch_size, int) or stem_patch_size < 1:
            raise ValueError(f'stem_patch_size must be a positive int, got {stem_patch_size!r}')
        if not isinstance(dw_kernel_size, int) or dw_kernel_size < 1 or dw_kernel_size % 2 == 0:
            raise ValueError(f'dw_kernel_size must be a positive odd int, got {dw_kernel_size!r}')
        if not mlp_ratio > 0:
            raise ValueError(f'mlp_ratio must be positive, got {mlp_ratio!r}')
        super().__init__(
            arch_depths,
            arch_channels,
            stem_stride=stem_patch_size,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            drop_path_rate=drop_path_rate,
            layer_scale_init_value=layer_scale_init_value,
            gap_before_final_norm=gap_before_final_norm,
            init_cfg=init_cfg,
        )
        norm_cfg = dict(type='LN2d', eps=1e-6) if norm_cfg is None else dict(norm_cfg)
        act_cfg = dict(type='GELU') if act_cfg is None else dict(act_cfg)
        dilations = self._stage_dilations(stem_patch_size, output_stride)
        self.output_stride = output_stride
        self.stage_dilations = tuple(d for d, _ in dilations)
        self.out_strides = tuple(stem_patch_size * 2**i // self.stage_dilations[i] for i in self.out_indices)
        self.use_grn = use_grn
        self.cpu_path = path_select.parse_mode(onednn_cpu) if linear_pw_conv else 'plain'
        self.onednn_cpu = self.cpu_path != 'plain'

        stages = enumerate(zip(self.channels, self._drop_path_rates(drop_path_rate), dilations))
        for i, (channels, rates, (dilation, entry_dilation)) in stages:
            if i == 0:  # patchify stem: (N, in, H, W) -> (N, C0, H/p, W/p)
                downsample = Sequential(
                    nn.Conv2d(in_channels, channels, kernel_size=stem_patch_size, stride=stem_patch_size),
                    build_norm_layer(norm_cfg, channels),
                )
            elif dilation == 1:  # separate downsampling layer: norm, then 2x2 conv stride 2
                downsample = Sequential(
                    build_norm_layer(norm_cfg, self.channels[i - 1]),
                    nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, stride=2),
                )
            else:  # past output_stride: the same 2x2 conv at stride 1, at the previous stage's dilation
                # "same" padding: one pixel after the map for dilation 1 (PyTorch's 'same'), d / 2 on each side
                # for an even d (explicit: ONNX runtimes refuse auto_pad with dilation)
                padding = entry_dilation // 2 if entry_dilation % 2 == 0 else 'same'
                downsample = Sequential(
                    build_norm_layer(norm_cfg, self.channels[i - 1]),
                    nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, dilation=entry_dilation, padding=padding),
                )
            blocks = [
                ConvNeXtBlock(
                    channels,
                    dw_conv_cfg=dict(
                        kernel_size=dw_kernel_size, padding=dilation * (dw_kernel_size // 2), dilation=dilation
                    ),
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    mlp_ratio=mlp_ratio,
                    linear_pw_conv=linear_pw_conv,
                    drop_path_rate=rate,
                    layer_scale_init_value=layer_scale_init_value,
                    use_grn=use_grn,
                    with_cp=with_cp,
                    onednn_cpu=onednn_cpu,
                )
                for rate in rates
            ]
            self._add_stage(downsample, blocks, lambda c=channels: build_norm_layer(norm_cfg, c))

    def _stage_dilations(self, stem_stride: int, output_stride: Optional[int]) -> list[tuple[int, int]]:
        """Per stage, the dilation of its depthwise convs and that of its downsample conv
        (the previous stage's): 1 until the stride would pass ``output_stride``, then
        doubling where a downsampling layer would have halved the map (timm's rule)."""
        strides = [stem_stride * 2**i for i in range(self.num_stages)]
        if output_stride is None:
            return [(1, 1)] * self.num_stages
        if output_stride not in strides[1:]:
            raise ValueError(
                f'output_stride must be one of {strides[1:]} for this backbone (stem stride {stem_stride}, '
                f'{self.num_stages} stages) or None, got {output_stride!r}'
            )
        dilations = [(max(s // output_stride, 1), max(s // output_stride // 2, 1)) for s in strides]
        return dilations

    @classmethod
    def _parse_arch(cls, arch: Union[str, ArchSpec]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(
                    f'Unknown ConvNeXt arch {arch!r}; choose one of {sorted(cls.arch_settings)} '
                    "or pass a dict with 'depths' and 'channels'"
                )
            arch = cls.arch_settings[arch]
        if not isinstance(arch, Mapping) or not {'depths', 'channels'} <= set(arch):
            raise ValueError(f"arch must be a name or a dict with 'depths' and 'channels', got {arch!r}")
        depths, channels = tuple(arch['depths']), tuple(arch['channels'])
        if len(depths) != len(channels) or not depths:
            raise ValueError(
                f"arch 'depths' {depths} and 'channels' {channels} must be non-empty and of the same length"
            )
        if not all(isinstance(v, int) and v > 0 for v in depths + channels):
            raise ValueError(f'arch depths/channels must be positive ints, got {depths}/{channels}')
        return depths, channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, in_channels, H, W) -> tuple of (N, C_i, H/s_i, W/s_i), or (N, C_i) with
        ``gap_before_final_norm``, for each i in ``out_indices``. On the blocks' oneDNN
        path the stages run in channels-last memory (dense outputs still leave as
        contiguous NCHW)."""
        if compute_path.channels_last_memory(self.cpu_path, x):
            x = x.contiguous(memory_format=torch.channels_last)
        return super().forward(x)
