"""The modernization roadmap of "A ConvNet for the 2020s" (Liu et al., CVPR 2022,
section 2, https://arxiv.org/abs/2201.03545): ResNet-50 turned into ConvNeXt-T one
design decision at a time, as one parametrized backbone family.

:class:`RoadmapNet` takes every decision of the paper's section 2 as an option
(:class:`RoadmapDesign`), and ``ROADMAP_STEPS`` names the paper's ladder::

    resnet50 -> stage_ratio -> patchify_stem -> depthwise -> inverted_bottleneck
    -> move_up_dwconv -> kernel_5 -> kernel_7 (-> kernel_9 -> kernel_11: the sweep)
    kernel_7 -> gelu -> fewer_activations -> fewer_norms -> layernorm
    -> separate_downsampling (= ConvNeXt-T)

Each step changes only the options its name says relative to its parent step. The
first step is torchvision's ResNet-50 (v1.5: stride in the 3x3 conv); the last is
ConvNeXt-T itself. Its state dict has the keys and values of
``mmconvnext.ConvNeXt('tiny', linear_pw_conv=False)``, and any ConvNeXt loads it
(``mmconvnext.checkpoint`` reshapes the 1x1 convs into Linear layers).

The module layout is ConvNeXt's (``downsample_layers``: the stem, then the separate
downsampling layers or identities; ``stages``; the output norms ``norm{i}``), and both
subclass :class:`~mmconvnext.models.backbones.base.StagedBackbone`: the forward pass, frozen
stages, layer-wise lr decay (``get_layer_depth``) and checkpoint loading are that base's,
shared, not a copy. This module only builds the layers of a design.
A block's layers are named for the role they end the roadmap in: ``depthwise_conv``
is the block's spatial conv even in the ResNet steps, where it is dense (groups 1).

Choices the paper leaves open, made here (and why):

- ``fewer_norms`` keeps one norm, after the spatial conv. The removed last norm of
  the residual branch took its per-channel scale with it. That scale stays as layer
  scale (``gamma``, ConvNeXt's), and in the steps before it the last norm's weight
  starts at ``layer_scale_init_value`` (timm's ResNet zero-init of the last BN plays
  this role). So layer scale arrives with the step that removes the norm it replaces,
  and ResNet-50 keeps its 25.56M parameters.
- Convs have a bias unless a BatchNorm follows them (a bias before BN has no effect;
  before LN it is not redundant, and ConvNeXt has one everywhere).
- ``patchify_stem`` replaces the whole ResNet stem cell (7x7 conv, BN, ReLU, max pool)
  by the 4x4 stride-4 conv alone. ``separate_downsampling`` then adds what the paper
  lists with it: a norm after the stem, one before each downsampling conv, and one
  after the final pooling (the output norms ``norm{i}``, as ConvNeXt has them).
- Until ``separate_downsampling``, the first block of stages 2-4 strides in its spatial
  conv, with a 1x1 stride-2 conv + norm shortcut (torchvision's ResNet).
"""

import dataclasses
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn.bricks import DropPath
from mmengine.model import Sequential

from mmconvnext.registry import MODELS

from ..layers import build_norm_layer
from .base import StagedBackbone
from .convnext import ARCH_SETTINGS

__all__ = ['RoadmapDesign', 'RoadmapStep', 'ROADMAP_STEPS', 'RoadmapNet', 'roadmap_design', 'scale_design']

_CHOICES = {
    'stem': ('resnet', 'patchify'),
    'groups': ('dense', 'depthwise'),
    'block': ('bottleneck', 'inverted'),
    'act': ('ReLU', 'GELU'),
    'activations': ('every', 'one'),
    'norms': ('every', 'one'),
    'norm': ('BN', 'LN'),
    'downsample': ('in_block', 'separate'),
}


