import copy
import inspect

import pytest
import torch
import torch.nn as nn

from mmconvnext.models import GRN, ConvNeXt
from mmconvnext.models.backbones import StagedBackbone
from mmconvnext.models.backbones.convnext import ARCH_SETTINGS, ConvNeXtBlock
from mmconvnext.models.layers import compute_path, depthwise_kernel, onednn
from mmconvnext.models.layers.compute_path import BlockPath, block_path

# ConvNeXt-V1 parameter counts with the 1000-class head, from the paper / model zoos
# (docs/references.md §1), in millions, with the precision given there.
PAPER_PARAMS_M = {
    'atto': (3.7, 1),
    'femto': (5.2, 1),
    'pico': (9.1, 1),
    'nano': (15.6, 1),
    'tiny': (28.59, 2),
    'small': (50.22, 2),
    'base': (88.59, 2),
    'large': (197.77, 2),
    'xlarge': (350.20, 2),
}

# mmpretrain.ConvNeXt's constructor arguments (the drop-in contract)
MMPRETRAIN_ARGS = [
    'arch',
    'in_channels',
    'stem_patch_size',
    'norm_cfg',
    'act_cfg',
    'linear_pw_conv',
    'use_grn',
    'drop_path_rate',
    'layer_scale_init_value',
    'out_indices',
    'frozen_stages',
    'gap_before_final_norm',
    'with_cp',
    'init_cfg',
]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_constructor_arguments_match_mmpretrain():
    # mmpretrain's arguments in mmpretrain's order, plus ours with defaults after them
    params = inspect.signature(ConvNeXt.__init__).parameters
    ours = ('onednn_cpu', 'dw_kernel_size', 'mlp_ratio', 'output_stride')
    assert [p for p in list(params)[1:] if p not in ours] == MMPRETRAIN_ARGS
    assert list(params)[-5:-1] == list(ours)
    assert params['onednn_cpu'].default == 'auto'


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_every_arch_shapes_channels_strides(arch):
    # meta tensors: real shapes for every arch, xlarge/huge included, without the memory
    with torch.device('meta'):
        model = ConvNeXt(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
        outs = model(torch.empty(2, 3, 64, 96))
    channels = ARCH_SETTINGS[arch]['channels']
    assert model.out_channels == tuple(channels)
    assert model.out_strides == (4, 8, 16, 32)
    assert len(outs) == 4
    for out, c, s in zip(outs, model.out_channels, model.out_strides):
        assert out.shape == (2, c, 64 // s, 96 // s)


@pytest.mark.parametrize('arch', sorted(PAPER_PARAMS_M))
def test_parameter_count_matches_paper(arch):
    with torch.device('meta'):
        model = ConvNeXt(arch)  # default out_indices=-1: norm3 plays the head LayerNorm
    c = ARCH_SETTINGS[arch]['channels'][-1]
    with_head = n_params(model) + c * 1000 + 1000  # + Linear(C, 1000)
    expected, digits = PAPER_PARAMS_M[arch]
    if digits == 2:
        assert round(with_head / 1e6, 2) == expected
    else:  # one-decimal figures were rounded twice (pico: 9.05M -> 9.1M): allow 1%
        assert abs(with_head / 1e6 - expected) / expected < 0.01


@pytest.mark.parametrize('arch', ['atto', 'tiny'])
def test_real_forward_and_classification_output(arch):
    model = ConvNeXt(arch).eval()
    with torch.no_grad():
        (feat,) = model(torch.randn(2, 3, 64, 64))
    assert feat.shape == (2, ARCH_SETTINGS[arch]['channels'][-1])
    assert torch.isfinite(feat).all()


def test_gap_before_final_norm_is_pool_then_norm(tiny_arch):
    dense = ConvNeXt(tiny_arch, out_indices=(1, 3), gap_before_final_norm=False).eval()
    pooled = ConvNeXt(tiny_arch, out_indices=(1, 3), gap_before_final_norm=True).eval()
    pooled.load_state_dict(dense.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        maps, vecs = dense(x), pooled(x)
        # recompute the pooled path by hand from the last stage's pre-norm features
        h = x
        for i in range(4):
            h = dense.stages[i](dense.downsample_layers[i](h))
        expected = dense.norm3(h.mean((2, 3), keepdim=True)).flatten(1)
    assert [v.shape for v in vecs] == [(2, 16), (2, 64)]
    assert maps[1].shape == (2, 64, 2, 2)
    torch.testing.assert_close(vecs[1], expected)


@pytest.mark.parametrize('use_grn', [False, True])
@pytest.mark.parametrize('linear_pw_conv', [True, False])
def test_every_parameter_gets_a_gradient(tiny_arch, use_grn, linear_pw_conv):
    model = ConvNeXt(
        tiny_arch,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        use_grn=use_grn,
        linear_pw_conv=linear_pw_conv,
        layer_scale_init_value=1.0,
        drop_path_rate=0.1,
    )
    model.init_weights()
    if use_grn:  # GRN starts at zero, which gives it a gradient but nothing upstream of it
        for m in model.modules():
            if isinstance(m, GRN):
                torch.nn.init.normal_(m.gamma, std=0.1)
    model.train()
    outs = model(torch.randn(2, 3, 64, 64))
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


def test_with_cp_same_outputs_and_gradients(tiny_arch):
    kwargs = dict(arch=tiny_arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, layer_scale_init_value=1.0)
    plain = ConvNeXt(**kwargs)
    plain.init_weights()
    ckpt = ConvNeXt(with_cp=True, **kwargs)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for model in (plain, ckpt):
        model.train()
        outs = model(x)
        loss = sum((o * torch.arange(o.numel()).reshape(o.shape).sin()).sum() for o in outs)
        loss.backward()
        grads.append(({n: p.grad.clone() for n, p in model.named_parameters()}, [o.detach() for o in outs]))
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for name, g in grads[0][0].items():
        torch.testing.assert_close(grads[1][0][name], g, rtol=1e-5, atol=1e-7, msg=name)


def test_with_cp_recomputes_whole_v2_blocks_in_backward(tiny_arch, monkeypatch):
    model = ConvNeXt(tiny_arch, with_cp=True, use_grn=True, layer_scale_init_value=0.0).train()
    calls = []
    block = model.stages[0][0]
    original = block._forward
    monkeypatch.setattr(block, '_forward', lambda x, path: calls.append(path.recompute) or original(x, path))
    model(torch.randn(1, 3, 32, 32))[0].sum().backward()
    assert calls == ['block', 'block']  # forward, then recomputation (same path) during backward


def _saved_bytes(model, x) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one forward."""
    saved = {}

    def pack(t):
        saved[(t.data_ptr(), t.dtype, tuple(t.shape), t.stride())] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    sum(o.sum() for o in out).backward()
    params = {p.data_ptr() for p in model.parameters()}
    return sum(n for (ptr, *_), n in saved.items() if ptr not in params)


@pytest.mark.parametrize('onednn_cpu', [False, True])
def test_with_cp_keeps_a_third_of_the_activations(onednn_cpu):
    """V1 blocks with_cp store no 4C-wide activation (fc1 + GELU are recomputed): of the
    ~12C per position a block stores, about 4C remain (atto: 40% of the backbone's
    saved activations, stem and downsampling layers included)."""
    kwargs = dict(out_indices=(0, 1, 2, 3), gap_before_final_norm=False, onednn_cpu=onednn_cpu)
    x = torch.randn(2, 3, 64, 64)
    full = _saved_bytes(ConvNeXt('atto', **kwargs).train(), x)
    cp = _saved_bytes(ConvNeXt('atto', with_cp=True, **kwargs).train(), x)
    assert cp < 0.42 * full, (cp, full)


@pytest.mark.parametrize('frozen_stages', [1, 2, 4])
def test_frozen_stages_stay_frozen_through_train(tiny_arch, frozen_stages):
    model = ConvNeXt(
        tiny_arch,
        out_indices=(0, 1, 2, 3),
        frozen_stages=frozen_stages,
        gap_before_final_norm=False,
        layer_scale_init_value=1.0,
    )
    model.train()
    before = copy.deepcopy(model.state_dict())
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    outs = model(torch.randn(2, 3, 64, 64))
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()  # a plain sum of LN outputs has no gradient
    optim.step()
    after = model.state_dict()
    for i in range(4):
        frozen = i < frozen_stages
        for part in (model.downsample_layers[i], model.stages[i]):
            assert all(not m.training for m in part.modules()) == frozen
            assert all(not p.requires_grad for p in part.parameters()) == frozen
        names = [k for k in after if k.startswith((f'downsample_layers.{i}.', f'stages.{i}.'))]
        changed = [not torch.equal(before[k], after[k]) for k in names]
        assert (not any(changed)) if frozen else all(changed)


def test_frozen_stages_minus_one_freezes_nothing(tiny_arch):
    model = ConvNeXt(tiny_arch, frozen_stages=-1).train()
    assert all(p.requires_grad for p in model.parameters())


def test_v2_grn_without_layer_scale(tiny_arch):
    model = ConvNeXt(tiny_arch, use_grn=True, layer_scale_init_value=0.0)
    names = [n for n, _ in model.named_parameters()]
    assert 'stages.0.0.grn.gamma' in names and 'stages.0.0.grn.beta' in names
    assert not any(n.endswith('.gamma') and '.grn.' not in n for n in names)
    v1 = ConvNeXt(tiny_arch)
    # V2 adds 2 * 4C per block and drops C of layer scale per block
    extra = sum(d * (8 * c - c) for d, c in zip(tiny_arch['depths'], tiny_arch['channels']))
    assert n_params(model) - n_params(v1) == extra


def test_grn_matches_its_definition():
    grn = GRN(6)
    torch.nn.init.normal_(grn.gamma)
    torch.nn.init.normal_(grn.beta)
    x = torch.randn(2, 5, 4, 6)  # (N, H, W, C)
    g = x.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
    expected = grn.gamma * (x * g / (g.mean(-1, keepdim=True) + 1e-6)) + grn.beta + x
    torch.testing.assert_close(grn(x), expected)
    torch.testing.assert_close(grn(x.permute(0, 3, 1, 2), 'channel_first'), expected.permute(0, 3, 1, 2))


def test_channels_last_input(tiny_arch):
    model = ConvNeXt(tiny_arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        got = model(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(ref, got):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('use_grn', [False, True])
def test_dense_outputs_are_nchw_contiguous_for_mmcv_roi_align(tiny_arch, use_grn):
    """mmcv's RoIAlign reads its input's memory as contiguous NCHW: a channels-last view
    (what a channels-first LayerNorm returns) gave Mask R-CNN's RoI heads wrong features."""
    from mmcv.ops import RoIAlign

    model = ConvNeXt(tiny_arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, use_grn=use_grn).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert all(o.is_contiguous() for o in outs)
    rois = torch.tensor([[0.0, 1.0, 2.0, 11.0, 9.0]])
    roi_align = RoIAlign(output_size=3, spatial_scale=1.0, sampling_ratio=0, aligned=True)
    got = roi_align(outs[0], rois)
    ref = roi_align(outs[0].clone(memory_format=torch.contiguous_format), rois)  # the same values, NCHW memory
    torch.testing.assert_close(got, ref)


def test_negative_out_indices_and_caller_args_untouched(tiny_arch):
    out_indices = [-1, 0]
    norm_cfg = dict(type='LN2d', eps=1e-6)
    model = ConvNeXt(tiny_arch, out_indices=out_indices, norm_cfg=norm_cfg, gap_before_final_norm=False)
    assert model.out_indices == (0, 3) and hasattr(model, 'norm0') and hasattr(model, 'norm3')
    assert not hasattr(model, 'norm1')
    assert out_indices == [-1, 0] and norm_cfg == dict(type='LN2d', eps=1e-6)
    assert model.out_channels == (8, 64) and model.out_strides == (4, 32)


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (dict(arch='gigantic'), "Unknown ConvNeXt arch 'gigantic'; choose one of ['atto', 'base'"),
        (dict(arch={'depths': [1, 2]}), "'depths' and 'channels'"),
        (dict(arch={'depths': [1, 2], 'channels': [8]}), 'of the same length'),
        (dict(out_indices=4), 'out_indices entry 4 is out of range for 4 stages (valid: -4..3)'),
        (dict(out_indices=(-5,)), 'out_indices entry -5 is out of range'),
        (dict(out_indices=(1, -3)), 'name a stage twice'),
        (dict(frozen_stages=5), 'frozen_stages must be an int in [-1, 4]'),
        (dict(drop_path_rate=1.5), 'drop_path_rate must be in [0, 1)'),
        (dict(norm_cfg=dict(type='NoSuchNorm')), "norm_cfg type 'NoSuchNorm' is not registered"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, message):
    with pytest.raises((ValueError, TypeError, KeyError)) as info:
        ConvNeXt(**kwargs)
    assert message in str(info.value)


def test_other_norm_types_work(tiny_arch):
    model = ConvNeXt(tiny_arch, norm_cfg=dict(type='GN', num_groups=4), gap_before_final_norm=False)
    assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 64, 1, 1)


def test_get_layer_depth_official_semantics():
    with torch.device('meta'):
        tiny, base = ConvNeXt('tiny'), ConvNeXt('base')
    p = 'backbone.'
    # layer_wise, tiny, num_layers 6 -> 8 groups
    assert tiny.get_layer_depth(p + 'downsample_layers.0.0.weight', p, 6) == (0, 8)
    assert tiny.get_layer_depth(p + 'downsample_layers.1.1.weight', p, 6) == (2, 8)
    assert tiny.get_layer_depth(p + 'downsample_layers.2.1.weight', p, 6) == (3, 8)
    assert tiny.get_layer_depth(p + 'downsample_layers.3.1.weight', p, 6) == (6, 8)
    assert tiny.get_layer_depth(p + 'stages.0.2.gamma', p, 6) == (1, 8)
    assert tiny.get_layer_depth(p + 'stages.1.0.gamma', p, 6) == (2, 8)
    assert [tiny.get_layer_depth(p + f'stages.2.{j}.gamma', p, 6)[0] for j in range(9)] == [3] * 3 + [4] * 3 + [5] * 3
    assert tiny.get_layer_depth(p + 'stages.3.0.gamma', p, 6) == (6, 8)
    assert tiny.get_layer_depth(p + 'norm3.weight', p, 6) == (7, 8)
    assert tiny.get_layer_depth('decode_head.conv_seg.weight', p, 6) == (7, 8)
    # default num_layers as mmpretrain: 12 for 27-block stage 2
    assert base.get_layer_depth(p + 'stages.2.26.gamma', p) == (11, 14)
    # stage_wise
    assert base.get_layer_depth(p + 'downsample_layers.3.1.weight', p, 12, 'stage_wise') == (0, 14)
    assert base.get_layer_depth(p + 'stages.2.26.gamma', p, 12, 'stage_wise') == (3, 14)
    assert base.get_layer_depth(p + 'stages.3.0.gamma', p, 12, 'stage_wise') == (4, 14)
    assert base.get_layer_depth(p + 'norm0.weight', p, 12, 'stage_wise') == (13, 14)
    # block_wise: ConvNeXt V2's 'single' (official optim_factory.get_num_layer_for_convnext_single), atto 2-2-6-2
    with torch.device('meta'):
        atto = ConvNeXt('atto', use_grn=True, layer_scale_init_value=0.0)
    assert atto.get_layer_depth(p + 'downsample_layers.0.0.weight', p, decay_type='block_wise') == (1, 14)
    assert atto.get_layer_depth(p + 'stages.0.1.grn.gamma', p, decay_type='block_wise') == (2, 14)
    assert atto.get_layer_depth(p + 'downsample_layers.2.1.weight', p, decay_type='block_wise') == (5, 14)
    assert [atto.get_layer_depth(f'{p}stages.2.{j}.grn.beta', p, decay_type='block_wise')[0] for j in range(6)] == [
        5,
        6,
        7,
        8,
        9,
        10,
    ]
    assert atto.get_layer_depth(p + 'stages.3.1.pointwise_conv2.weight', p, decay_type='block_wise') == (12, 14)
    assert atto.get_layer_depth(p + 'norm3.weight', p, decay_type='block_wise') == (13, 14)
    assert atto.get_layer_depth('head.fc.weight', p, decay_type='block_wise') == (13, 14)
    with pytest.raises(ValueError, match='block_wise layer decay over num_layers=6 .* num_layers >= 12'):
        atto.get_layer_depth(p + 'stages.0.0.grn.beta', p, 6, 'block_wise')
    # too few groups for layer_wise / stage_wise would hand out lr scales above 1: refused, naming the minimum
    assert base.min_num_layers('layer_wise') == 11 and base.min_num_layers('stage_wise') == 4
    with pytest.raises(ValueError, match=r'layer_wise layer decay over num_layers=6 .*depths \[3, 3, 27, 3\]'):
        base.get_layer_depth(p + 'stages.0.0.norm.weight', p, 6, 'layer_wise')
    with pytest.raises(ValueError, match='num_layers >= 4'):
        base.get_layer_depth(p + 'stages.0.0.norm.weight', p, 3, 'stage_wise')
    assert base.get_layer_depth(p + 'stages.2.26.norm.weight', p, 11, 'layer_wise') == (11, 13)
    with pytest.raises(ValueError, match='decay_type must be one of'):
        base.get_layer_depth('x', p, 12, 'group_wise')


# ---------------------------------------------------------------- the staged-backbone contract
@pytest.mark.parametrize('depths, channels', [((1, 1, 2), (8, 16, 32)), ((1, 1, 1, 2, 1), (8, 16, 24, 32, 40))])
def test_any_number_of_stages_builds_runs_and_freezes(depths, channels):
    n = len(depths)
    model = ConvNeXt(
        {'depths': depths, 'channels': channels},
        out_indices=tuple(range(n)),
        frozen_stages=1,
        gap_before_final_norm=False,
        layer_scale_init_value=1.0,
    )
    model.init_weights()
    model.train()
    assert model.num_stages == n and model.out_strides == tuple(4 * 2**i for i in range(n))
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, c, 64 // s, 64 // s) for c, s in zip(channels, model.out_strides)]
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    frozen = [k for k, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(k.startswith(('downsample_layers.0.', 'stages.0.')) for k in frozen)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert not model.stages[0].training and all(stage.training for stage in model.stages[1:])


def _layer_wise_groups(model: ConvNeXt, decay_type: str = 'layer_wise') -> list[int]:
    """Group ids of the backbone's parameters in network order (stem, stage 0, ...)."""
    ids = []
    for i in range(model.num_stages):
        for part in ('downsample_layers', 'stages'):
            for name, _ in getattr(model, part)[i].named_parameters():
                ids.append(model.get_layer_depth(f'backbone.{part}.{i}.{name}', 'backbone.', decay_type=decay_type)[0])
    return ids


def test_layer_depth_is_defined_for_any_number_of_stages():
    with torch.device('meta'):
        one = ConvNeXt({'depths': [2], 'channels': [8]})
        three = ConvNeXt({'depths': [2, 7, 1], 'channels': [8, 16, 32]})
        five = ConvNeXt({'depths': [1, 1, 1, 7, 1], 'channels': [8, 8, 8, 8, 8]})
    p = 'backbone.'
    # 5 stages: stages 0-2 one group each, the deep stage 3 in threes, stage 4 last
    assert five.default_num_layers() == 7
    assert [five.get_layer_depth(f'{p}stages.{s}.0.gamma', p)[0] for s in range(5)] == [1, 2, 3, 4, 7]
    assert [five.get_layer_depth(f'{p}stages.3.{j}.gamma', p)[0] for j in range(7)] == [4, 4, 4, 5, 5, 5, 6]
    assert [five.get_layer_depth(f'{p}downsample_layers.{i}.0.weight', p)[0] for i in range(5)] == [0, 2, 3, 4, 7]
    assert five.get_layer_depth(f'{p}norm4.weight', p) == (8, 9)
    assert [five.get_layer_depth(f'{p}stages.{s}.0.gamma', p, decay_type='stage_wise')[0] for s in range(5)] == [
        1,
        2,
        3,
        4,
        5,
    ]
    # 3 stages: stage 1 is the deep one
    assert three.default_num_layers() == 5
    assert [three.get_layer_depth(f'{p}stages.1.{j}.gamma', p)[0] for j in range(7)] == [2, 2, 2, 3, 3, 3, 4]
    assert (
        three.get_layer_depth(f'{p}stages.2.0.gamma', p)
        == three.get_layer_depth(f'{p}downsample_layers.2.1.bias', p)
        == (5, 7)
    )
    # 1 stage: stem, the stage, the rest
    assert [
        one.get_layer_depth(f'{p}{n}', p) for n in ('downsample_layers.0.0.weight', 'stages.0.1.gamma', 'norm0.weight')
    ] == [(0, 3), (1, 3), (2, 3)]
    for model in (one, three, five):  # from the stem to the last stage, never decreasing, 0 to num_layers
        ids = _layer_wise_groups(model)
        assert ids == sorted(ids) and ids[0] == 0 and ids[-1] == model.default_num_layers()
        assert max(_layer_wise_groups(model, 'stage_wise')) == model.num_stages <= model.default_num_layers()


class _Partial(StagedBackbone):
    """Adds ``built`` of its three stages."""

    def __init__(self, built: int) -> None:
        super().__init__(
            (1, 1, 1),
            (4, 4, 4),
            stem_stride=1,
            out_indices=-1,
            frozen_stages=0,
            drop_path_rate=0.0,
            layer_scale_init_value=0.0,
            gap_before_final_norm=True,
        )
        for _ in range(built):
            self._add_stage(nn.Identity(), [nn.Identity()], nn.Identity)


def test_the_base_refuses_a_backbone_with_missing_or_extra_stages():
    with pytest.raises(RuntimeError, match='_Partial built 2 of its 3 stages'):
        _Partial(2)(torch.zeros(1, 4, 2, 2))
    model = _Partial(3)
    assert model(torch.zeros(1, 4, 2, 2))[0].shape == (1, 4)
    with pytest.raises(RuntimeError, match='_Partial has 3 stages; a stage 3 was added'):
        model._add_stage(nn.Identity(), [], nn.Identity)
    with pytest.raises(ValueError, match='depths \\(1, 2\\) and channels \\(4,\\) must be'):
        StagedBackbone(
            (1, 2),
            (4,),
            stem_stride=1,
            out_indices=-1,
            frozen_stages=0,
            drop_path_rate=0.0,
            layer_scale_init_value=0.0,
            gap_before_final_norm=True,
        )


# ---------------------------------------------------------------- the one place that picks a block's path
def test_block_path_choices():
    x = torch.randn(1, 8, 4, 4)
    dnn = onednn.available(x)  # oneDNN where this torch has it
    dw = depthwise_kernel.built()  # the compiled depthwise kernels (all three passes in the suite's forced mode)
    block = ConvNeXtBlock(8).eval()
    with torch.no_grad():
        assert block_path(block, x) == BlockPath('none', dnn, dnn, dw_forward=dw)  # inference: fused
    assert block_path(block.train(), x) == BlockPath('none', dnn, False, dw, dw, dw)  # gradients: unfused
    assert block_path(ConvNeXtBlock(8, onednn_cpu=False), x) == BlockPath()
    assert block_path(ConvNeXtBlock(8, linear_pw_conv=False), x) == BlockPath()  # oneDNN is for Linear layers
    with torch.autocast('cpu', dtype=torch.bfloat16):  # no oneDNN matmul; the depthwise kernels take bf16 grads
        assert block_path(block, x) == BlockPath(dw_input=dw, dw_weight=dw)  # the forward: aten's bf16
    assert block_path(block, x.double()) == BlockPath(dw_input=dw, dw_weight=dw, dw_forward=dw)
    no_grads = ConvNeXtBlock(8).requires_grad_(False).train()
    assert block_path(no_grads, x) == BlockPath('none', dnn, dnn, dw_forward=dw)  # no grads: the forward only
    # with_cp: selective recomputation where it applies, else the whole block; only with gradients in training
    v1 = ConvNeXtBlock(8, with_cp=True).train()
    assert block_path(v1, x) == BlockPath('mlp', dnn, False, dw, dw, dw)
    with torch.no_grad():
        assert block_path(v1, x).recompute == 'none'
    assert block_path(v1.eval(), x).recompute == 'none'
    for kwargs in (dict(use_grn=True), dict(linear_pw_conv=False), dict(act_cfg=dict(type='GELU', approximate='tanh'))):
        assert block_path(ConvNeXtBlock(8, with_cp=True, **kwargs).train(), x).recompute == 'block', kwargs
    # no gradient through the MLP (frozen layers): fused also with grad mode on, unless drop path is active
    frozen = ConvNeXtBlock(8, drop_path_rate=0.1).requires_grad_(False)
    assert block_path(frozen.eval(), x).fused == dnn
    assert not block_path(frozen.eval(), x.requires_grad_()).fused
    assert not block_path(frozen.train(), x.detach()).fused
    assert compute_path.channels_last_memory(True, x) == dnn and not compute_path.channels_last_memory(False, x)


def test_the_block_follows_the_path_function(monkeypatch):
    """``block_path`` is the one decision: replacing it (as a per-machine policy would)
    changes the kernels a block runs, and the block asks it once per call."""
    block = ConvNeXtBlock(8, layer_scale_init_value=1.0).eval()
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        expected = block._plain_mlp(block.norm(block.depthwise_conv(x).permute(0, 2, 3, 1), 'channel_last'), x)
    calls = []

    def plain(b, t):
        calls.append(b)
        return BlockPath()

    def no_onednn(*args, **kwargs):
        raise AssertionError('oneDNN called on the plain path')

    monkeypatch.setattr(compute_path, 'block_path', plain)
    monkeypatch.setattr(onednn, '_OP', no_onednn)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected, rtol=0, atol=0)
    assert calls == [block]
