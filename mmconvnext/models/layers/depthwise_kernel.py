"""mmconvnext's compiled depthwise-convolution kernels (``mmconvnext/csrc/depthwise_conv.cpp``) for the blocks'
depthwise convs on CPU, and the autograd Function that uses them.

Why by hand: the depthwise 7x7 weight gradient, in the oneDNN kernel every PyTorch CPU path calls
(``aten::convolution_backward``), ran at 1-6 GFLOP/s on the machines of this project, about a seventh of a
ConvNeXt-T training step on an Intel Xeon (docs/benchmarks.md); no installable library offers another for
eager PyTorch. The extension computes the forward, the input gradient and the weight gradient of a stride-1,
"same"-padded, optionally dilated depthwise conv on channels-last tensors (fp32, fp64); bf16 and fp16
gradient operands (autocast) are computed in fp32. fp32 with 3x3, 5x5 or 7x7 kernels runs register-blocked
loops built for AVX2 and for AVX-512, the widest the CPU has chosen at run time (:func:`isa`); the rest runs
plain loops. Nothing in it depends on the thread count or timing (the weight gradient sums fixed chunks in
a fixed order).

:class:`DepthwiseConv` takes, per pass (forward, input gradient, weight gradient), the kernel or aten as the
block's :class:`~mmconvnext.models.layers.compute_path.BlockPath` says; which one is a per-machine choice
(:mod:`~mmconvnext.models.layers.path_select`), made in :mod:`.compute_path`. These are kernels only. Where
the extension is not built (a GPU machine, a failed compile, a CPU without AVX2), the aten path runs and one
log line says why. Under ``torch.profiler`` the kernels' calls show as ``mmconvnext::depthwise_*``.
"""

import logging
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch.profiler import record_function

__all__ = [
    'DepthwiseConv',
    'aten_grads',
    'available',
    'build_id',
    'built',
    'forward',
    'input_grad',
    'isa',
    'weight_grad',
    'why_not_built',
]

try:
    from mmconvnext import _depthwise_conv as _ext

    _WHY = ''
except ImportError as error:  # not compiled (setup.py builds it; MMCONVNEXT_NO_EXT=1 skips it)
    _ext, _WHY = None, f'the extension mmconvnext._depthwise_conv is not built ({error})'
if _ext is not None and not hasattr(_ext, 'version'):  # built from an older source: `make install` rebuilds it
    _ext, _WHY = None, f'the extension {_ext.__file__} is a stale build (reinstall mmconvnext to rebuild it)'
if _ext is not None and torch.backends.cpu.get_cpu_capability() not in ('AVX2', 'AVX512'):
    _ext, _WHY = None, f'this CPU lacks AVX2 (torch reports {torch.backends.cpu.get_cpu_capability()})'
_logged = False


def built() -> bool:
    """Whether the compiled kernels can run on this machine."""
    return _ext is not None


def why_not_built() -> str:
    """Why :func:`built` is False ('' when it is True)."""
    return _WHY


def isa() -> str:
    """The instruction set the kernels' fp32 loops use here (``'avx512'``, ``'avx2'``), or ``'none'`` where they
    are not built."""
    return _ext.isa() if _ext is not None else 'none'


def build_id() -> str:
    """The kernels' version and instruction set (``'v2-avx512'``), or ``'none'`` where they are not built: part
    of the machine a compute-path choice is made for, so a new version or another instruction set chooses
    anew."""
    return f'v{_ext.version()}-{_ext.isa()}' if _ext is not None else 'none'


def available(conv: torch.nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether the kernels can compute the gradients of depthwise ``conv`` on ``x``: built, a CPU tensor of a
    floating dtype, a stride-1 depthwise conv with an odd square kernel and "same" zero padding, and not
    traced, scripted or compiled (graphs keep the plain operator). Logs once why not, where the extension is
    missing."""
    global _logged
    if x.device.type != 'cpu' or torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    if _ext is None:
        if not _logged:
            _logged = True
            print_log(f'mmconvnext: depthwise convs run on aten: {_WHY}', logger='current', level=logging.INFO)
        return False
    (kh, kw), (ph, pw), (dh, dw) = conv.kernel_size, conv.padding, conv.dilation
    return (
        x.dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16)
        and conv.groups == conv.in_channels == conv.out_channels
        and conv.stride == (1, 1)
        and conv.padding_mode == 'zeros'
        and kh == kw
        and kh % 2 == 1
        and dh == dw
        and (ph, pw) == (dh * (kh // 2), dw * (kw // 2))
    )


def _nhwc(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, C, H, W) -> contiguous (N, H, W, C) in ``dtype``: a view for channels-last memory."""
    return t.to(dtype).permute(0, 2, 3, 1).contiguous()


def _autocast_free(x: torch.Tensor) -> bool:
    """Whether the kernel's forward computes what ``F.conv2d`` would: an fp32/fp64 operand and CPU autocast off
    (under autocast the forward stays aten's, in the autocast dtype)."""
    return x.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled('cpu')


def forward(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], dilation: int) -> torch.Tensor:
    """The kernel's depthwise conv (N, C, H, W; channels-last memory) of ``x`` (fp32 or fp64) with ``weight``
    (C, 1, K, K) and ``bias``."""
    kernel = weight.to(x.dtype)[:, 0].permute(1, 2, 0).contiguous()
    b = None if bias is None else bias.to(x.dtype).contiguous()
    with record_function('mmconvnext::depthwise_forward'):
        return _ext.forward(_nhwc(x, x.dtype), kernel, b, dilation).permute(0, 3, 1, 2)


