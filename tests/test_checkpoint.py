"""Checkpoint formats: each foreign layout is written here by hand from its documented
key names (docs/references.md §2), not produced by the converter under test."""

import io
import logging
import os
import pickle
import re
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
from mmengine.logging import MMLogger

from mmconvnext.checkpoint import CheckpointError, convert_to_mmconvnext, detect_format, load_pretrained
from mmconvnext.models import ConvNeXt

from .conftest import ROOT, TINY_ARCH


def official_key(name: str) -> str:
    """mmconvnext backbone key -> facebookresearch/ConvNeXt classifier key."""
    name = name.replace('depthwise_conv', 'dwconv').replace('pointwise_conv', 'pwconv')
    return 'norm.' + name[len('norm3.') :] if name.startswith('norm3.') else name


TIMM_BLOCK = {
    'depthwise_conv': 'conv_dw',
    'norm': 'norm',
    'pointwise_conv1': 'mlp.fc1',
    'pointwise_conv2': 'mlp.fc2',
    'gamma': 'gamma',
    'grn.gamma': 'mlp.grn.weight',
    'grn.beta': 'mlp.grn.bias',
}


def timm_key(name: str) -> str:
    """mmconvnext backbone key -> timm convnext key."""
    m = re.match(r'downsample_layers\.(\d)\.(\d)\.(.*)', name)
    if m:
        i, j, rest = m.groups()
        return f'stem.{j}.{rest}' if i == '0' else f'stages.{i}.downsample.{j}.{rest}'
    m = re.match(r'stages\.(\d+)\.(\d+)\.(.*)', name)
    if m:
        i, j, rest = m.groups()
        if rest in TIMM_BLOCK:  # bare parameters: gamma, grn.gamma, grn.beta
            rest = TIMM_BLOCK[rest]
        else:
            module, param = rest.rsplit('.', 1)
            rest = f'{TIMM_BLOCK[module]}.{param}'
        return f'stages.{i}.blocks.{j}.{rest}'
    assert name.startswith('norm3.'), name
    return 'head.norm.' + name[len('norm3.') :]


def make_model(**kwargs) -> ConvNeXt:
    model = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, **kwargs)
    model.init_weights()
    for p in model.parameters():  # distinct values everywhere, so a swapped key shows
        torch.nn.init.normal_(p)
    return model


def write(tmp_path, obj, name='ckpt.pth'):
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def load_into_fresh(path, **kwargs):
    fresh = ConvNeXt(
        {k: list(v) for k, v in TINY_ARCH.items()},
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix=kwargs.pop('prefix', None)),
        **kwargs,
    )
    fresh.init_weights()
    return fresh


@pytest.mark.parametrize('use_grn', [False, True])
def test_official_classifier_round_trip(tmp_path, use_grn):
    src = make_model(use_grn=use_grn, layer_scale_init_value=0.0 if use_grn else 1e-6)
    sd = OrderedDict()
    for k, v in src.state_dict().items():
        if re.search(r'\.grn\.(gamma|beta)$', k):
            v = v.reshape(1, 1, 1, -1)  # official V2 GRN parameters are (1, 1, 1, C)
        sd[official_key(k)] = v
    sd['head.weight'], sd['head.bias'] = torch.randn(10, 64), torch.randn(10)
    path = write(tmp_path, {'model': sd, 'epoch': 299})
    assert detect_format(sd) == 'official'
    converted, _ = convert_to_mmconvnext(sd)
    assert 'head.fc.weight' in converted and 'backbone.norm3.weight' in converted
    dst = load_into_fresh(path, use_grn=use_grn, layer_scale_init_value=0.0 if use_grn else 1e-6)
    assert_same_weights(src, dst)
    missing, unexpected = dst.load_state_dict(
        {k[len('backbone.') :]: v for k, v in converted.items() if k.startswith('backbone.')}, strict=True
    )
    assert not missing and not unexpected


