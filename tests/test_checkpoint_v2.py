"""ConvNeXt V2 checkpoint formats: each layout is written here by hand from the source that
defines it (docs/references.md §2), from a tiny V2 model, then loaded through the same
``init_cfg`` path as every other format.

- official fine-tuned (facebookresearch/ConvNeXt-V2 ``models/convnextv2.py``): dense names,
  GRN ``gamma``/``beta`` (1, 1, 1, 4C), ``norm``, ``head``, no layer scale;
- official FCMAE pre-training (``models/fcmae.py``, ``models/convnextv2_sparse.py``,
  ``models/utils.py``): the sparse encoder under ``encoder.`` (MinkowskiEngine kernels
  (k*k, C) / (k*k, in, out), ``norm.ln``, ``pwconv1.linear``, (1, C) biases and GRN
  parameters) plus the decoder ``proj``, ``mask_token``, ``decoder.0``, ``pred``;
- mmpretrain V2 (``ConvNeXt(use_grn=True)``: GRN (4C,)), its converted FCMAE encoders
  (the same names, no ``norm3``/head) and SparK pre-training of a ``SparseConvNeXt``
  (the same backbone names, no output norms, plus ``neck``, ``enc_dec_norms``,
  ``enc_dec_projectors``, ``mask_tokens``).
"""

import argparse
import io
import logging
import re
import sys
from collections import OrderedDict

import pytest
import torch
from mmengine.logging import MMLogger

from mmconvnext.checkpoint import CheckpointError, convert_to_mmconvnext, detect_format, load_pretrained
from mmconvnext.models import ConvNeXt

from .conftest import TINY_ARCH, run_tool, tool_env
from .test_checkpoint import assert_same_weights, load_into_fresh, make_model, official_key, timm_key, write

V2 = dict(use_grn=True, layer_scale_init_value=0.0)
DENSE = dict(out_indices=(0, 1, 2, 3), gap_before_final_norm=False)


def capture(name: str) -> tuple[MMLogger, io.StringIO]:
    logger = MMLogger.get_instance(name)
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    return logger, stream


