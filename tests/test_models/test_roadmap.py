"""The modernization roadmap (paper section 2): every step builds and trains, each step
changes only what its name says, ResNet-50 and ConvNeXt-T at the two ends, and the last
step is the project's ConvNeXt-T given the same weights."""

import dataclasses

import pytest
import torch
import torch.nn as nn

from mmconvnext.checkpoint import load_pretrained
from mmconvnext.models import ConvNeXt, LayerNorm2d
from mmconvnext.models.backbones import StagedBackbone
from mmconvnext.models.backbones.roadmap import (
    ROADMAP_STEPS,
    RoadmapDesign,
    RoadmapNet,
    roadmap_design,
    scale_design,
)

STEPS = list(ROADMAP_STEPS)

# What each step's name says, written out here independently of the step table:
# the options that differ from the parent step, and their new values.
EXPECTED_CHANGES = {
    'stage_ratio': ('resnet50', {'depths': (3, 3, 9, 3)}),
    'patchify_stem': ('stage_ratio', {'stem': 'patchify'}),
    'depthwise': ('patchify_stem', {'groups': 'depthwise', 'widths': (96, 192, 384, 768)}),
    'inverted_bottleneck': ('depthwise', {'block': 'inverted'}),
    'move_up_dwconv': ('inverted_bottleneck', {'spatial_first': True}),
    'kernel_5': ('move_up_dwconv', {'kernel_size': 5}),
    'kernel_7': ('kernel_5', {'kernel_size': 7}),
    'kernel_9': ('kernel_7', {'kernel_size': 9}),
    'kernel_11': ('kernel_9', {'kernel_size': 11}),
    'gelu': ('kernel_7', {'act': 'GELU'}),
    'fewer_activations': ('gelu', {'activations': 'one'}),
    'fewer_norms': ('fewer_activations', {'norms': 'one'}),
    'layernorm': ('fewer_norms', {'norm': 'LN'}),
    'separate_downsampling': ('layernorm', {'downsample': 'separate'}),
}


def _classifier_params(backbone: RoadmapNet, num_classes: int = 1000) -> int:
    return sum(p.numel() for p in backbone.parameters()) + backbone.out_channels[-1] * num_classes + num_classes


def test_the_ladder_is_the_papers():
    assert STEPS == [
        'resnet50',
        'stage_ratio',
        'patchify_stem',
        'depthwise',
        'inverted_bottleneck',
        'move_up_dwconv',
        'kernel_5',
        'kernel_7',
        'kernel_9',
        'kernel_11',
        'gelu',
        'fewer_activations',
        'fewer_norms',
        'layernorm',
        'separate_downsampling',
    ]
    assert roadmap_design('resnet50') == RoadmapDesign()
    assert set(EXPECTED_CHANGES) == set(STEPS) - {'resnet50'}


@pytest.mark.parametrize('step', list(EXPECTED_CHANGES))
def test_each_step_changes_only_what_its_name_says(step):
    parent, expected = EXPECTED_CHANGES[step]
    assert ROADMAP_STEPS[step].parent == parent
    changes = roadmap_design(step).changes(roadmap_design(parent))
    assert {k: new for k, (_, new) in changes.items()} == expected