def test_official_detection_checkpoint_with_backbone_prefix(tmp_path):
    src = make_model(out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    sd = OrderedDict(
        ('backbone.' + k.replace('depthwise_conv', 'dwconv').replace('pointwise_conv', 'pwconv'), v)
        for k, v in src.state_dict().items()
    )
    sd['neck.lateral_convs.0.conv.weight'] = torch.randn(4, 8, 1, 1)
    path = write(tmp_path, {'state_dict': sd, 'meta': {}})
    dst = load_into_fresh(path, prefix='backbone.', out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    assert_same_weights(src, dst)


@pytest.mark.parametrize('use_grn', [False, True])
def test_timm_round_trip(tmp_path, use_grn):
    src = make_model(use_grn=use_grn, layer_scale_init_value=0.0 if use_grn else 1e-6)
    sd = OrderedDict((timm_key(k), v) for k, v in src.state_dict().items())
    assert 'stem.0.weight' in sd and 'stages.1.downsample.1.weight' in sd
    assert 'stages.2.blocks.2.mlp.fc2.weight' in sd and 'head.norm.weight' in sd
    assert ('stages.0.blocks.0.mlp.grn.weight' in sd) == use_grn
    sd['head.fc.weight'], sd['head.fc.bias'] = torch.randn(10, 64), torch.randn(10)
    path = write(tmp_path, sd)  # timm files are bare state dicts
    assert detect_format(sd) == 'timm'
    assert_same_weights(src, load_into_fresh(path, use_grn=use_grn, layer_scale_init_value=0.0 if use_grn else 1e-6))


def test_timm_safetensors(tmp_path):
    from safetensors.torch import save_file

    src = make_model()
    path = tmp_path / 'model.safetensors'
    save_file({timm_key(k): v.contiguous() for k, v in src.state_dict().items()}, str(path))
    assert_same_weights(src, load_into_fresh(str(path)))


def test_mmpretrain_classifier_and_backbone_only(tmp_path):
    src = make_model()
    sd = OrderedDict(('backbone.' + k, v) for k, v in src.state_dict().items())
    sd['head.fc.weight'] = torch.randn(10, 64)
    path = write(tmp_path, {'state_dict': sd, 'meta': {'epoch': 1}})
    assert detect_format(sd) == 'mmpretrain'
    assert_same_weights(src, load_into_fresh(path, prefix='backbone.'))
    bare = write(tmp_path, src.state_dict(), 'bare.pth')
    assert_same_weights(src, load_into_fresh(bare))


def test_linear_and_conv_pointwise_checkpoints_interchange(tmp_path):
    src = make_model(linear_pw_conv=False)
    path = write(tmp_path, {'state_dict': src.state_dict()})
    dst = load_into_fresh(path, linear_pw_conv=True)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(src.eval()(x)[0], dst.eval()(x)[0], rtol=1e-4, atol=1e-4)


def test_missing_and_unexpected_keys_are_logged_by_name(tmp_path):
    src = make_model()  # classifier-style: only norm3
    state = {k: v for k, v in src.state_dict().items() if k != 'stages.1.0.gamma'}
    path = write(tmp_path, {'state_dict': {**state, 'stages.0.0.extra': torch.zeros(1)}})
    logger = MMLogger.get_instance('test_missing_keys')
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    dst = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, out_indices=(0, 3))
    missing, unexpected = load_pretrained(dst, path, logger=logger)
    assert missing == ['stages.1.0.gamma']
    assert unexpected == ['stages.0.0.extra']
    text = stream.getvalue()
    assert 'missing keys in' in text and "'stages.1.0.gamma'" in text
    assert 'unexpected keys in' in text and "'stages.0.0.extra'" in text
    # the extra output norm of a multi-scale backbone is a new layer, named as such
    assert 'output norms new in this multi-scale backbone' in text and "'norm0.bias', 'norm0.weight'" in text


def test_checkpoint_of_another_arch_names_keys_and_shapes(tmp_path):
    other = ConvNeXt({'depths': [1, 1, 3, 1], 'channels': [16, 32, 64, 128]})
    path = write(tmp_path, {'state_dict': other.state_dict()})
    with pytest.raises(CheckpointError) as info:
        load_into_fresh(path)
    msg = str(info.value)
    assert path in msg and 'another arch' in msg
    assert 'downsample_layers.0.0.weight: checkpoint (16, 3, 4, 4) vs model (8, 3, 4, 4)' in msg


def test_unknown_format_and_bad_prefix_are_named(tmp_path):
    path = write(tmp_path, {'state_dict': {'layer1.0.conv1.weight': torch.zeros(1)}})
    with pytest.raises(CheckpointError, match='not a ConvNeXt checkpoint.*layer1.0.conv1.weight'):
        load_into_fresh(path)
    path = write(tmp_path, {'state_dict': make_model().state_dict()}, 'b.pth')
    with pytest.raises(CheckpointError, match="no key starts with prefix 'model.'"):
        load_into_fresh(path, prefix='model.')
    with pytest.raises(CheckpointError, match='not found'):
        load_into_fresh(str(tmp_path / 'nope.pth'))
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'\x00not a checkpoint')
    with pytest.raises(CheckpointError, match='corrupt.pth: not a readable checkpoint'):
        load_into_fresh(str(corrupt))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:  # torch.save uses pickle under the hood; so can an attacker
        torch.save({'state_dict': {'stages.0.0.gamma': torch.zeros(8)}, 'x': _Exploit(marker)}, f)
    with pytest.raises(CheckpointError) as info:
        load_into_fresh(str(path))
    assert str(path) in str(info.value) and 'refused to load' in str(info.value)
    assert not marker.exists()
    # a raw pickle (not a torch zip) is refused as well
    raw = tmp_path / 'evil.pkl'
    raw.write_bytes(pickle.dumps(_Exploit(marker), protocol=2))
    with pytest.raises(CheckpointError, match='refused to load.*GLOBAL posix.system'):
        load_into_fresh(str(raw))
    raw.write_bytes(pickle.dumps(_Exploit(marker), protocol=5))  # opcodes torch does not even parse
    with pytest.raises(CheckpointError, match='not a readable checkpoint'):
        load_into_fresh(str(raw))
    assert not marker.exists()


def test_converter_tool_round_trip(tmp_path):
    src = make_model()
    sd = OrderedDict((timm_key(k), v) for k, v in src.state_dict().items())
    sd['head.fc.weight'], sd['head.fc.bias'] = torch.randn(10, 64), torch.randn(10)
    inp, out = write(tmp_path, sd, 'timm.pth'), tmp_path / 'converted.pth'
    res = subprocess.run(
        [sys.executable, str(ROOT / 'tools/model_converters/convnext_to_mmconvnext.py'), inp, str(out)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert 'timm' in res.stdout
    saved = torch.load(out, weights_only=True)
    assert set(saved) == {'state_dict', 'meta'} and saved['meta']['source_format'] == 'timm'
    assert 'head.fc.weight' in saved['state_dict']
    assert_same_weights(src, load_into_fresh(str(out), prefix='backbone.'))
    # refusing to overwrite the input
    res = subprocess.run(
        [sys.executable, str(ROOT / 'tools/model_converters/convnext_to_mmconvnext.py'), inp, inp],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and 'overwrite' in res.stderr