def sparse_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A dense conv weight in MinkowskiEngine's layout, restated offset by offset from the
    official remapping (facebookresearch/ConvNeXt-V2 ``utils.py``, ``remap_checkpoint_keys``:
    ``kernel.permute(2, 1, 0).reshape(out, in, k, k).transpose(3, 2)``): the window offset at
    row p, column q is kernel entry ``q * k + p``; entries are (in, out) matrices, or (C,)
    vectors for a depthwise conv (``.permute(1, 0).reshape(C, 1, k, k).transpose(3, 2)``)."""
    out_ch, in_ch, k, _ = weight.shape
    depthwise = in_ch == 1
    kernel = torch.empty((k * k, out_ch) if depthwise else (k * k, in_ch, out_ch))
    for p in range(k):
        for q in range(k):
            kernel[q * k + p] = weight[:, 0, p, q] if depthwise else weight[:, :, p, q].t()
    return kernel


def fcmae_state(src: ConvNeXt, decoder_dim: int = 16) -> OrderedDict:
    """``FCMAE.state_dict()`` of an encoder holding ``src``'s weights (no output norms)."""
    sd = OrderedDict()
    for name, value in src.state_dict().items():
        if re.match(r'norm\d+\.', name):
            continue  # SparseConvNeXtV2 has no output norm
        m = re.match(r'(stages\.\d+\.\d+)\.(\w+)\.(\w+)$', name)
        if m:
            block, module, param = m.groups()
            if module == 'depthwise_conv':
                key, value = (
                    (f'{block}.dwconv.kernel', sparse_kernel(value))
                    if param == 'weight'
                    else (f'{block}.dwconv.bias', value.reshape(1, -1))
                )
            elif module == 'norm':
                key = f'{block}.norm.ln.{param}'  # MinkowskiLayerNorm wraps nn.LayerNorm as .ln
            elif module.startswith('pointwise_conv'):
                key = f'{block}.pwconv{module[-1]}.linear.{param}'  # MinkowskiLinear wraps nn.Linear
            else:
                assert module == 'grn', name
                key, value = f'{block}.grn.{param}', value.reshape(1, -1)  # MinkowskiGRN: (1, C)
            sd['encoder.' + key] = value
            continue
        m = re.match(r'downsample_layers\.([1-9]\d*)\.([01])\.(\w+)$', name)
        if m:  # MinkowskiLayerNorm, then MinkowskiConvolution(kernel_size=2, stride=2)
            i, j, param = m.groups()
            if j == '0':
                key = f'downsample_layers.{i}.0.ln.{param}'
            elif param == 'weight':
                key, value = f'downsample_layers.{i}.1.kernel', sparse_kernel(value)
            else:
                key, value = f'downsample_layers.{i}.1.bias', value.reshape(1, -1)
            sd['encoder.' + key] = value
            continue
        assert name.startswith('downsample_layers.0.'), name  # the stem is dense: nn.Conv2d + LayerNorm
        sd['encoder.' + name] = value
    last = src.channels[-1]
    d = decoder_dim
    sd['proj.weight'], sd['proj.bias'] = torch.randn(d, last, 1, 1), torch.randn(d)
    sd['mask_token'] = torch.randn(1, d, 1, 1)
    sd['decoder.0.dwconv.weight'], sd['decoder.0.dwconv.bias'] = torch.randn(d, 1, 7, 7), torch.randn(d)
    sd['decoder.0.norm.weight'], sd['decoder.0.norm.bias'] = torch.randn(d), torch.randn(d)
    sd['decoder.0.pwconv1.weight'], sd['decoder.0.pwconv1.bias'] = torch.randn(4 * d, d), torch.randn(4 * d)
    sd['decoder.0.grn.gamma'], sd['decoder.0.grn.beta'] = torch.randn(1, 1, 1, 4 * d), torch.randn(1, 1, 1, 4 * d)
    sd['decoder.0.pwconv2.weight'], sd['decoder.0.pwconv2.bias'] = torch.randn(d, 4 * d), torch.randn(d)
    sd['pred.weight'], sd['pred.bias'] = torch.randn(32**2 * 3, d, 1, 1), torch.randn(32**2 * 3)
    return sd


FCMAE_DECODER = 15  # proj (2), mask_token, decoder.0 (10: dwconv, norm, pwconv1, grn, pwconv2), pred (2)


def strict_round_trip(src: ConvNeXt, converted: dict, **kwargs) -> None:
    """``converted``'s backbone part, plus those of ``src``'s output norms it lacks
    (pre-training checkpoints have none, classifiers only the last), loads strictly into
    a fresh backbone and gives ``src``'s weights."""
    state = {k[len('backbone.') :]: v for k, v in converted.items() if k.startswith('backbone.')}
    norms = {k: v for k, v in src.state_dict().items() if re.match(r'norm\d+\.', k) and k not in state}
    fresh = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, **kwargs)
    fresh.load_state_dict({**state, **norms}, strict=True)
    assert_same_weights(src, fresh)


