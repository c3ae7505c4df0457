"""mmconvnext's compiled depthwise-convolution kernels (``mmconvnext/csrc/depthwise_conv.cpp``): forward, input
and weight gradients equal aten's within 1e-5 (relative) over odd sizes and dilations, ``gradcheck`` in float64,
bf16/fp16 autocast, inside a backbone with and without ``with_cp``; the weight gradient has the same bits for any
thread count; graphs (tracing, export) keep the plain operator."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmconvnext.models import ConvNeXt
from mmconvnext.models.layers import compute_path, depthwise_kernel

from ..conftest import TINY_ARCH

pytestmark = pytest.mark.skipif(not depthwise_kernel.built(), reason=f'{depthwise_kernel.why_not_built()}')

# (N, C, H, W, K, dilation): 1x1, 2x2 and 7x7 maps, non-square, batch 1, a channel count below and above the
# kernels' 32-channel block, dilations of output_stride 16 / 8
CASES = [
    (1, 8, 1, 1, 7, 1),
    (2, 8, 2, 2, 7, 1),
    (1, 40, 7, 7, 7, 1),
    (3, 33, 5, 11, 7, 1),
    (1, 64, 9, 4, 5, 1),
    (2, 16, 13, 6, 3, 1),
    (1, 96, 10, 10, 7, 2),
    (2, 24, 9, 12, 7, 4),
]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12)).item()


def both(n, c, h, w, k, d, kernel_input=True, kernel_weight=True, dtype=torch.float32):
    """Outputs and the three gradients of aten's conv and of the kernels' Function, on the same operands."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=g, dtype=dtype).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(c, 1, k, k, generator=g, dtype=dtype)
    bias = torch.randn(c, generator=g, dtype=dtype)
    grad = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    results = []
    for use in (False, True):
        xs, ws, bs = (t.clone().requires_grad_() for t in (x, weight, bias))
        if use:
            y = depthwise_kernel.DepthwiseConv.apply(xs, ws, bs, d, kernel_input, kernel_weight)
        else:
            y = F.conv2d(xs, ws, bs, padding=d * (k // 2), dilation=d, groups=c)
        y.backward(grad)
        results.append((y.detach(), xs.grad, ws.grad, bs.grad))
    return results


@pytest.mark.parametrize('case', CASES, ids=[f'{c[2]}x{c[3]}-c{c[1]}-k{c[4]}-d{c[5]}' for c in CASES])
def test_kernels_equal_aten(case):
    (y0, gx0, gw0, gb0), (y1, gx1, gw1, gb1) = both(*case)
    assert torch.equal(y0, y1)  # aten's forward on both
    for ours, theirs in ((gx1, gx0), (gw1, gw0), (gb1, gb0)):
        assert ours.shape == theirs.shape and rel(ours, theirs) <= 1e-5
    n, c, h, w, k, d = case
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, h, w, c, generator=g)
    kernel = torch.randn(k, k, c, generator=g)
    bias = torch.randn(c, generator=g)
    reference = F.conv2d(
        x.permute(0, 3, 1, 2), kernel.permute(2, 0, 1)[:, None], bias, padding=d * (k // 2), dilation=d, groups=c
    )
    assert rel(depthwise_kernel._ext.forward(x, kernel, bias, d), reference.permute(0, 2, 3, 1)) <= 1e-5


def test_gradcheck_in_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 6, 4, generator=g, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(5, 1, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    for d in (1, 2):
        inputs = tuple(t.clone().requires_grad_() for t in (x, weight, bias))
        assert torch.autograd.gradcheck(
            lambda a, b, c, d=d: depthwise_kernel.DepthwiseConv.apply(a, b, c, d, True, True), inputs
        )


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_under_autocast(dtype):
    """The forward is aten's under autocast (same bits); the weight gradient is computed in fp32 from the
    low-precision operands, within that precision of aten's low-precision one, and returned in fp32."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 32, 14, 14, generator=g).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(32, 1, 7, 7, generator=g)
    grads = []
    for use in (False, True):
        xs, ws = x.clone().requires_grad_(), weight.clone().requires_grad_()
        with torch.autocast('cpu', dtype=dtype):
            y = (
                depthwise_kernel.DepthwiseConv.apply(xs, ws, None, 1, True, True)
                if use
                else F.conv2d(xs, ws, None, padding=3, groups=32)
            )
        assert y.dtype == dtype
        y.float().sum().backward()
        grads.append((y.detach(), xs.grad, ws.grad))
    (y0, gx0, gw0), (y1, gx1, gw1) = grads
    assert torch.equal(y0, y1) and gx1.dtype == gw1.dtype == torch.float32
    assert rel(gx1, gx0) <= 2e-2 and rel(gw1, gw0) <= 2e-2


def test_weight_gradient_bits_do_not_depend_on_the_thread_count():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 48, 20, 20, generator=g).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(4, 48, 20, 20, generator=g).contiguous(memory_format=torch.channels_last)
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            results.append(depthwise_kernel.weight_grad(x, grad, 7, 1))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize('with_cp', [False, True])
def test_backbone_on_the_kernels_equals_the_plain_ops(monkeypatch, with_cp):
    """A backbone whose blocks take the kernels for both gradients, also with ``with_cp`` and at output stride
    8 (dilated stages): outputs and every gradient within 1e-5 of the plain ops."""
    arch = {k: list(v) for k, v in TINY_ARCH.items()}
    plain = ConvNeXt(
        arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, onednn_cpu=False, with_cp=with_cp, output_stride=8
    )
    fast = ConvNeXt(
        arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, onednn_cpu=True, with_cp=with_cp, output_stride=8
    )
    for p in plain.parameters():
        nn.init.normal_(p, std=0.2)
    fast.load_state_dict(plain.state_dict())
    real = compute_path.block_path
    taken = []

    def both_kernels(block, x):
        path = real(block, x)
        taken.append(path.dw_weight)
        return path._replace(dw_input=path.dw_weight, dw_weight=path.dw_weight)

    monkeypatch.setattr(compute_path, 'block_path', both_kernels)
    x = torch.randn(2, 3, 40, 40)
    results = []
    for model in (plain.train(), fast.train()):
        xi = x.clone().requires_grad_()
        outs = model(xi)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        results.append(list(outs) + [xi.grad] + [p.grad for p in model.parameters()])
    assert any(taken) and not all(taken)  # the fast backbone took them, the plain one did not
    for a, b in zip(*results, strict=True):
        assert rel(b, a) <= 1e-5


def test_graphs_keep_the_plain_operator():
    """Traced (as ONNX export and FLOP counting trace), a training block records aten's convolution, not the
    kernels' Function, which it takes outside tracing."""
    from mmconvnext.models.backbones.convnext import ConvNeXtBlock

    block = ConvNeXtBlock(8, onednn_cpu=True).train()
    x = torch.randn(1, 8, 6, 6)
    assert compute_path.block_path(block, x).dw_weight
    graph = str(torch.jit.trace(block, x, check_trace=False).inlined_graph)
    assert 'aten::_convolution' in graph and 'DepthwiseConv' not in graph
    assert not depthwise_kernel.available(nn.Conv2d(8, 8, 7, padding=3, groups=8, stride=2), x)
    assert not depthwise_kernel.available(nn.Conv2d(8, 8, 7, padding=2, groups=8), x)