def aten_grads(
    grad_y: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, dilation: int, need_x: bool, need_w: bool
) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """aten's (oneDNN's) input and weight gradients of the depthwise conv (stride 1, padding d * (K // 2)),
    each only where asked."""
    k = weight.shape[-1]
    gx, gw, _ = torch.ops.aten.convolution_backward(
        grad_y,
        x,
        weight,
        None,
        [1, 1],
        [dilation * (k // 2)] * 2,
        [dilation] * 2,
        False,
        [0, 0],
        weight.shape[0],
        [need_x, need_w, False],
    )
    return gx, gw


def input_grad(grad_y: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """The kernel's dL/dx (N, C, H, W; channels-last memory) of the depthwise conv with ``weight`` (C, 1, K, K),
    from dL/dy (N, C, H, W), computed in fp32 (fp64 for fp64 operands)."""
    dtype = torch.float64 if grad_y.dtype == torch.float64 else torch.float32
    kernel = weight.to(dtype)[:, 0].permute(1, 2, 0).contiguous()
    with record_function('mmconvnext::depthwise_input_grad'):
        return _ext.input_grad(_nhwc(grad_y, dtype), kernel, dilation).permute(0, 3, 1, 2)


def weight_grad(x: torch.Tensor, grad_y: torch.Tensor, k: int, dilation: int) -> torch.Tensor:
    """The kernel's dL/dweight (C, 1, K, K) of the depthwise conv of ``x`` (N, C, H, W) from dL/dy, computed in
    fp32 (fp64 for fp64 operands); the same bits for any thread count."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    with record_function('mmconvnext::depthwise_weight_grad'):
        return _ext.weight_grad(_nhwc(x, dtype), _nhwc(grad_y, dtype), k, dilation).permute(2, 0, 1)[:, None]


class DepthwiseConv(torch.autograd.Function):
    """``F.conv2d(x, weight, bias, padding=d * (k // 2), dilation=d, groups=C)``: the forward
    (``kernel_forward``), the input gradient (``kernel_input``) and the weight gradient (``kernel_weight``)
    each from the compiled kernels or aten. Under autocast the forward runs as ``F.conv2d`` would (aten's, in
    the autocast dtype); the gradient kernels take their operands in fp32 (fp64 stays fp64) and return them in
    the dtype autograd expects."""

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: Optional[torch.Tensor],
        dilation: int,
        kernel_forward: bool,
        kernel_input: bool,
        kernel_weight: bool,
    ) -> torch.Tensor:
        k = weight.shape[-1]
        if kernel_forward and _autocast_free(x) and weight.dtype == x.dtype:
            y = forward(x, weight, bias, dilation).contiguous(memory_format=_memory_format(x))
        else:
            y = F.conv2d(x, weight, bias, padding=dilation * (k // 2), dilation=dilation, groups=weight.shape[0])
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.kernel_input, ctx.kernel_weight = dilation, kernel_input, kernel_weight
        ctx.has_bias, ctx.run_dtype = bias is not None, y.dtype
        return y

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        x, weight = ctx.saved_tensors
        d, k = ctx.dilation, weight.shape[-1]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32  # the kernels' operands
        aten_x = need_x and not ctx.kernel_input
        aten_w = need_w and not ctx.kernel_weight
        if aten_x or aten_w:  # aten's backward, in the dtype the forward ran in
            run = ctx.run_dtype
            grad_x, grad_w = aten_grads(grad_y.to(run), x.to(run), weight.to(run), d, aten_x, aten_w)
        if need_x and ctx.kernel_input:
            grad_x = input_grad(grad_y, weight, d)
        if need_w and ctx.kernel_weight:
            grad_w = weight_grad(x, grad_y, k, d)
        if need_b:
            grad_b = grad_y.sum((0, 2, 3), dtype=dtype)
        grad_x = None if grad_x is None else grad_x.to(x.dtype).contiguous(memory_format=_memory_format(x))
        grad_w = None if grad_w is None else grad_w.to(weight.dtype).contiguous()
        grad_b = None if grad_b is None else grad_b.to(weight.dtype)
        return grad_x, grad_w, grad_b, None, None, None, None


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1
        else (torch.contiguous_format)
    )