# ------------------------------------------------------------------ official FCMAE
def test_sparse_kernel_layout_matches_the_official_rule():
    """The dense weight puts kernel entry q * k + p at row p, column q (official remap)."""
    k, c = 7, 3
    kernel = torch.arange(k * k * c, dtype=torch.float32).reshape(k * k, c)  # depthwise (49, C)
    sd = {'encoder.stages.0.0.dwconv.kernel': kernel}
    weight = convert_to_mmconvnext(sd, fmt='fcmae')[0]['backbone.stages.0.0.depthwise_conv.weight']
    assert weight.shape == (c, 1, k, k)
    assert weight[2, 0, 1, 0] == kernel[1, 2]  # entry 1: one row down, first column
    assert weight[2, 0, 0, 1] == kernel[7, 2]  # entry k: first row, one column right
    assert weight[0, 0, 6, 5] == kernel[5 * 7 + 6, 0]
    full = torch.arange(4 * 2 * 5, dtype=torch.float32).reshape(4, 2, 5)  # (2*2, in 2, out 5)
    sd = {'encoder.downsample_layers.1.1.kernel': full, 'encoder.stages.0.0.dwconv.kernel': kernel}
    weight = convert_to_mmconvnext(sd, fmt='fcmae')[0]['backbone.downsample_layers.1.1.weight']
    assert weight.shape == (5, 2, 2, 2)
    assert weight[4, 1, 1, 0] == full[1, 1, 4] and weight[4, 1, 0, 1] == full[2, 1, 4]
    with pytest.raises(CheckpointError, match=r'stages.0.0.dwconv.kernel: a sparse kernel shaped \(48, 3\)'):
        convert_to_mmconvnext({'encoder.stages.0.0.dwconv.kernel': torch.zeros(48, 3)}, fmt='fcmae')


def test_official_fcmae_round_trip(tmp_path):
    src = make_model(**V2, **DENSE)
    sd = fcmae_state(src)
    assert detect_format(sd) == 'fcmae'
    assert sd['encoder.stages.0.0.dwconv.kernel'].shape == (49, 8)
    assert sd['encoder.downsample_layers.1.1.kernel'].shape == (4, 8, 16)
    assert sd['encoder.stages.0.0.grn.gamma'].shape == (1, 32)
    logger, stream = capture('test_fcmae_convert')
    converted, fmt = convert_to_mmconvnext(sd, 'fcmae.pt', logger=logger)
    assert fmt == 'fcmae'
    assert all(k.startswith('backbone.') for k in converted)  # the decoder is gone
    assert converted['backbone.stages.0.0.grn.gamma'].shape == (32,)
    assert converted['backbone.downsample_layers.1.1.bias'].shape == (16,)
    text = stream.getvalue()
    assert f'fcmae.pt: dropped {FCMAE_DECODER} keys of the FCMAE decoder' in text
    assert "'mask_token'" in text and "'decoder.0.grn.gamma'" in text and "'pred.weight'" in text
    strict_round_trip(src, converted, **V2, **DENSE)

    # through init_cfg, from the official trainer's file ({'model': ...}, with its argparse
    # Namespace of settings, as the official save_model writes it)
    args = argparse.Namespace(model='convnextv2_tiny', mask_ratio=0.6, blr=1.5e-4, norm_pix_loss=True)
    path = write(tmp_path, {'model': sd, 'epoch': 799, 'args': args}, 'convnextv2_tiny_1k_224_fcmae.pt')
    logger, stream = capture('test_fcmae_load')
    dst = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, **V2, **DENSE)
    missing, unexpected = load_pretrained(dst, path, logger=logger)
    assert missing == [] and unexpected == []
    text = stream.getvalue()
    assert 'Loaded 76/84 backbone tensors' in text and '(fcmae format)' in text
    assert f'dropped {FCMAE_DECODER} keys of the FCMAE decoder' in text
    assert 'output norms that a pre-training encoder (fcmae format) does not have' in text and "'norm3.weight'" in text
    for k, v in src.state_dict().items():
        if not k.startswith('norm'):
            assert torch.equal(dst.state_dict()[k], v), k


def test_fcmae_encoder_selected_by_prefix(tmp_path):
    src = make_model(**V2)
    sd = fcmae_state(src)
    encoder_only = OrderedDict((k[len('encoder.') :], v) for k, v in sd.items() if k.startswith('encoder.'))
    assert detect_format(encoder_only) == 'fcmae'  # stages.i.j.dwconv.kernel: not 'official'
    path = write(tmp_path, {'model': sd})
    dst = load_into_fresh(path, prefix='encoder.', **V2)
    for k, v in src.state_dict().items():
        if not k.startswith('norm'):
            assert torch.equal(dst.state_dict()[k], v), k


