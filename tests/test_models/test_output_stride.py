"""``ConvNeXt(output_stride=8|16)``: stride-1 downsampling layers past the output stride and dilated
depthwise convs after them (timm's rule; parity with timm itself is in tests/test_parity.py). The parameters
keep their shapes, so checkpoints load with no key missing; every compute path (plain, oneDNN, with_cp,
autocast, the crop of small maps, ONNX) computes the same function."""

import pytest
import torch

from mmconvnext.checkpoint import load_pretrained
from mmconvnext.deploy.export import export_onnx
from mmconvnext.deploy.runtime import BackendGraph
from mmconvnext.models import ConvNeXt
from mmconvnext.models.layers import onednn

from ..conftest import TINY_ARCH

STRIDES = {None: (4, 8, 16, 32), 32: (4, 8, 16, 32), 16: (4, 8, 16, 16), 8: (4, 8, 8, 8)}


def dense(output_stride, **kwargs) -> ConvNeXt:
    arch = {k: list(v) for k, v in TINY_ARCH.items()}
    return ConvNeXt(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, output_stride=output_stride, **kwargs)


def randomized(model: ConvNeXt) -> ConvNeXt:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # layer scale and norms away from identity too
            p.copy_(torch.randn(p.shape, generator=g) * 0.2 + (1.0 if p.dim() == 1 else 0.0))
    return model


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize('output_stride', sorted(STRIDES, key=str))
def test_feature_strides_and_shapes(output_stride):
    model = dense(output_stride).eval()
    assert model.out_strides == STRIDES[output_stride]
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape[2:]) for o in outs] == [(64 // s, 96 // s) for s in STRIDES[output_stride]]
    assert [o.shape[1] for o in outs] == TINY_ARCH['channels']
    dilations = {m.dilation for m in model.stages[-1].modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1}
    assert dilations == {(32 // STRIDES[output_stride][-1],) * 2}


@pytest.mark.parametrize('output_stride', [16, 8])
def test_checkpoints_load_unchanged(tmp_path, output_stride):
    """Same names and shapes as the stride-32 backbone: an official-format checkpoint (keys converted) loads
    with no key missing or unexpected, and a state dict loads strictly."""
    reference = randomized(dense(None))
    model = dense(output_stride)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    model.load_state_dict(reference.state_dict(), strict=True)
    official = {  # the official repository's names for the same weights (downsample layers, blocks)
        k.replace('depthwise_conv', 'dwconv').replace('pointwise_conv', 'pwconv'): v
        for k, v in reference.state_dict().items()
    }
    path = tmp_path / 'official.pth'
    torch.save({'model': official}, path)
    missing, unexpected = load_pretrained(dense(output_stride), str(path))
    assert missing == [] and unexpected == []


@pytest.mark.skipif(not onednn.available(torch.zeros(1)), reason='no oneDNN CPU op in this torch build')
@pytest.mark.parametrize('output_stride,with_cp', [(16, False), (8, False), (8, True)])
def test_onednn_path_equals_the_plain_ops(output_stride, with_cp):
    """Training outputs and every gradient within 1e-5 (relative), and inference outputs, on 40x40 inputs whose
    dilated stages crop their kernels (5x5 maps, dilation 2 and 4)."""
    plain = randomized(dense(output_stride, onednn_cpu=False, with_cp=with_cp))
    fast = dense(output_stride, onednn_cpu=True, with_cp=with_cp)
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 40, 40)
    results = []
    for model in (plain.train(), fast.train()):
        xi = x.clone().requires_grad_()
        outs = model(xi)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        results.append(list(outs) + [xi.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*results, strict=True):
        assert rel_err(b, a) <= 1e-5
    with torch.no_grad():
        for a, b in zip(plain.eval()(x), fast.eval()(x), strict=True):
            assert rel_err(b, a) <= 1e-5


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_under_autocast(dtype):
    model = randomized(dense(16)).train()
    x = torch.randn(1, 3, 128, 128)  # 8x8 last maps: the dilated kernel reaches them whole (no crop)
    reference = model(x)
    seen = []
    model.stages[-1][0].depthwise_conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.autocast('cpu', dtype=dtype), torch.no_grad():
        model.eval()(x)  # (in training the conv may run through the depthwise kernels' Function, no hook)
    assert seen == [dtype]  # the dilated conv itself ran in the autocast dtype
    model.train()
    with torch.autocast('cpu', dtype=dtype):
        outs = model(x)
    for a, b in zip(outs, reference, strict=True):
        assert rel_err(a.float(), b) <= 0.05
    sum(o.float().sum() for o in outs).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_onnx_export_is_standard_convolutions(tmp_path):
    """The stride-1 downsampling layers and dilated depthwise convs export as ONNX Conv (pads, dilations)
    and onnxruntime and OpenVINO give PyTorch's features at another input size (dynamic axes)."""
    onnx = pytest.importorskip('onnx')
    model = randomized(dense(8)).eval()
    path = export_onnx(
        model,
        torch.randn(1, 3, 64, 64),
        tmp_path / 'os8.onnx',
        dynamic_axes={'input': {0: 'n', 2: 'h', 3: 'w'}},
    )
    graph = onnx.load(path).graph
    assert {n.op_type for n in graph.node} <= {
        'Conv',
        'Add',
        'Mul',
        'Div',
        'Sub',
        'Pow',
        'Sqrt',
        'ReduceMean',
        'Transpose',
        'MatMul',
        'Erf',
        'Pad',
        'Constant',
        'Identity',
        'LayerNormalization',
        'Cast',
        'Shape',
        'Gather',
        'Slice',
        'Concat',
        'Unsqueeze',
        'Reshape',
        'Squeeze',
        'Gemm',
    }
    dilations = {tuple(a.ints) for n in graph.node if n.op_type == 'Conv' for a in n.attribute if a.name == 'dilations'}
    assert {(2, 2), (4, 4)} <= dilations
    x = torch.randn(2, 3, 80, 48)
    with torch.no_grad():
        expected = model(x)
    for runtime in ('onnxruntime', 'openvino'):
        pytest.importorskip(runtime)
        got = BackendGraph(path, runtime, [tuple(o.shape) for o in expected])(x)
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape and rel_err(a, b) <= 1e-4, runtime


def test_bad_output_stride_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r'output_stride must be one of \[8, 16, 32\].*got 4'):
        dense(4)
    with pytest.raises(ValueError, match=r'output_stride must be one of \[8, 16\] .*3 stages.*got 32'):
        ConvNeXt({'depths': [1, 1, 1], 'channels': [8, 16, 32]}, output_stride=32)
