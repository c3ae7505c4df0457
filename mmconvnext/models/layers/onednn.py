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

These are kernels only: whether a block uses them (and which of them) is decided in
:mod:`mmconvnext.models.layers.compute_path`.
"""

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ['autocast_dtype', 'available', 'linear', 'linear_add', 'linear_gelu', 'mlp_recompute', 'no_autocast']

_OP = getattr(getattr(torch.ops, 'mkldnn', None), '_linear_pointwise', None)


def available(x: torch.Tensor) -> bool:
    """Whether the oneDNN path applies to ``x``: CPU fp32, oneDNN built in, not under
    autocast, and not being traced (FLOP counting, ONNX export) or compiled
    (torch.compile makes its own fusions from the plain ops)."""
    return (
        _OP is not None
        and x.device.type == 'cpu'
        and x.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and not torch.is_autocast_cpu_enabled()
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.compiler.is_compiling()
    )


def _mm(x2d: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], attr: str = 'none') -> torch.Tensor:
    return _OP(x2d, weight, bias, attr, [], 'none')


def autocast_dtype(x: torch.Tensor) -> Optional[torch.dtype]:
    """The dtype autocast would run a matmul on ``x``'s device in now, or None when
    autocast is off there (any device type: CPU bf16/fp16, CUDA fp16/bf16, ...)."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None


def no_autocast(x: torch.Tensor) -> torch.autocast:
    """A region where autocast is off on ``x``'s device. The backward passes below run
    in one: on CPU ``loss.backward()`` called inside an autocast region would otherwise
    autocast the fp32 gradient products of a forward that ran in fp32."""
    return torch.autocast(x.device.type, enabled=False)


def _weight_grad(grad: torch.Tensor, x2d: torch.Tensor, use_onednn: bool = True) -> torch.Tensor:
    """``grad.T @ x2d``: oneDNN when the layer has at least 128 inputs (1.2-2x here);
    with ConvNeXt-T's 96 inputs and 25k rows oneDNN took 31 ms and ``torch.mm`` 11, so
    narrow inputs stay on ``torch.mm``."""
    if use_onednn and available(x2d) and x2d.shape[1] >= 128:
        return _mm(grad.t(), x2d.t(), None)
    return torch.mm(grad.t(), x2d)


class _Linear(torch.autograd.Function):
    """``x @ W.T + b`` with oneDNN for the forward and the input gradient (both ~2x
    MKL's here); the weight gradient as :func:`_weight_grad` picks. Used only where
    :func:`available` (fp32, autocast off), so its backward runs with autocast off too."""

    @staticmethod
    def forward(ctx, x2d: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(x2d, weight)
        ctx.has_bias = bias is not None
        return _mm(x2d, weight, bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x2d, weight = ctx.saved_tensors
        with no_autocast(x2d):
            grad = grad.contiguous()
            grad_x = _mm(grad, weight.t().contiguous(), None) if ctx.needs_input_grad[0] else None
            grad_w = _weight_grad(grad, x2d) if ctx.needs_input_grad[1] else None
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


def linear_add(
    x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], other: torch.Tensor
) -> torch.Tensor:
    """``F.linear(x, weight, bias) + other`` (``other`` shaped like the result); one
    fused kernel when no gradient is needed."""
    if not available(x) or _needs_grad(x, weight, bias, other):
        return linear(x, weight, bias) + other
    x2d = x.reshape(-1, x.shape[-1])
    other2d = other.reshape(-1, weight.shape[0])
    return _OP.binary(x2d, other2d, weight, bias, 'add').view(*x.shape[:-1], weight.shape[0])


def _lin(x2d: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], use_onednn: bool) -> torch.Tensor:
    return _mm(x2d, weight, bias) if use_onednn and available(x2d) else F.linear(x2d, weight, bias)


class _RecomputedMLP(torch.autograd.Function):
    """``fc2(gelu(fc1(x)))`` that keeps only ``x`` for the backward pass and recomputes
    ``fc1`` and the GELU there: the two 4C-wide activations (two thirds of what a
    ConvNeXt block stores) are never held, for one extra ``fc1`` product. Selective
    activation checkpointing; ``torch.utils.checkpoint`` on the whole block would
    recompute ``fc2`` and the depthwise conv too.

    Mixed precision: under autocast the forward casts its operands to the autocast
    dtype itself (as autocast casts ``F.linear``'s) and computes with autocast off, and
    the backward recomputes from those cast operands, so both passes run in the same
    dtypes and the results equal the plain layers' under autocast. Gradients are
    returned in the dtypes of the inputs (fp32 for fp32 parameters). This is what
    ``torch.amp.custom_fwd``/``custom_bwd`` do, but for the input's device type
    (CPU or CUDA) rather than one fixed at definition.
    """

    @staticmethod
    def forward(ctx, x2d, w1, b1, w2, b2, use_onednn):
        ctx.in_dtypes = tuple(None if t is None else t.dtype for t in (x2d, w1, b1, w2, b2))
        dtype = autocast_dtype(x2d)
        if dtype is not None:
            x2d, w1, b1, w2, b2 = (None if t is None else t.to(dtype) for t in (x2d, w1, b1, w2, b2))
        with no_autocast(x2d):
            hidden = _mm(x2d, w1, b1, 'gelu') if use_onednn and available(x2d) else F.gelu(F.linear(x2d, w1, b1))
            out = _lin(hidden, w2, b2, use_onednn)
        ctx.save_for_backward(x2d, w1, b1, w2)
        ctx.has_b2 = b2 is not None
        ctx.use_onednn = use_onednn
        return out

    @staticmethod
    def backward(ctx, grad):
        x2d, w1, b1, w2 = ctx.saved_tensors
        use_onednn = ctx.use_onednn
        with no_autocast(x2d):
            grad = grad.to(x2d.dtype).contiguous()
            h = _lin(x2d, w1, b1, use_onednn)
            a = F.gelu(h)
            grad_w2 = _weight_grad(grad, a, use_onednn)
            grad_b2 = grad.sum(0) if ctx.has_b2 else None
            grad_h = torch.ops.aten.gelu_backward(_lin(grad, w2.t().contiguous(), None, use_onednn), h)
            del a, h
            grad_w1 = _weight_grad(grad_h, x2d, use_onednn)
            grad_b1 = grad_h.sum(0) if b1 is not None else None
            grad_x = _lin(grad_h, w1.t().contiguous(), None, use_onednn)
        grads = (grad_x, grad_w1, grad_b1, grad_w2, grad_b2)
        return (*(None if g is None else g.to(d) for g, d in zip(grads, ctx.in_dtypes)), None)


def mlp_recompute(
    x: torch.Tensor,
    w1: torch.Tensor,
    b1: Optional[torch.Tensor],
    w2: torch.Tensor,
    b2: Optional[torch.Tensor],
    use_onednn: bool = True,
) -> torch.Tensor:
    """``F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)`` over the last dimension of ``x``,
    storing only ``x`` for the backward pass (see :class:`_RecomputedMLP`). With
    ``use_onednn=False`` the products are the plain ``F.linear``/``torch.mm`` ones."""
    x2d = x.reshape(-1, x.shape[-1])
    return _RecomputedMLP.apply(x2d, w1, b1, w2, b2, use_onednn).view(*x.shape[:-1], w2.shape[0])
