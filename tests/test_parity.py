"""Numerical parity with timm and mmpretrain on identical weights (max relative error
1e-4), and the same layer-decay groups as mmseg's constructor gives mmpretrain's
ConvNeXt. The peers are installed into ``.peers`` by ``make peers``
(``tools/peers/install.sh``, which ``make test`` runs); without them these tests skip."""

import os
import subprocess
import sys

import pytest
import torch

from mmconvnext.checkpoint import load_pretrained
from mmconvnext.engine import LearningRateDecayOptimizerConstructor
from mmconvnext.models import ConvNeXt

from .conftest import ROOT
from .peers_worker import decay_groups

PEERS = ROOT / '.peers'
STUB = ROOT / 'tools' / 'peers' / 'stub'


@pytest.fixture(scope='module')
def peers(tmp_path_factory):
    if not (PEERS / 'timm').is_dir() or not (PEERS / 'mmpretrain').is_dir() or not STUB.is_dir():
        pytest.skip(f'peers not installed (make peers); looked in {PEERS}')
    out = tmp_path_factory.mktemp('peers') / 'peers.pt'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PEERS), str(STUB), str(ROOT)]))
    res = subprocess.run(
        [sys.executable, str(ROOT / 'tests' / 'peers_worker.py'), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return torch.load(out, weights_only=True)


def max_rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def ours_from(tmp_path, state_dict, **kwargs) -> ConvNeXt:
    """Our atto loaded from a peer's state dict through the public loading path
    (format detection, key conversion, 1x1-conv <-> linear pointwise weights)."""
    path = tmp_path / 'peer.pth'
    torch.save(dict(state_dict), path)
    model = ConvNeXt('atto', **kwargs)
    missing, unexpected = load_pretrained(model, str(path))
    assert not unexpected
    assert all(k.startswith('norm') for k in missing), missing  # timm features_only: no head norm
    return model.eval()


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_timm_features_and_pooled(peers, version, tmp_path):
    name = 'convnextv2_atto' if version == 'v2' else 'convnext_atto'
    v2 = dict(use_grn=True, layer_scale_init_value=0.0) if version == 'v2' else {}
    x = peers['input']
    # features_only: the four stage outputs before any norm -> compare stage outputs
    case = peers['cases'][f'timm/{name}/features']
    model = ours_from(tmp_path, case['state_dict'], out_indices=(0, 1, 2, 3), gap_before_final_norm=False, **v2)
    stage_outs = []
    hooks = [s.register_forward_hook(lambda m, i, o: stage_outs.append(o)) for s in model.stages]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for ours, theirs in zip(stage_outs, case['outputs'], strict=True):
        assert max_rel_err(ours, theirs) <= 1e-4
    # classifier trunk: pooled + head LayerNorm == our gap_before_final_norm output
    case = peers['cases'][f'timm/{name}/pooled']
    model = ours_from(tmp_path, case['state_dict'], **v2)
    with torch.no_grad():
        (ours,) = model(x)
    assert max_rel_err(ours, case['outputs'][0]) <= 1e-4


@pytest.mark.parametrize('output_stride', [16, 8])
@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_timm_output_stride(peers, version, output_stride, tmp_path):
    """``output_stride`` is timm's: the same stage outputs on the same weights (stride-1 downsampling
    layers, dilated depthwise convs), and those weights load with no key missing but the output norms."""
    name = 'convnextv2_atto' if version == 'v2' else 'convnext_atto'
    v2 = dict(use_grn=True, layer_scale_init_value=0.0) if version == 'v2' else {}
    case = peers['cases'][f'timm/{name}/features_os{output_stride}']
    model = ours_from(
        tmp_path,
        case['state_dict'],
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        output_stride=output_stride,
        **v2,
    )
    stage_outs = []
    hooks = [s.register_forward_hook(lambda m, i, o: stage_outs.append(o)) for s in model.stages]
    with torch.no_grad():
        model(peers['input'])
    for h in hooks:
        h.remove()
    assert [o.shape[-1] for o in stage_outs] == [64 // s for s in model.out_strides]
    for ours, theirs in zip(stage_outs, case['outputs'], strict=True):
        assert ours.shape == theirs.shape and max_rel_err(ours, theirs) <= 1e-4


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('mode', ['dense', 'pooled'])
def test_mmpretrain_same_keys_params_and_outputs(peers, version, mode):
    case = peers['cases'][f'mmpretrain/{version}/{mode}']
    v2 = dict(use_grn=True, layer_scale_init_value=0.0) if version == 'v2' else {}
    model = ConvNeXt(
        'atto', out_indices=(0, 1, 2, 3) if mode == 'dense' else -1, gap_before_final_norm=mode == 'pooled', **v2
    )
    model.load_state_dict(case['state_dict'], strict=True)  # identical parameter names
    assert sum(p.numel() for p in model.parameters()) == case['n_params'].item()
    with torch.no_grad():
        outs = model.eval()(peers['input'])
    for ours, theirs in zip(outs, case['outputs'], strict=True):
        assert max_rel_err(ours, theirs) <= 1e-4


@pytest.mark.parametrize('decay_type', ['layer_wise', 'stage_wise'])
def test_layer_decay_groups_equal_mmseg_on_mmpretrain(peers, decay_type):
    ours = decay_groups(ConvNeXt, LearningRateDecayOptimizerConstructor, decay_type)
    theirs = peers['groups'][decay_type]
    assert ours.keys() == theirs.keys()
    for name, (lr, wd) in ours.items():
        assert lr.item() == pytest.approx(theirs[name][0].item(), rel=1e-12), name
        assert wd.item() == theirs[name][1].item(), name