def test_fcmae_into_other_archs_names_the_problem(tmp_path):
    path = write(tmp_path, {'model': fcmae_state(make_model(**V2))})
    with pytest.raises(CheckpointError, match=r'\(fcmae format\) does not fit.*another arch'):
        ConvNeXt(
            {'depths': [1, 1, 3, 1], 'channels': [16, 32, 64, 128]},
            **V2,
            init_cfg=dict(type='Pretrained', checkpoint=path),
        ).init_weights()
    logger, stream = capture('test_fcmae_into_v1')
    v1 = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()})  # V1: layer scale, no GRN
    missing, unexpected = load_pretrained(v1, path, logger=logger)
    assert sorted(unexpected) == sorted(
        f'stages.{i}.{j}.grn.{p}'
        for i, j in [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (3, 0)]
        for p in ('gamma', 'beta')
    )
    assert all(k.endswith('.gamma') for k in missing) and len(missing) == 6
    assert 'build the backbone with use_grn=True, layer_scale_init_value=0' in stream.getvalue()


def test_fcmae_converter_tool(tmp_path):
    src = make_model(**V2)
    inp, out = write(tmp_path, {'model': fcmae_state(src)}, 'in_fcmae.pt'), tmp_path / 'out.pth'
    tool = 'tools/model_converters/convnext_to_mmconvnext.py'
    printed = run_tool([sys.executable, tool, inp, str(out)], tool_env())
    assert f'dropped {FCMAE_DECODER} keys of the FCMAE decoder' in printed and '(fcmae format)' in printed
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['source_format'] == 'fcmae'
    assert all(k.startswith('backbone.') for k in saved['state_dict'])
    strict_round_trip(src, saved['state_dict'], **V2)


# ------------------------------------------------------------------ official fine-tuned V2
def test_official_v2_classifier(tmp_path):
    src = make_model(**V2)
    sd = OrderedDict()
    for k, v in src.state_dict().items():
        sd[official_key(k)] = v.reshape(1, 1, 1, -1) if '.grn.' in k else v  # GRN: (1, 1, 1, 4C)
    sd['head.weight'], sd['head.bias'] = torch.randn(10, 64), torch.randn(10)
    assert 'norm.weight' in sd and not any(k.endswith('.gamma') and '.grn.' not in k for k in sd)
    assert detect_format(sd) == 'official'
    converted, _ = convert_to_mmconvnext(sd)
    assert torch.equal(converted['head.fc.weight'], sd['head.weight'])
    strict_round_trip(src, converted, **V2)
    path = write(tmp_path, {'model': sd}, 'convnextv2_atto_1k_224_ema.pt')
    assert_same_weights(src, load_into_fresh(path, **V2))


def test_v1_checkpoint_into_v2_backbone_names_the_keys(tmp_path):
    v1 = make_model()
    path = write(tmp_path, {'model': OrderedDict((official_key(k), v) for k, v in v1.state_dict().items())})
    logger, stream = capture('test_v1_into_v2')
    missing, unexpected = load_pretrained(
        ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, **V2), path, logger=logger
    )
    assert len(missing) == 12 and all('.grn.' in k for k in missing)
    assert len(unexpected) == 6 and all(re.fullmatch(r'stages\.\d\.\d\.gamma', k) for k in unexpected)
    text = stream.getvalue()
    assert "'stages.0.0.grn.gamma'" in text and "'stages.0.0.gamma'" in text
    assert 'no GRN layers (ConvNeXt V1): build the backbone with use_grn=False' in text


# ------------------------------------------------------------------ timm
def test_timm_v2_fcmae_encoder(tmp_path):
    """timm's ``convnextv2_*.fcmae`` weights: timm names, no ``head.norm``/``head.fc``."""
    src = make_model(**V2)
    sd = OrderedDict((timm_key(k), v) for k, v in src.state_dict().items() if not k.startswith('norm3.'))
    assert detect_format(sd) == 'timm'
    converted, _ = convert_to_mmconvnext(sd)
    strict_round_trip(src, converted, **V2)


