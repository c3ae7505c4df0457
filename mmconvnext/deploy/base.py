"""What every deploy task and every step of deployment shares: the error type, one graph to export, the wrapper
that flattens a part's outputs, and the one measure of an export's error against PyTorch (used by the export's
parity check, ``tools/deployment/export.py`` and the benchmark's deployed rows alike)."""

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ['TOLERANCE', 'TOLERANCE_FP16', 'TOLERANCE_INT8', 'DeployError', 'ExportPart', 'Flatten', 'relative_error']

#: the largest relative difference (max |runtime - torch| / max |torch|, per output) an fp32 export may show
TOLERANCE = 1e-4
#: the same for --fp16 exports, against the fp32 model: float16's 11-bit mantissa over a few dozen layers
TOLERANCE_FP16 = 2e-2
#: the same for --int8 exports, on real images (the stored calibration inputs): a sanity bound that a broken
#: quantization exceeds; the accuracy a task keeps is measured on its validation set (docs/deployment.md)
TOLERANCE_INT8 = 0.15


class DeployError(ValueError):
    """An export or deployed model that cannot be made or run as asked; the message names the file or argument."""


@dataclass
class ExportPart:
    """One graph of an export: ``module`` traced on ``inputs``, written as ``name``.onnx."""

    name: str
    module: nn.Module
    inputs: tuple
    input_names: list
    output_names: list
    dynamic_axes: dict = field(default_factory=dict)


class Flatten(nn.Module):
    """``fn(*inputs)`` flattened to a tuple of tensors (lists of levels become consecutive outputs)."""

    def __init__(self, owner: nn.Module, fn) -> None:
        super().__init__()
        self.owner = owner  # registers the weights the graph uses
        self.fn = fn

    def forward(self, *inputs: torch.Tensor) -> tuple:
        out = self.fn(*inputs)
        flat = []
        for item in out if isinstance(out, (tuple, list)) else (out,):
            flat.extend(item if isinstance(item, (tuple, list)) else (item,))
        return tuple(flat)


def relative_error(reference, outputs) -> float:
    """The export error: max over outputs of ``max |out - ref| / max |ref|`` (the absolute difference where
    ``ref`` is all zero). ``reference``: PyTorch's output(s); ``outputs``: a runtime's or another path's, in
    order (tensors or numpy arrays, any float type).

    Raises:
        DeployError: the two differ in the number or the shapes of their outputs.
    """
    reference = reference if isinstance(reference, (tuple, list)) else (reference,)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    if len(reference) != len(outputs):
        raise DeployError(f'{len(outputs)} outputs where PyTorch gives {len(reference)}')
    worst = 0.0
    for ref, out in zip(reference, outputs):
        ref, out = ref.detach().float(), torch.as_tensor(out).float()
        if ref.shape != out.shape:
            raise DeployError(f'output shape {tuple(out.shape)} differs from PyTorch {tuple(ref.shape)}')
        scale = ref.abs().max().item() if ref.numel() else 0.0
        diff = (ref - out).abs().max().item() if ref.numel() else 0.0
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst
