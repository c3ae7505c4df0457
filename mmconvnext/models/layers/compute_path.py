"""Which compute path a ConvNeXt block (and its backbone's memory layout) takes: decided here only.

A block computes the same function on every path; the paths differ in kernels, memory and
what autograd keeps:

- ``plain``: eager PyTorch ops (``nn.Linear`` or 1x1 ``nn.Conv2d``), the reference.
- ``onednn``: the pointwise layers as oneDNN matmuls with the GELU fused
  (:mod:`~mmconvnext.models.layers.onednn`), CPU fp32 only; ``fused`` additionally folds
  layer scale into the second layer and fuses the residual add, where no gradient is
  needed and drop path is off.
- ``recompute='mlp'``: selective activation checkpointing: the pointwise layers keep only
  their input and recompute ``fc1`` + GELU in the backward pass
  (:func:`~mmconvnext.models.layers.onednn.mlp_recompute`, itself on oneDNN or not).
- ``recompute='block'``: ``torch.utils.checkpoint`` of the whole block, for the blocks
  the selective form does not cover (GRN, 1x1 convs, another activation).
- ``dw_input`` / ``dw_weight`` / ``dw_forward``: the depthwise conv's input gradient, weight
  gradient and forward from mmconvnext's compiled kernels
  (:mod:`~mmconvnext.models.layers.depthwise_kernel`) instead of aten's (oneDNN's), where they are
  built; the forward in inference too.

Everything that chooses among them is in this module, so a policy (e.g. per machine:
which kernels are faster where) changes one function, :func:`block_path`, and the
backbone-level :func:`channels_last_memory`. On every path, the depthwise conv of a map
smaller than its kernel's reach runs with the part of the kernel that can touch the map
(:func:`depthwise_conv`). The kernels themselves still fall back to
plain ops where oneDNN cannot run (see :func:`onednn.available`).
"""

from itertools import chain
from typing import NamedTuple, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import depthwise_kernel, onednn, path_select

__all__ = ['BlockPath', 'block_path', 'channels_last_memory', 'depthwise_conv', 'exact_gelu']


class BlockPath(NamedTuple):
    """The path of one block call.

    Attributes:
        recompute: ``'none'``, ``'mlp'`` (recompute the pointwise layers' expansion in
            backward) or ``'block'`` (recompute the whole block).
        onednn: pointwise products on oneDNN (also those of ``recompute='mlp'``).
        fused: with ``onednn``: one kernel for the second pointwise layer, layer scale
            and the residual add (inference: no gradient through the block's MLP).
        dw_input, dw_weight, dw_forward: the depthwise conv's input gradient / weight gradient /
            forward by the compiled kernels.
    """

    recompute: str = 'none'
    onednn: bool = False
    fused: bool = False
    dw_input: bool = False
    dw_weight: bool = False
    dw_forward: bool = False


def exact_gelu(act: nn.Module) -> bool:
    """Whether ``act`` is the erf GELU, the one oneDNN fuses and the recomputed MLP uses."""
    return isinstance(act, nn.GELU) and act.approximate == 'none'


def channels_last_memory(cpu_path: Union[bool, str], x: torch.Tensor) -> bool:
    """Whether a backbone whose ``onednn_cpu`` is ``cpu_path`` (:func:`path_select.parse_mode`)
    runs on ``x`` in channels-last memory: then the blocks' (N, C, H, W) <-> (N, H, W, C)
    permutes are free views and the residual is the fused add's operand. Wherever the
    blocks may take the oneDNN path; the forced plain path keeps NCHW (the eager reference)."""
    return path_select.effective_mode(path_select.parse_mode(cpu_path)) != 'plain' and onednn.available(x)


def _cropped_reach(conv: nn.Conv2d, x: torch.Tensor) -> Optional[tuple[int, int]]:
    """The half-sizes ``(rh, rw)``, in kernel taps, of the part of depthwise ``conv``'s
    kernel that can touch the (N, C, H, W) map ``x``, where that part is smaller than the
    kernel; else None.

    A same-size depthwise conv (padding ``d * (k // 2)`` for dilation ``d``) reaches
    ``d * (k // 2)`` pixels each way, but an output pixel of an H-pixel-high map only has
    input rows within ``H - 1`` of it: the kernel taps farther out from the centre
    (``d * |i| > H - 1``) multiply padding zeros, to the output and to both gradients.
    Cropped to its central ``2 * min(k // 2, (H - 1) // d) + 1`` rows (and the same for
    columns), with the padding cut to match, the conv is the same function with fewer
    products, e.g. a 7x7 kernel on a 2x2 map (the last stage of a 64-pixel input) is a 3x3
    one, and on a 1x1 map a per-channel scale; dilated stages of a backbone with a smaller
    ``output_stride`` crop sooner. oneDNN's depthwise kernels take about as long for a tiny
    map as for a 7x7 one: fwd+bwd of a 7x7 depthwise conv, batch 32, 1 thread, AMD EPYC:
    160 channels at 2x2, 20 ms, cropped 4.8 ms; 320 at 1x1, 28 ms, cropped 1 ms.

    CPU only (where it was measured), stride 1, zero padding of ``d * (k // 2)`` (odd
    kernels); never while tracing, scripting or compiling, whose graphs must hold for other
    input sizes."""
    if (
        x.device.type != 'cpu'
        or conv.groups != conv.in_channels
        or conv.stride != (1, 1)
        or conv.padding_mode != 'zeros'
        or isinstance(conv.padding, str)
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
    ):
        return None
    (kh, kw), (ph, pw), (dh, dw) = conv.kernel_size, conv.padding, conv.dilation
    if kh % 2 == 0 or kw % 2 == 0 or ph != dh * (kh // 2) or pw != dw * (kw // 2):
        return None
    rh, rw = min(kh // 2, (x.shape[2] - 1) // dh), min(kw // 2, (x.shape[3] - 1) // dw)
    return (rh, rw) if (rh, rw) != (kh // 2, kw // 2) and min(rh, rw) >= 0 else None


def depthwise_conv(conv: nn.Conv2d, x: torch.Tensor, path: Optional['BlockPath'] = None) -> torch.Tensor:
    """A block's depthwise ``conv`` on ``x``: ``conv(x)``, with the kernel cropped to what
    can touch the map when the map is smaller than the kernel's reach (:func:`_cropped_reach`;
    the same outputs and gradients up to summation order, the cropped-off weights getting
    the zero gradient they get from the whole kernel), and its forward and gradients from the
    compiled kernels where ``path`` says so (a square kernel, cropped or not). Autocast applies
    to it as to ``conv``."""
    reach = _cropped_reach(conv, x)
    kernels = path is not None and (path.dw_forward or path.dw_input or path.dw_weight)
    if reach is None:
        if kernels:
            return depthwise_kernel.DepthwiseConv.apply(
                x, conv.weight, conv.bias, conv.dilation[0], path.dw_forward, path.dw_input, path.dw_weight
            )
        return conv(x)
    (rh, rw), (kh, kw), (dh, dw) = reach, conv.kernel_size, conv.dilation
    ch, cw = kh // 2, kw // 2
    weight = conv.weight[:, :, ch - rh : ch + rh + 1, cw - rw : cw + rw + 1]
    if kernels and rh == rw:
        return depthwise_kernel.DepthwiseConv.apply(
            x, weight, conv.bias, dh, path.dw_forward, path.dw_input, path.dw_weight
        )
    return F.conv2d(x, weight, conv.bias, padding=(rh * dh, rw * dw), dilation=conv.dilation, groups=conv.groups)


def _needs_grad_through_mlp(block: nn.Module, x: torch.Tensor) -> bool:
    """Whether autograd needs the block's MLP: its input (the normalised depthwise conv
    output, computed from ``x`` and those layers' parameters) or ``pointwise_conv1``'s
    weight requires a gradient."""
    if not torch.is_grad_enabled():
        return False
    if x.requires_grad or block.pointwise_conv1.weight.requires_grad:
        return True
    return any(p.requires_grad for p in chain(block.depthwise_conv.parameters(), block.norm.parameters()))


def block_path(block: nn.Module, x: torch.Tensor) -> BlockPath:
    """The path a :class:`~mmconvnext.models.backbones.convnext.ConvNeXtBlock` takes on
    input ``x`` (N, C, H, W), from its configuration and the call's state.

    Reads the block's ``with_cp``, ``training``, ``onednn_cpu`` (already False for 1x1-conv
    pointwise layers), ``linear_pw_conv``, ``act``, ``grn``, ``drop_path`` and its layers'
    ``requires_grad``.

    - ``with_cp`` in training with gradients on: ``'mlp'`` recomputation for Linear
      pointwise layers with the exact GELU and no GRN (the ~two thirds of a block's
      stored activations that are 4C wide), else ``'block'``.
    - oneDNN where the block allows it (``onednn_cpu``), :func:`onednn.available` holds and,
      for ``onednn_cpu='auto'``, it was measured faster than the plain ops on this machine
      for the call's shape and kind (inference or training; :mod:`.path_select`).
    - fused when on oneDNN, not recomputing the MLP, no gradient is needed through the
      MLP, and drop path is off (eval mode, or a rate of 0).
    - the depthwise conv's forward, and where it needs gradients its input and weight
      gradients, from the compiled kernels where :func:`depthwise_kernel.available` holds and
      the plan (or a forced mode) says so (:func:`path_select.prefers_dw_kernel`).
    """
    recompute = 'none'
    if block.with_cp and block.training and torch.is_grad_enabled():
        selective = block.linear_pw_conv and exact_gelu(block.act) and block.grn is None
        recompute = 'mlp' if selective else 'block'
    use_onednn = fused = False
    if block.onednn_cpu and onednn.available(x):  # the rest only where oneDNN could run at all
        needs_grad = _needs_grad_through_mlp(block, x)
        use_onednn = path_select.prefers_onednn(
            block.cpu_path,
            'train' if needs_grad else 'infer',
            x.shape[0] * x.shape[2] * x.shape[3],
            x.shape[1],
            block.pointwise_conv1.out_features,
        )
        fused = (
            use_onednn
            and recompute != 'mlp'
            and not needs_grad
            and (not block.training or isinstance(block.drop_path, nn.Identity))
        )
    dw_forward = dw_input = dw_weight = False
    conv = block.depthwise_conv
    reach = _cropped_reach(conv, x)  # the kernel the conv runs: cropped on a small map (square: the kernels')
    if block.onednn_cpu and depthwise_kernel.available(conv, x) and (reach is None or reach[0] == reach[1]):
        n, c, h, w = x.shape
        k = conv.kernel_size[0] if reach is None else 2 * reach[0] + 1
        dw_forward, dw_input, dw_weight = path_select.prefers_dw_kernel(block.cpu_path, n, h, w, c, k, conv.dilation[0])
        grads = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in conv.parameters()))
        dw_input, dw_weight = dw_input and grads, dw_weight and grads
        dw_forward = dw_forward and not torch.is_autocast_enabled('cpu')  # autocast: aten's, in its dtype
    return BlockPath(recompute, use_onednn, fused, dw_input, dw_weight, dw_forward)