# ------------------------------------------------------------------ mmpretrain
def test_mmpretrain_v2_classifier_and_fcmae_encoder(tmp_path):
    src = make_model(**V2)
    sd = OrderedDict(('backbone.' + k, v) for k, v in src.state_dict().items())
    assert sd['backbone.stages.0.0.grn.gamma'].shape == (32,)  # mmpretrain's GRN: (C,)
    sd['head.fc.weight'], sd['head.fc.bias'] = torch.randn(10, 64), torch.randn(10)
    assert detect_format(sd) == 'mmpretrain'
    strict_round_trip(src, convert_to_mmconvnext(sd)[0], **V2)
    assert_same_weights(src, load_into_fresh(write(tmp_path, {'state_dict': sd, 'meta': {}}), prefix='backbone.', **V2))
    # convnext-v2-*_3rdparty-fcmae_in1k: the official FCMAE encoder in these names, no norm3 or head
    encoder = OrderedDict((k, v) for k, v in sd.items() if k.startswith('backbone.') and 'norm3' not in k)
    logger, stream = capture('test_mmpretrain_fcmae')
    missing, unexpected = load_pretrained(
        ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, **V2),
        write(tmp_path, {'state_dict': encoder}, 'e.pth'),
        logger=logger,
    )
    assert missing == ['norm3.weight', 'norm3.bias'] and unexpected == []
    assert 'missing keys in' in stream.getvalue() and "'norm3.weight'" in stream.getvalue()


def spark_state(src: ConvNeXt) -> OrderedDict:
    """``SparK.state_dict()`` (mmpretrain 1.x models/selfsup/spark.py, SparseConvNeXt
    backbone without output norms, SparKLightDecoder neck), for ``src``'s arch."""
    sd = OrderedDict(('backbone.' + k, v) for k, v in src.state_dict().items() if not k.startswith('norm'))
    for i, c in enumerate(reversed(src.channels)):
        sd[f'enc_dec_norms.{i}.weight'], sd[f'enc_dec_norms.{i}.bias'] = torch.randn(c), torch.randn(c)
        sd[f'enc_dec_projectors.{i}.weight'] = torch.randn(c // 2, c, 1 if i == 0 else 3, 1 if i == 0 else 3)
        sd[f'enc_dec_projectors.{i}.bias'] = torch.randn(c // 2)
        sd[f'mask_tokens.{i}'] = torch.randn(1, c, 1, 1)
    sd['neck.decoder.0.upsample.weight'], sd['neck.decoder.0.upsample.bias'] = (
        torch.randn(32, 32, 4, 4),
        torch.randn(32),
    )
    sd['neck.decoder.0.conv_blocks.0.norm1.num_batches_tracked'] = torch.tensor(0)
    sd['neck.proj.weight'], sd['neck.proj.bias'] = torch.randn(3, 1, 1, 1), torch.randn(3)
    return sd


def test_mmpretrain_spark_pretraining(tmp_path):
    src = make_model(**V2, **DENSE)
    sd = spark_state(src)
    assert detect_format(sd) == 'spark'
    logger, stream = capture('test_spark')
    converted, _ = convert_to_mmconvnext(sd, 'spark.pth', logger=logger)
    assert all(k.startswith('backbone.') for k in converted)
    assert 'spark.pth: dropped 25 keys of the SparK decoder' in stream.getvalue()
    assert "'mask_tokens.0'" in stream.getvalue() and '(25 in all)' in stream.getvalue()
    strict_round_trip(src, converted, **V2, **DENSE)
    logger, stream = capture('test_spark_load')
    dst = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, **V2, **DENSE)
    path = write(tmp_path, {'state_dict': sd, 'meta': {'epoch': 800}})
    assert load_pretrained(dst, path, prefix='backbone.', logger=logger) == ([], [])
    assert 'output norms that a pre-training encoder (spark format) does not have' in stream.getvalue()
