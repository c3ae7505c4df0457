"""The backbone exported to ONNX, as a user deploying it to onnxruntime or OpenVINO would: what the benchmark
times those runtimes on, checked against PyTorch first so a fast but wrong export never reaches a table."""

import os
from typing import Union

import torch

__all__ = ['export_onnx', 'onnx_max_abs_diff']

#: the lowest opset used: 17 has LayerNormalization, which keeps the block's norm one node
OPSET = 17


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Union[str, os.PathLike]) -> str:
    """Write ``model`` (eval mode, traced on ``example``) to ``path`` as ONNX; return the path.

    Tries the TorchScript exporter (``dynamo=False``) first: it needs only ``onnx`` and took ~1 s for
    ConvNeXt-atto on torch 2.13 CPU where the dynamo exporter took ~9 s and also needs ``onnxscript``; the dynamo
    exporter is the fallback where the TorchScript one is gone or fails. The oneDNN kernels step aside while
    tracing or compiling (see :func:`mmconvnext.models.layers.onednn.available`), so the graph holds the plain
    ops, the same function. A tuple of outputs (the feature pyramid) becomes ``out0``, ``out1``, ...; the shape
    stays fixed, as the benchmark uses one.

    Args:
        model (torch.nn.Module): the model; set to eval mode here (export is for inference).
        example (torch.Tensor): an input of the shape the exported graph will take.
        path (str | os.PathLike): where the ``.onnx`` file goes.

    Returns:
        str: ``path``.
    """
    model.eval()
    with torch.no_grad():
        outs = model(example)
    n_out = len(outs) if isinstance(outs, (tuple, list)) else 1
    path = os.fspath(path)
    options = dict(input_names=['input'], output_names=[f'out{i}' for i in range(n_out)], opset_version=OPSET)
    with torch.no_grad():
        try:
            torch.onnx.export(model, (example,), path, do_constant_folding=True, dynamo=False, **options)
        except Exception as error:  # the TorchScript exporter removed or failing: try dynamo
            print(f'[export_onnx] TorchScript exporter failed ({type(error).__name__}: {error}); trying dynamo')
            torch.onnx.export(model, (example,), path, dynamo=True, **options)
    return path


def onnx_max_abs_diff(reference: Union[torch.Tensor, tuple], outputs: list) -> float:
    """Largest absolute difference between PyTorch's outputs and a runtime's (numpy arrays, in order).

    Args:
        reference (torch.Tensor | tuple[torch.Tensor]): PyTorch's outputs on the exported input.
        outputs (list[numpy.ndarray]): the runtime's outputs, in the exported order.

    Returns:
        float: the maximum over all outputs and elements.
    """
    reference = reference if isinstance(reference, (tuple, list)) else (reference,)
    if len(reference) != len(outputs):
        raise ValueError(f'{len(reference)} PyTorch outputs but {len(outputs)} from the runtime')
    return max((r.detach().float() - torch.as_tensor(o).float()).abs().max().item() for r, o in zip(reference, outputs))
