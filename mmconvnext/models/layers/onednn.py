"""oneDNN matmuls for the blocks' pointwise layers on CPU (fp32).

Why by hand: PyTorch's eager ``nn.Linear`` on CPU calls MKL's ``addmm``, which on the
AMD CPUs of our machines reaches about 170 GFLOP/s for a 2048^3 fp32 product where
oneDNN (also inside PyTorch, ``torch.ops.mkldnn._linear_pointwise``) reaches about
410, and it writes the bias into the output before the product (one more pass over
the block's widest tensor). oneDNN also fuses the GELU after the first pointwise layer
and the residual add after the second into the same kernel. torch.compile (inductor)
makes the same choice, but only behind a compile step; these are the eager
equivalents. No installable library provides them for eager PyTorch.

Exact fp32 (no reduced-precision path): results differ from ``nn.Linear`` only by
summation order (relative 1e-6). Everything here falls back to the plain ops when the
private op is missing (another PyTorch build) or the tensors are not CPU fp32.
"""
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ['available', 'linear', 'linear_gelu', 'linear_add']

_OP = getattr(getattr(torch.ops, 'mkldnn', None), '_linear_pointwise', None)


def available(x: torch.Tensor) -> bool:
    """Whether the oneDNN path applies to ``x``: CPU fp32, oneDNN built in, not under
    autocast, and not being traced (FLOP counting, ONNX export) or compiled
    (torch.compile makes its own fusions from the plain ops)."""
    return (_OP is not None and x.device.type == 'cpu' and x.dtype == torch.float32
            and torch.backends.mkldnn.is_available() and not torch.is_autocast_cpu_enabled()
            and not torch.jit.is_tracing() and not torch.jit.is_scripting() and not torch.compiler.is_compiling())


def _mm(x2d: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], attr: str = 'none') -> torch.Tensor:
    return _OP(x2d, weight, bias, attr, [], 'none')


class _Linear(torch.autograd.Function):
    """``x @ W.T + b`` with oneDNN for the forward and the input gradient (both ~2x
    MKL's here) and for the weight gradient when the layer has at least 128 inputs
    (1.2-2x; with ConvNeXt-T's 96 inputs and 25k rows oneDNN took 31 ms, ``torch.mm``
    11, so narrow inputs stay on ``torch.mm``)."""

    @staticmethod
    def forward(ctx, x2d: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(x2d, weight)
        ctx.has_bias = bias is not None
        return _mm(x2d, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x2d, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = _mm(grad, weight.t().contiguous(), None) if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = _mm(grad.t(), x2d.t(), None) if x2d.shape[1] >= 128 else torch.mm(grad.t(), x2d)
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def _needs_grad(*tensors: Optional[torch.Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``F.linear`` over the last dimension of ``x`` (any leading shape)."""
    if not available(x):
        return F.linear(x, weight, bias)
    x2d = x.reshape(-1, x.shape[-1])
    out = _Linear.apply(x2d, weight, bias) if _needs_grad(x, weight, bias) else _mm(x2d, weight, bias)
    return out.view(*x.shape[:-1], weight.shape[0])


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``F.gelu(F.linear(x, weight, bias))`` (exact erf GELU); one fused kernel when no
    gradient is needed."""
    if not available(x) or _needs_grad(x, weight, bias):
        return F.gelu(linear(x, weight, bias))
    x2d = x.reshape(-1, x.shape[-1])
    return _mm(x2d, weight, bias, 'gelu').view(*x.shape[:-1], weight.shape[0])


def linear_add(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               other: torch.Tensor) -> torch.Tensor:
    """``F.linear(x, weight, bias) + other`` (``other`` shaped like the result); one
    fused kernel when no gradient is needed."""
    if not available(x) or _needs_grad(x, weight, bias, other):
        return linear(x, weight, bias) + other
    x2d = x.reshape(-1, x.shape[-1])
    other2d = other.reshape(-1, weight.shape[0])
    return _OP.binary(x2d, other2d, weight, bias, 'add').view(*x.shape[:-1], weight.shape[0])