@dataclasses.dataclass(frozen=True)
class RoadmapDesign:
    """The design decisions of the paper's section 2 (defaults: ResNet-50).

    Attributes:
        depths: blocks per stage (ResNet-50 3-4-6-3; Swin-T's ratio 3-3-9-3).
        widths: per-stage width: a bottleneck block's inner width (it outputs 4x), an
            inverted bottleneck's input/output width (its hidden layer is 4x). The
            stem outputs ``widths[0]``.
        stem: ``'resnet'`` (7x7 conv stride 2, norm, act, 3x3 max pool stride 2) or
            ``'patchify'`` (4x4 conv stride 4).
        groups: the spatial conv ``'dense'`` (groups 1) or ``'depthwise'``.
        block: ``'bottleneck'`` (1x1 reduce, spatial, 1x1 expand x4) or ``'inverted'``
            (1x1 expand x4, spatial, 1x1 reduce).
        spatial_first: the spatial conv moved to the top of the block (before the 1x1s).
        kernel_size: of the spatial conv.
        act: ``'ReLU'`` or ``'GELU'``.
        activations: ``'every'`` (after the first two convs and after the residual add,
            as ResNet) or ``'one'`` (after the first 1x1 conv only: between the 1x1s once
            the spatial conv is on top).
        norms: ``'every'`` (after each conv) or ``'one'`` (after the spatial conv only,
            with layer scale in place of the last norm's scale).
        norm: ``'BN'`` or ``'LN'`` (channels-first LayerNorm, eps 1e-6).
        downsample: ``'in_block'`` (strided spatial conv + projection shortcut in the first
            block of a stage) or ``'separate'`` (norm + 2x2 stride-2 conv between stages,
            norms after the stem and on every output).
    """

    depths: tuple[int, ...] = (3, 4, 6, 3)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem: str = 'resnet'
    groups: str = 'dense'
    block: str = 'bottleneck'
    spatial_first: bool = False
    kernel_size: int = 3
    act: str = 'ReLU'
    activations: str = 'every'
    norms: str = 'every'
    norm: str = 'BN'
    downsample: str = 'in_block'

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f'RoadmapDesign: {name} must be one of {choices}, got {getattr(self, name)!r}')
        depths, widths = tuple(self.depths), tuple(self.widths)
        if not depths or len(depths) != len(widths) or not all(isinstance(v, int) and v > 0 for v in depths + widths):
            raise ValueError(
                f'RoadmapDesign: depths {depths} and widths {widths} must be positive ints, one of each per stage'
            )
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f'RoadmapDesign: kernel_size must be a positive odd int, got {self.kernel_size!r}')
        object.__setattr__(self, 'depths', depths)  # lists from a config become tuples
        object.__setattr__(self, 'widths', widths)

    def changes(self, other: 'RoadmapDesign') -> dict[str, tuple[Any, Any]]:
        """``{option: (other's value, this value)}`` for every option that differs."""
        return {
            f.name: (getattr(other, f.name), getattr(self, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }


class RoadmapStep(NamedTuple):
    """One step of the ladder: its parent step, the options it changes, and the paper's
    ImageNet-1K top-1 and GFLOPs for it (None where the paper gives none; docs/references.md §7)."""

    name: str
    parent: Optional[str]
    changes: Mapping[str, Any]
    what: str
    paper_top1: Optional[float]
    paper_gflops: Optional[float]


_STEPS = (
    RoadmapStep('resnet50', None, {}, 'ResNet-50 trained with the modern recipe', 78.8, 4.1),
    RoadmapStep('stage_ratio', 'resnet50', {'depths': (3, 3, 9, 3)}, 'stage ratio 3-4-6-3 -> 3-3-9-3', 79.4, 4.5),
    RoadmapStep(
        'patchify_stem', 'stage_ratio', {'stem': 'patchify'}, 'stem -> 4x4 stride-4 "patchify" conv', 79.5, 4.4
    ),
    RoadmapStep(
        'depthwise',
        'patchify_stem',
        {'groups': 'depthwise', 'widths': (96, 192, 384, 768)},
        'ResNeXt-ify: depthwise 3x3 conv, width 64 -> 96',
        80.5,
        5.3,
    ),
    RoadmapStep(
        'inverted_bottleneck', 'depthwise', {'block': 'inverted'}, 'inverted bottleneck (hidden 4x)', 80.6, 4.6
    ),
    RoadmapStep(
        'move_up_dwconv',
        'inverted_bottleneck',
        {'spatial_first': True},
        'depthwise conv moved to the top of the block',
        79.9,
        4.1,
    ),
    RoadmapStep('kernel_5', 'move_up_dwconv', {'kernel_size': 5}, 'kernel 3 -> 5', None, None),
    RoadmapStep('kernel_7', 'kernel_5', {'kernel_size': 7}, 'kernel 5 -> 7 (the paper keeps 7)', 80.6, 4.2),
    RoadmapStep('kernel_9', 'kernel_7', {'kernel_size': 9}, 'kernel 7 -> 9 (sweep; not kept)', None, None),
    RoadmapStep('kernel_11', 'kernel_9', {'kernel_size': 11}, 'kernel 9 -> 11 (sweep; not kept)', None, None),
    RoadmapStep('gelu', 'kernel_7', {'act': 'GELU'}, 'ReLU -> GELU', 80.6, None),
    RoadmapStep(
        'fewer_activations', 'gelu', {'activations': 'one'}, 'one activation per block (between the 1x1s)', 81.3, None
    ),
    RoadmapStep(
        'fewer_norms',
        'fewer_activations',
        {'norms': 'one'},
        "one norm per block (after the depthwise conv); layer scale keeps the last one's scale",
        81.4,
        None,
    ),
    RoadmapStep('layernorm', 'fewer_norms', {'norm': 'LN'}, 'BatchNorm -> LayerNorm', 81.5, None),
    RoadmapStep(
        'separate_downsampling',
        'layernorm',
        {'downsample': 'separate'},
        'separate downsampling layers (LN + 2x2 conv stride 2) and LN after the stem and pooling: ConvNeXt-T',
        82.0,
        4.5,
    ),
)

#: the paper's ladder, in order: step name -> :class:`RoadmapStep`.
ROADMAP_STEPS: Mapping[str, RoadmapStep] = MappingProxyType({s.name: s for s in _STEPS})


def roadmap_design(step: str, scale: str = 'tiny') -> RoadmapDesign:
    """The complete design of a named step (its parent's, with its own changes), at the
    size of the ConvNeXt arch ``scale`` (:func:`scale_design`; ``'tiny'``: the paper's)."""
    if step not in ROADMAP_STEPS:
        raise ValueError(f'Unknown roadmap step {step!r}; choose one of {list(ROADMAP_STEPS)}')
    spec = ROADMAP_STEPS[step]
    parent = roadmap_design(spec.parent) if spec.parent else RoadmapDesign()
    design = dataclasses.replace(parent, **spec.changes)
    return design if scale == 'tiny' else scale_design(design, scale)


def _half_up(x: float) -> int:
    return max(1, int(x + 0.5))


def scale_design(design: RoadmapDesign, arch: str) -> RoadmapDesign:
    """``design`` (a step of the paper's ladder, at ConvNeXt-T's size) at the size of
    ConvNeXt ``arch``: every stage's depth times ``arch``'s over ConvNeXt-T's (3-3-9-3) and
    every width times ``arch``'s over ConvNeXt-T's (96-192-384-768), rounded half up. So the
    last step becomes ConvNeXt-``arch`` itself, and ResNet-50's 3-4-6-3 / 64-512 at ``'atto'``
    becomes 2-3-4-2 / 27-53-107-213: the ladder's ratios, for a machine that cannot train
    ConvNeXt-T's ladder (docs/roadmap.md). The paper gives no such ladder; this is ours."""
    if arch not in ARCH_SETTINGS:
        raise ValueError(f'roadmap scale: unknown ConvNeXt arch {arch!r}; choose one of {sorted(ARCH_SETTINGS)}')
    tiny, target = ARCH_SETTINGS['tiny'], ARCH_SETTINGS[arch]
    if len(design.depths) != len(target['depths']):
        raise ValueError(
            f'roadmap scale {arch!r}: the design has {len(design.depths)} stages, {arch} has {len(target["depths"])}'
        )
    depths = tuple(_half_up(d * a / t) for d, a, t in zip(design.depths, target['depths'], tiny['depths']))
    widths = tuple(_half_up(w * a / t) for w, a, t in zip(design.widths, target['channels'], tiny['channels']))
    return dataclasses.replace(design, depths=depths, widths=widths)


def _norm_cfg(design: RoadmapDesign) -> dict:
    return dict(type='BN') if design.norm == 'BN' else dict(type='LN2d', eps=1e-6)


def _conv(
    design: RoadmapDesign,
    cin: int,
    cout: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    padding: Optional[int] = None,
    before_norm: bool = False,
) -> nn.Conv2d:
    """A conv with a bias unless a BatchNorm follows it."""
    return nn.Conv2d(
        cin,
        cout,
        kernel,
        stride=stride,
        padding=kernel // 2 if padding is None else padding,
        groups=groups,
        bias=not (before_norm and design.norm == 'BN'),
    )


class RoadmapBlock(nn.Module):
    """One residual block of the roadmap, in the layout ``design`` says.

    Layers, in order: ``depthwise_conv`` (the spatial conv; dense in the ResNet steps)
    and the 1x1 convs ``pointwise_conv1`` / ``pointwise_conv2`` (spatial conv in the
    middle, or first with ``spatial_first``); norms ``norm`` (after the spatial conv),
    ``norm1`` / ``norm2`` (after the 1x1s, with ``norms='every'``); ``gamma`` (layer
    scale, with ``norms='one'``); ``shortcut`` (1x1 conv + norm when the block changes
    width or strides).
    """

    def __init__(
        self,
        design: RoadmapDesign,
        in_channels: int,
        width: int,
        stride: int = 1,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        self.design = design
        self.with_cp = with_cp
        bottleneck = design.block == 'bottleneck'
        hidden = width if bottleneck else 4 * width
        self.out_channels = out = 4 * width if bottleneck else width
        every_norm = design.norms == 'every'
        norm_cfg = _norm_cfg(design)

        spatial_channels = in_channels if design.spatial_first else hidden
        groups = spatial_channels if design.groups == 'depthwise' else 1
        self.depthwise_conv = _conv(
            design, spatial_channels, spatial_channels, design.kernel_size, stride, groups, before_norm=True
        )
        self.norm = build_norm_layer(norm_cfg, spatial_channels)
        pw1_in = in_channels if not design.spatial_first else spatial_channels
        self.pointwise_conv1 = _conv(design, pw1_in, hidden, 1, before_norm=every_norm)
        self.norm1 = build_norm_layer(norm_cfg, hidden) if every_norm else None
        self.pointwise_conv2 = _conv(design, hidden, out, 1, before_norm=every_norm)
        self.norm2 = build_norm_layer(norm_cfg, out) if every_norm else None
        self.act = MODELS.get(design.act)()
        self.layer_scale_init_value = layer_scale_init_value
        self.gamma = None
        if layer_scale_init_value > 0 and not every_norm:
            self.gamma = nn.Parameter(torch.full((out,), float(layer_scale_init_value)))
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out:
            self.shortcut = Sequential(
                _conv(design, in_channels, out, 1, stride, padding=0, before_norm=True), build_norm_layer(norm_cfg, out)
            )

    def init_weights(self) -> None:
        """Called by mmengine after the backbone's ``init_cfg`` (which sets every norm's
        weight to 1): the last norm's weight is the residual branch's scale at init."""
        if self.norm2 is not None and self.layer_scale_init_value > 0:
            nn.init.constant_(self.norm2.weight, self.layer_scale_init_value)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        every_act = self.design.activations == 'every'
        # (N, C, H, W) throughout: the layers as listed, a norm/act after each where the design has one
        convs = [
            (self.depthwise_conv, self.norm),
            (self.pointwise_conv1, self.norm1),
            (self.pointwise_conv2, self.norm2),
        ]
        if not self.design.spatial_first:
            convs[0], convs[1] = convs[1], convs[0]
        for position, (conv, norm) in enumerate(convs):
            x = conv(x)
            if norm is not None:
                x = norm(x)
            if (every_act and position < 2) or (not every_act and conv is self.pointwise_conv1):
                x = self.act(x)
        if self.gamma is not None:
            x = x * self.gamma.view(1, -1, 1, 1)
        return x

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.shortcut(x) + self.drop_path(self._branch(x))
        return self.act(x) if self.design.activations == 'every' else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and self.training and torch.is_grad_enabled():
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)


@MODELS.register_module()
class RoadmapNet(StagedBackbone):
    """A step of the paper's modernization roadmap (ResNet-50 ... ConvNeXt-T) as a
    multi-scale backbone or, with ``gap_before_final_norm``, a classifier's trunk.

    Args:
        step: a name in ``ROADMAP_STEPS`` (default the last, ConvNeXt-T).
        design: options overriding the step's (see :class:`RoadmapDesign`), e.g.
            ``dict(kernel_size=5)``, to explore beyond the ladder.
        scale: the ladder at the size of this ConvNeXt arch (:func:`scale_design`):
            ``'tiny'`` (default) is the paper's; ``'atto'``'s last step is ConvNeXt-atto.
            ``design`` applies after the scaling.
        in_channels: channels of the input image.
        drop_path_rate: stochastic depth rate of the last block (linear from 0).
        layer_scale_init_value: initial scale of every residual branch's last
            per-channel scale (layer scale once ``norms='one'``); 0 leaves it at 1.
        out_indices, frozen_stages, gap_before_final_norm, with_cp, init_cfg: as
            :class:`~mmconvnext.models.backbones.convnext.ConvNeXt` (``with_cp``
            recomputes whole blocks).

    Attributes:
        step, design: the step and the complete design built.
        out_channels, out_strides: of each returned output.
    """

    def __init__(
        self,
        step: str = 'separate_downsampling',
        design: Optional[Mapping[str, Any]] = None,
        scale: str = 'tiny',
        in_channels: int = 3,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        out_indices: Union[int, Sequence[int]] = -1,
        frozen_stages: int = 0,
        gap_before_final_norm: bool = True,
        with_cp: bool = False,
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        base = roadmap_design(step, scale)
        try:
            d = dataclasses.replace(base, **dict(design or {}))
        except TypeError as e:
            names = [f.name for f in dataclasses.fields(RoadmapDesign)]
            raise TypeError(f'RoadmapNet design: {e}; the options are {names}') from None
        stage_out = tuple(4 * w if d.block == 'bottleneck' else w for w in d.widths)
        super().__init__(
            d.depths,
            stage_out,
            stem_stride=4,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            drop_path_rate=drop_path_rate,
            layer_scale_init_value=layer_scale_init_value,
            gap_before_final_norm=gap_before_final_norm,
            init_cfg=init_cfg,
        )
        self.design = d
        self.step = step
        self.scale = scale
        norm_cfg = _norm_cfg(d)
        separate = d.downsample == 'separate'

        channels = d.widths[0]
        for i, (width, rates) in enumerate(zip(d.widths, self._drop_path_rates(drop_path_rate))):
            stride = 1
            if i == 0:  # the stem: (N, 3, H, W) -> (N, w0, H/4, W/4)
                downsample = self._stem(in_channels)
            elif separate:  # norm, then 2x2 conv stride 2
                downsample = Sequential(
                    build_norm_layer(norm_cfg, channels), _conv(d, channels, stage_out[i], 2, 2, padding=0)
                )
                channels = stage_out[i]
            else:  # the stage's first block strides
                downsample = nn.Identity()
                stride = 2
            blocks = []
            for j, rate in enumerate(rates):
                blocks.append(
                    RoadmapBlock(d, channels, width, stride if j == 0 else 1, rate, layer_scale_init_value, with_cp)
                )
                channels = blocks[-1].out_channels
            self._add_stage(
                downsample, blocks, lambda c=channels: build_norm_layer(norm_cfg, c) if separate else nn.Identity()
            )

    def _stem(self, in_channels: int) -> nn.Module:
        """ResNet's stem cell (7x7 conv stride 2, norm, act, 3x3 max pool stride 2) or the
        4x4 stride-4 patchify conv (followed by a norm with separate downsampling)."""
        d = self.design
        if d.stem == 'resnet':
            return Sequential(
                _conv(d, in_channels, d.widths[0], 7, 2, before_norm=True),
                build_norm_layer(_norm_cfg(d), d.widths[0]),
                MODELS.get(d.act)(),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        separate = d.downsample == 'separate'
        layers = [_conv(d, in_channels, d.widths[0], 4, 4, padding=0, before_norm=separate)]
        if separate:
            layers.append(build_norm_layer(_norm_cfg(d), d.widths[0]))
        return Sequential(*layers)
