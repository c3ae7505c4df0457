"""Mixed precision for the mmcv ops the detectors use (NMS, RoIAlign).

mmcv 2.1's compiled kernels take fp32 (and fp16 on CUDA) only, and are not registered
with the dispatcher, so autocast never casts their inputs: under bf16 autocast (on any
device) or CPU fp16 autocast, Mask R-CNN's RPN handed bf16 scores beside fp32 boxes
to ``nms`` ("expected scalar type Float but found BFloat16"), and its RoI extractors
hand bf16 feature maps to ``RoIAlign``. torchvision solves this for its own ops with
autocast kernels that compute in fp32 and return the input's dtype; mmcv has no such
hook, so :func:`patch_mmcv_ops_for_autocast` wraps the two autograd Functions the
same way: inputs of a dtype the kernels lack are cast to fp32, the RoIAlign output
(and its input gradient) go back to the feature map's dtype, NMS indices are
unchanged. fp32 inputs and fp16 on CUDA reach mmcv's kernels exactly as before.

It is called by the parts that turn mixed precision on (``mmconvnext.AutocastOptimWrapper`` and
``mmconvnext.AmpOptimWrapper``, what ``--amp`` picks) when a config builds them, never at import: a process
that trains in fp32 runs mmcv's classes untouched. Code of your own that runs a detector under autocast
outside those wrappers calls it once.
Idempotent; a no-op without mmcv's compiled ops.
"""

import functools

import torch

__all__ = ['patch_mmcv_ops_for_autocast']

_PATCHED = '_mmconvnext_autocast'


def _unsupported(t: torch.Tensor) -> bool:
    """Whether mmcv's kernels lack ``t``'s dtype on ``t``'s device."""
    return t.dtype == torch.bfloat16 or (t.dtype == torch.float16 and t.device.type != 'cuda')


def _nms_forward(forward):
    @functools.wraps(forward)
    def wrapped(ctx, bboxes, scores, *args):
        if _unsupported(bboxes) or _unsupported(scores) or bboxes.dtype != scores.dtype:
            bboxes, scores = bboxes.float(), scores.float()
        return forward(ctx, bboxes, scores, *args)

    return wrapped


def _roi_align_forward(forward):
    @functools.wraps(forward)
    def wrapped(ctx, input, rois, *args, **kwargs):
        ctx.amp_dtype = input.dtype if _unsupported(input) else None
        if ctx.amp_dtype is not None:
            input = input.float()
        output = forward(ctx, input, rois.to(input.dtype), *args, **kwargs)
        return output if ctx.amp_dtype is None else output.to(ctx.amp_dtype)

    return wrapped


def _roi_align_backward(backward):
    @functools.wraps(backward)
    def wrapped(ctx, grad_output):
        dtype = getattr(ctx, 'amp_dtype', None)
        if dtype is None:
            return backward(ctx, grad_output)
        grad_input, *rest = backward(ctx, grad_output.float())
        return (None if grad_input is None else grad_input.to(dtype), *rest)

    return wrapped


def patch_mmcv_ops_for_autocast() -> bool:
    """Wrap mmcv's ``NMSop`` and ``RoIAlignFunction`` (idempotent); False without mmcv ops."""
    try:
        from mmcv.ops.nms import NMSop
        from mmcv.ops.roi_align import RoIAlignFunction
    except ImportError:  # mmcv-lite: no compiled ops, nothing to patch
        return False
    if not getattr(NMSop, _PATCHED, False):
        NMSop.forward = staticmethod(_nms_forward(NMSop.forward))
        setattr(NMSop, _PATCHED, True)
    if not getattr(RoIAlignFunction, _PATCHED, False):
        RoIAlignFunction.forward = staticmethod(_roi_align_forward(RoIAlignFunction.forward))
        RoIAlignFunction.backward = staticmethod(_roi_align_backward(RoIAlignFunction.backward))
        setattr(RoIAlignFunction, _PATCHED, True)
    return True
