import pytest
import torch.nn as nn
from mmengine.registry import OPTIM_WRAPPERS  # noqa: F401  (mmengine optim wrappers registered)

from mmconvnext.engine import LearningRateDecayOptimizerConstructor
from mmconvnext.models import ConvNeXt

BASE_LR, WD = 1e-4, 0.05
ARCH = {'depths': [1, 2, 9, 1], 'channels': [8, 16, 32, 64]}  # stage 2 deep enough for 3 groups


class Segmentor(nn.Module):
    """backbone + a head, named as in mmdet/mmseg models."""

    def __init__(self, frozen_stages: int = 0):
        super().__init__()
        self.backbone = ConvNeXt(
            ARCH,
            out_indices=(0, 1, 2, 3),
            gap_before_final_norm=False,
            layer_scale_init_value=1.0,
            frozen_stages=frozen_stages,
        )
        self.decode_head = nn.Conv2d(64, 5, 1)


def official_id(name: str, num_layers: int, decay_type: str) -> int:
    """The official definition (docs/references.md §3), written out independently of the backbone's code."""
    n = num_layers + 2
    if not name.startswith('backbone.') or name.startswith('backbone.norm'):
        return n - 1
    parts = name.split('.')
    kind, stage = parts[1], int(parts[2])
    if decay_type == 'stage_wise':
        return 0 if kind == 'downsample_layers' else stage + 1
    if kind == 'downsample_layers':
        return {0: 0, 1: 2, 2: 3, 3: num_layers}[stage]
    block = int(parts[3])
    return {0: 1, 1: 2, 2: 3 + block // 3, 3: num_layers}[stage]


def param_table(optimizer, model) -> dict:
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g['lr'], g['weight_decay']) for g in optimizer.param_groups for p in g['params']}


def build(constructor_cls, model, **paramwise):
    cfg = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=WD))
    return constructor_cls(cfg, paramwise_cfg=paramwise)(model).optimizer


@pytest.mark.parametrize(
    'decay_type, num_layers, rate', [('layer_wise', 6, 0.7), ('stage_wise', 6, 0.9), ('layer_wise', 12, 0.8)]
)
def test_groups_match_hand_computed_lrs(decay_type, num_layers, rate):
    model = Segmentor()
    table = param_table(
        build(
            LearningRateDecayOptimizerConstructor, model, decay_rate=rate, decay_type=decay_type, num_layers=num_layers
        ),
        model,
    )
    assert set(table) == {n for n, _ in model.named_parameters()}
    for name, param in model.named_parameters():
        lr, wd = table[name]
        layer_id = official_id(name, num_layers, decay_type)
        assert lr == pytest.approx(BASE_LR * rate ** (num_layers + 1 - layer_id)), name
        no_decay = param.ndim == 1 or name.endswith('.bias')
        assert wd == (0.0 if no_decay else WD), name
    # spot checks by hand: stem conv deepest decay, head undecayed, gamma without wd
    assert table['backbone.downsample_layers.0.0.weight'][0] == pytest.approx(BASE_LR * rate ** (num_layers + 1))
    assert table['decode_head.weight'] == (pytest.approx(BASE_LR), WD)
    assert table['backbone.stages.2.0.gamma'][1] == 0.0


def test_frozen_parameters_are_left_out():
    model = Segmentor(frozen_stages=1)
    table = param_table(
        build(LearningRateDecayOptimizerConstructor, model, decay_rate=0.9, decay_type='stage_wise', num_layers=6),
        model,
    )
    assert not any(n.startswith(('backbone.stages.0.', 'backbone.downsample_layers.0.')) for n in table)


@pytest.mark.parametrize('library', ['mmseg', 'mmdet'])
@pytest.mark.parametrize('decay_type', ['layer_wise', 'stage_wise'])
def test_same_groups_as_mmseg_and_mmdet_constructors(library, decay_type):
    if library == 'mmseg':
        from mmseg.engine.optimizers import LearningRateDecayOptimizerConstructor as Theirs
    else:
        from mmdet.engine.optimizers import LearningRateDecayOptimizerConstructor as Theirs
    model = Segmentor()
    kwargs = dict(decay_rate=0.9, decay_type=decay_type, num_layers=6)
    ours = param_table(build(LearningRateDecayOptimizerConstructor, model, **kwargs), model)
    theirs = param_table(build(Theirs, model, **kwargs), model)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name][0] == pytest.approx(theirs[name][0]), name
        assert ours[name][1] == theirs[name][1], name


def test_registered_and_built_from_config():
    from mmengine.optim import build_optim_wrapper

    model = Segmentor()
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=WD),
            constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
            paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6),
        ),
    )
    assert len(wrapper.optimizer.param_groups) == 2 * 6  # ids 0-4 and 7, each decay + no_decay


@pytest.mark.parametrize(
    'paramwise, error',
    [
        (dict(decay_rate=0.9, decay_mult=2), "paramwise_cfg keys ['decay_mult'] are not understood"),
        (dict(num_layers=6), "paramwise_cfg needs 'decay_rate'"),
        (dict(decay_rate=0.9, decay_type='group_wise'), 'decay_type must be one of'),
    ],
)
def test_bad_paramwise_cfg(paramwise, error):
    with pytest.raises((KeyError, ValueError)) as info:
        build(LearningRateDecayOptimizerConstructor, Segmentor(), **paramwise)
    assert error in str(info.value)


def test_backbone_without_get_layer_depth():
    model = nn.Module()
    model.backbone = nn.Conv2d(3, 3, 1)
    with pytest.raises(TypeError, match='Conv2d has no get_layer_depth'):
        build(LearningRateDecayOptimizerConstructor, model, decay_rate=0.9)
