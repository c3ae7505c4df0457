"""mmconvnext's compiled depthwise-convolution kernels (``mmconvnext/csrc/depthwise_conv.cpp``): forward, input
and weight gradients equal aten's within 1e-5 (relative) over odd sizes and dilations, by every instruction set
this CPU runs (AVX-512, AVX2, the plain loops), ``gradcheck`` in float64, bf16/fp16 autocast, inside a backbone
with and without ``with_cp`` and in inference; forward and weight gradient have the same bits for any thread
count; graphs (tracing, export) keep the plain operator."""

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


def isas() -> list:
    """The instruction sets the kernels can run here: the widest first."""
    flags = {'avx512': ('avx512f', 'avx512vl', 'avx512bw', 'avx512dq'), 'avx2': ('avx2', 'fma')}
    cpu = open('/proc/cpuinfo').read().split()
    return [isa for isa, need in flags.items() if all(f in cpu for f in need)] + ['generic']


def both(n, c, h, w, k, d, kernel_forward=True, kernel_input=True, kernel_weight=True, dtype=torch.float32):
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
            y = depthwise_kernel.DepthwiseConv.apply(xs, ws, bs, d, kernel_forward, kernel_input, kernel_weight)
        else:
            y = F.conv2d(xs, ws, bs, padding=d * (k // 2), dilation=d, groups=c)
        y.backward(grad)
        results.append((y.detach(), xs.grad, ws.grad, bs.grad))
    return results


@pytest.mark.parametrize('case', CASES, ids=[f'{c[2]}x{c[3]}-c{c[1]}-k{c[4]}-d{c[5]}' for c in CASES])
def test_kernels_equal_aten(case):
    (y0, gx0, gw0, gb0), (y1, gx1, gw1, gb1) = both(*case)
    assert y1.is_contiguous(memory_format=torch.channels_last) or y1.shape[1] == 1
    for ours, theirs in ((y1, y0), (gx1, gx0), (gw1, gw0), (gb1, gb0)):
        assert ours.shape == theirs.shape and rel(ours, theirs) <= 1e-5
    (y2, *_), _ = both(*case, kernel_forward=False)
    assert torch.equal(y2, y0)  # aten's forward where not asked


@pytest.mark.parametrize('isa', isas())
@pytest.mark.parametrize('case', CASES, ids=[f'{c[2]}x{c[3]}-c{c[1]}-k{c[4]}-d{c[5]}' for c in CASES])
def test_every_instruction_set_equals_aten(case, isa):
    """The extension's three entry points on (N, H, W, C) operands, by each instruction set this CPU has and by
    the plain loops (the vector loops cover K 3/5/7 and channel tails of 16, 8 and 1 lanes)."""
    n, c, h, w, k, d = case
    g = torch.Generator().manual_seed(1)
    x, grad = torch.randn(n, h, w, c, generator=g), torch.randn(n, h, w, c, generator=g)
    kernel, bias = torch.randn(k, k, c, generator=g), torch.randn(c, generator=g)
    nchw = x.permute(0, 3, 1, 2).requires_grad_()
    weight = kernel.permute(2, 0, 1)[:, None].contiguous().requires_grad_()
    reference = F.conv2d(nchw, weight, bias, padding=d * (k // 2), dilation=d, groups=c)
    reference.backward(grad.permute(0, 3, 1, 2))
    ext = depthwise_kernel._ext
    assert rel(ext.forward(x, kernel, bias, d, isa), reference.detach().permute(0, 2, 3, 1)) <= 1e-5
    assert rel(ext.input_grad(grad, kernel, d, isa), nchw.grad.permute(0, 2, 3, 1)) <= 1e-5
    assert rel(ext.weight_grad(x, grad, k, d, isa), weight.grad[:, 0].permute(1, 2, 0)) <= 1e-5


def test_instruction_set_is_checked():
    x, kernel = torch.randn(1, 4, 4, 8), torch.randn(3, 3, 8)
    assert depthwise_kernel.isa() == isas()[0]
    with pytest.raises(RuntimeError, match="isa must be '', 'avx512', 'avx2' or 'generic', got 'sse'"):
        depthwise_kernel._ext.forward(x, kernel, None, 1, 'sse')
    with pytest.raises(RuntimeError, match='bias must be a contiguous'):
        depthwise_kernel._ext.forward(x, kernel, torch.randn(7), 1)


def test_gradcheck_in_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 6, 4, generator=g, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(5, 1, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    for d in (1, 2):
        inputs = tuple(t.clone().requires_grad_() for t in (x, weight, bias))
        assert torch.autograd.gradcheck(
            lambda a, b, c, d=d: depthwise_kernel.DepthwiseConv.apply(a, b, c, d, True, True, True), inputs
        )


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_under_autocast(dtype):
    """The forward is aten's under autocast (same bits) though the kernel's is asked for; the gradients are
    computed in fp32 from the low-precision operands, within that precision of aten's low-precision ones, and
    returned in fp32."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 32, 14, 14, generator=g).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(32, 1, 7, 7, generator=g)
    grads = []
    for use in (False, True):
        xs, ws = x.clone().requires_grad_(), weight.clone().requires_grad_()
        with torch.autocast('cpu', dtype=dtype):
            y = (
                depthwise_kernel.DepthwiseConv.apply(xs, ws, None, 1, True, True, True)
                if use
                else F.conv2d(xs, ws, None, padding=3, groups=32)
            )
        assert y.dtype == dtype
        y.float().sum().backward()
        grads.append((y.detach(), xs.grad, ws.grad))
    (y0, gx0, gw0), (y1, gx1, gw1) = grads
    assert torch.equal(y0, y1) and gx1.dtype == gw1.dtype == torch.float32
    assert rel(gx1, gx0) <= 2e-2 and rel(gw1, gw0) <= 2e-2


def test_bits_do_not_depend_on_the_thread_count():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 48, 20, 20, generator=g).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(4, 48, 20, 20, generator=g).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(48, 1, 7, 7, generator=g)
    threads = torch.get_num_threads()
    try:
        results = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            results.append(
                (
                    depthwise_kernel.weight_grad(x, grad, 7, 1),
                    depthwise_kernel.forward(x, weight, None, 1),
                    depthwise_kernel.input_grad(grad, weight, 1),
                )
            )
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for r in results[1:] for a, b in zip(results[0], r, strict=True))


@pytest.mark.parametrize('with_cp', [False, True])
def test_backbone_on_the_kernels_equals_the_plain_ops(monkeypatch, with_cp):
    """A backbone whose blocks take the kernels for all three passes, also with ``with_cp`` and at output
    stride 8 (dilated stages): outputs and every gradient within 1e-5 of the plain ops, and in inference."""
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

    def all_kernels(block, x):
        path = real(block, x)
        taken.append(path.dw_weight)
        return path._replace(dw_forward=path.dw_weight, dw_input=path.dw_weight)

    monkeypatch.setattr(compute_path, 'block_path', all_kernels)
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
    monkeypatch.setattr(compute_path, 'block_path', real)
    with torch.no_grad():
        block = fast.stages[0][0].eval()
        path = compute_path.block_path(block, torch.randn(2, block.depthwise_conv.in_channels, 10, 10))
        assert path.dw_forward and not path.dw_input and not path.dw_weight  # inference: the forward only
        for a, b in zip(plain.eval()(x), fast.eval()(x), strict=True):
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