@pytest.mark.parametrize('step', STEPS)
def test_every_step_runs_forward_and_backward(step):
    model = RoadmapNet(step, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, drop_path_rate=0.1)
    model.init_weights()
    model.train()
    outs = model(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 64 // s, 64 // s) for c, s in zip(model.out_channels, model.out_strides)
    ]
    sum(o.float().pow(2).mean() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad
    pooled = RoadmapNet(step).eval()(torch.randn(1, 3, 64, 64))
    assert len(pooled) == 1 and pooled[0].shape == (1, model.out_channels[-1])


def test_first_step_is_resnet50():
    model = RoadmapNet('resnet50')
    assert _classifier_params(model) == 25_557_032  # torchvision's resnet50: 25.56M
    stem = model.downsample_layers[0]
    assert (stem[0].kernel_size, stem[0].stride, stem[0].bias) == ((7, 7), (2, 2), None)
    assert isinstance(stem[1], nn.BatchNorm2d) and isinstance(stem[2], nn.ReLU) and isinstance(stem[3], nn.MaxPool2d)
    block = model.stages[1][0]  # v1.5: the first block of a stage strides in its 3x3 conv
    assert block.depthwise_conv.stride == (2, 2) and block.depthwise_conv.groups == 1
    assert block.depthwise_conv.kernel_size == (3, 3)
    assert (block.pointwise_conv1.in_channels, block.pointwise_conv1.out_channels) == (256, 128)
    assert block.shortcut[0].stride == (2, 2) and block.gamma is None
    assert model.out_channels == (2048,) and [len(s) for s in model.stages] == [3, 4, 6, 3]


def test_last_step_is_convnext_tiny():
    model = RoadmapNet('separate_downsampling')
    assert _classifier_params(model) == _classifier_params(ConvNeXt('tiny')) == 28_589_128  # 28.59M
    assert model.design == roadmap_design('separate_downsampling')


def test_last_step_equals_convnext_tiny_given_the_same_weights(tmp_path):
    roadmap = RoadmapNet(out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    with torch.no_grad():  # weights far from their init, so every layer matters
        for p in roadmap.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    convnext = ConvNeXt('tiny', linear_pw_conv=False, out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    assert list(convnext.state_dict()) == list(roadmap.state_dict())
    convnext.load_state_dict(roadmap.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(roadmap(x), convnext(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    # the project's default ConvNeXt (Linear pointwise layers, oneDNN) through the one loader
    path = tmp_path / 'roadmap_last.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in roadmap.state_dict().items()}}, path)
    default = ConvNeXt('tiny', out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    missing, unexpected = load_pretrained(default, str(path))
    assert not missing and not unexpected
    with torch.no_grad():
        for a, b in zip(roadmap(x), default(x)):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    # classification mode (pool, then the final LayerNorm) too
    state = {k: v for k, v in roadmap.state_dict().items() if not k.startswith(('norm0.', 'norm1.', 'norm2.'))}
    pooled_roadmap, pooled_convnext = RoadmapNet().eval(), ConvNeXt('tiny', linear_pw_conv=False).eval()
    pooled_roadmap.load_state_dict(state, strict=True)
    pooled_convnext.load_state_dict(state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(pooled_roadmap(x)[0], pooled_convnext(x)[0], rtol=0, atol=0)


def test_the_ladder_scaled_to_atto_ends_at_convnext_atto():
    """--scale atto: the ladder's widths and depths times atto's over tiny's, rounded half up;
    the last step then has ConvNeXt-atto's every key and shape, and computes what it computes."""
    assert roadmap_design('resnet50', 'atto').depths == (2, 3, 4, 2)  # 3-4-6-3 x 2/3 (x 6/9)
    assert roadmap_design('resnet50', 'atto').widths == (27, 53, 107, 213)  # 64-512 x 40/96
    assert roadmap_design('stage_ratio', 'atto').depths == (2, 2, 6, 2)
    assert roadmap_design('depthwise', 'atto').widths == (40, 80, 160, 320)
    for step in ROADMAP_STEPS:  # only the sizes change, every other choice is the step's
        scaled, paper = roadmap_design(step, 'atto'), roadmap_design(step)
        assert set(scaled.changes(paper)) <= {'depths', 'widths'}
    assert roadmap_design('gelu', 'tiny') == roadmap_design('gelu')
    assert scale_design(roadmap_design('resnet50'), 'nano').depths == (2, 3, 5, 2)  # nano: 2-2-8-2
    last = RoadmapNet('separate_downsampling', scale='atto', out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    atto = ConvNeXt('atto', linear_pw_conv=False, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    assert {k: v.shape for k, v in last.state_dict().items()} == {k: v.shape for k, v in atto.state_dict().items()}
    atto.load_state_dict(last.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(last.eval()(x), atto.eval()(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert last.scale == 'atto' and last.out_channels == (40, 80, 160, 320)
    # a design override applies after the scaling
    assert RoadmapNet('kernel_7', scale='atto', design=dict(depths=(1, 1, 1, 1))).design.depths == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="unknown ConvNeXt arch 'attto'.*'atto'"):
        RoadmapNet(scale='attto')


def _act_calls(model: RoadmapNet, x: torch.Tensor) -> int:
    calls = []
    hooks = [
        m.register_forward_hook(lambda *a: calls.append(1))
        for m in model.stages[0][1].modules()
        if isinstance(m, (nn.ReLU, nn.GELU))
    ]
    model(x)
    for h in hooks:
        h.remove()
    return len(calls)


def test_the_modules_follow_the_options():
    x = torch.randn(1, 3, 32, 32)
    patchify = RoadmapNet('patchify_stem').downsample_layers[0]
    assert len(patchify) == 1 and patchify[0].kernel_size == (4, 4) and patchify[0].stride == (4, 4)
    depthwise = RoadmapNet('depthwise').stages[0][0].depthwise_conv
    assert depthwise.groups == depthwise.in_channels == 96
    inverted = RoadmapNet('inverted_bottleneck').stages[0][0]
    assert (inverted.pointwise_conv1.out_channels, inverted.depthwise_conv.in_channels) == (384, 384)
    moved = RoadmapNet('move_up_dwconv').stages[0][0]
    assert moved.depthwise_conv.in_channels == 96  # on the block's input width: before the 1x1s
    for k in (5, 7, 9, 11):
        assert RoadmapNet(f'kernel_{k}').stages[2][3].depthwise_conv.kernel_size == (k, k)
    kernel_7, gelu = RoadmapNet('kernel_7').eval(), RoadmapNet('gelu').eval()
    assert {k: v.shape for k, v in kernel_7.state_dict().items()} == {k: v.shape for k, v in gelu.state_dict().items()}
    assert isinstance(gelu.stages[0][0].act, nn.GELU) and isinstance(kernel_7.stages[0][0].act, nn.ReLU)
    assert _act_calls(gelu, x) == 3  # after the first two convs and after the residual add
    assert _act_calls(RoadmapNet('fewer_activations').eval(), x) == 1
    fewer = RoadmapNet('fewer_norms').stages[0][0]
    before = RoadmapNet('fewer_activations').stages[0][0]
    assert before.norm1 is not None and before.norm2 is not None and before.gamma is None
    assert fewer.norm1 is None and fewer.norm2 is None and fewer.gamma is not None
    assert isinstance(fewer.norm, nn.BatchNorm2d)
    assert isinstance(RoadmapNet('layernorm').stages[0][0].norm, LayerNorm2d)
    last = RoadmapNet('separate_downsampling')
    for i in (1, 2, 3):
        norm, conv = last.downsample_layers[i]
        assert isinstance(norm, LayerNorm2d) and conv.kernel_size == (2, 2) and conv.stride == (2, 2)
        assert isinstance(last.stages[i][0].shortcut, nn.Identity)
    assert isinstance(RoadmapNet('layernorm').downsample_layers[1], nn.Identity)


def test_residual_branch_scale_starts_at_layer_scale():
    """Before ``fewer_norms`` the last norm's weight is the branch's scale at init; after
    it, layer scale (gamma) carries it."""
    bn = RoadmapNet('fewer_activations', layer_scale_init_value=1e-6)
    bn.init_weights()
    assert torch.all(bn.stages[0][0].norm2.weight == 1e-6) and torch.all(bn.stages[0][0].norm.weight == 1)
    ln = RoadmapNet('fewer_norms', layer_scale_init_value=1e-6)
    ln.init_weights()
    assert torch.all(ln.stages[0][0].gamma == 1e-6)
    dense = RoadmapNet('resnet50', layer_scale_init_value=0.0)
    dense.init_weights()
    assert torch.all(dense.stages[0][0].norm2.weight == 1)


def test_design_overrides_and_bad_arguments():
    model = RoadmapNet('kernel_7', design=dict(kernel_size=3, depths=[1, 1, 1, 1]))
    assert model.design.kernel_size == 3 and model.design.depths == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="Unknown roadmap step 'resnet51'.*resnet50"):
        RoadmapNet('resnet51')
    with pytest.raises(TypeError, match='the options are'):
        RoadmapNet(design=dict(kernel=7))
    with pytest.raises(ValueError, match="norm must be one of \\('BN', 'LN'\\), got 'GN'"):
        RoadmapNet(design=dict(norm='GN'))
    with pytest.raises(ValueError, match='kernel_size must be a positive odd int'):
        RoadmapNet(design=dict(kernel_size=4))
    with pytest.raises(ValueError, match='out_indices entry 4'):
        RoadmapNet(out_indices=4)
    with pytest.raises(ValueError, match='drop_path_rate must be in'):  # the staged backbone's shared checks
        RoadmapNet(drop_path_rate=1.0)
    with pytest.raises(ValueError, match='frozen_stages must be an int in \\[-1, 4\\]'):
        RoadmapNet(frozen_stages=5)
    assert dataclasses.asdict(roadmap_design('gelu'))['act'] == 'GELU'


def test_frozen_stages_and_layer_depth_are_convnexts():
    model = RoadmapNet('resnet50', frozen_stages=1, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    model.train()
    assert not model.downsample_layers[0][1].training and not model.stages[0][0].norm.training
    assert model.stages[1][0].norm.training
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters())
    assert model.get_layer_depth('backbone.downsample_layers.0.0.weight', 'backbone.') == (0, 8)
    assert model.get_layer_depth('backbone.stages.2.4.pointwise_conv1.weight', 'backbone.') == (4, 8)
    assert model.get_layer_depth('decode_head.conv_seg.weight', 'backbone.') == (7, 8)


def test_roadmap_net_is_built_through_the_staged_backbone_init(monkeypatch):
    """RoadmapNet shares ConvNeXt's forward, freezing, layer decay and loading through
    the base's constructor (no attributes set by hand), not by borrowing ConvNeXt."""
    calls = []
    original = StagedBackbone.__init__

    def spy(self, *args, **kwargs):
        calls.append((type(self).__name__, tuple(args[0]), tuple(args[1]), kwargs['stem_stride']))
        original(self, *args, **kwargs)

    monkeypatch.setattr(StagedBackbone, '__init__', spy)
    model = RoadmapNet('resnet50', design=dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8)))
    assert calls == [('RoadmapNet', (1, 1, 1, 1), (32, 32, 32, 32), 4)]  # bottleneck stages output 4x width
    assert isinstance(model, StagedBackbone) and not isinstance(model, ConvNeXt)


@pytest.mark.parametrize('step', ['resnet50', 'separate_downsampling'])
@pytest.mark.parametrize('depths, widths', [((1, 1, 2), (8, 16, 24)), ((1, 1, 1, 2, 1), (8, 8, 16, 16, 24))])
def test_any_number_of_stages(step, depths, widths):
    n = len(depths)
    model = RoadmapNet(
        step,
        design=dict(depths=depths, widths=widths),
        out_indices=tuple(range(n)),
        frozen_stages=1,
        gap_before_final_norm=False,
    )
    model.init_weights()
    model.train()
    outs = model(torch.randn(2, 3, 64, 64))  # 2: BatchNorm statistics of the 1x1 last stage
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 64 // 4 // 2**i, 64 // 4 // 2**i) for i, c in enumerate(model.out_channels)
    ]
    sum(o.float().pow(2).mean() for o in outs).backward()
    assert not any(p.requires_grad for p in model.stages[0].parameters()) and not model.stages[0].training
    assert all(p.grad is not None for p in model.stages[n - 1].parameters())
    last = f'backbone.stages.{n - 1}.0.pointwise_conv1.weight'
    assert model.get_layer_depth(last, 'backbone.')[0] == model.default_num_layers()
