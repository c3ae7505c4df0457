"""Parity of an export with the PyTorch model it came from, per graph and runtime."""

import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config

from .base import TOLERANCE, TOLERANCE_FP16, TOLERANCE_INT8, DeployError, relative_error
from .export import export_parts, load_model
from .runtime import BACKENDS, open_graph, read_export

__all__ = ['TOLERANCE', 'TOLERANCE_FP16', 'available_backends', 'check_export', 'relative_error']


def available_backends() -> list:
    """The runtimes of :data:`BACKENDS` importable here."""
    import importlib.util

    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def check_export(
    cfg: Config,
    checkpoint: Optional[str],
    path: str,
    backends: Optional[list] = None,
    shape: Optional[tuple] = None,
    model: Optional[torch.nn.Module] = None,
) -> list:
    """Run every graph of the export at ``path`` on ``backends`` (default: those installed) against the PyTorch
    model on the same random inputs (``shape``: another image size, for dynamic exports) and return one line per
    graph and runtime.

    Raises:
        DeployError: a graph differs by more than :data:`TOLERANCE` (:data:`TOLERANCE_FP16` for fp16 exports,
            :data:`TOLERANCE_INT8` for int8 ones, on the calibration images stored in the export).
    """
    directory, meta = read_export(path)
    model = model if model is not None else load_model(cfg, checkpoint)
    size = tuple(shape or meta['input_shape'][2:])
    torch.manual_seed(0)
    parts = export_parts(
        model,
        size,
        batch=meta['input_shape'][0],
        dynamic=meta['dynamic'],
        part='backbone' if meta['task'] == 'backbone' else 'model',
        task=meta['task'],
    )
    tolerance = TOLERANCE_FP16 if meta.get('fp16') else TOLERANCE
    if meta.get('int8'):  # int8 graphs are compared on real images: the stored calibration inputs
        import numpy as np

        tolerance = TOLERANCE_INT8
        stored = np.load(osp.join(directory, meta['int8']['check_inputs']))['input']
        for part in parts:
            image = torch.from_numpy(stored)
            part.inputs = (
                (image[:1], torch.tensor(image.shape[2:], dtype=torch.float32)) if len(part.inputs) > 1 else (image,)
            )
    lines = []
    for backend in backends if backends is not None else available_backends():
        for part in parts:
            with torch.no_grad():
                ref = part.module(*part.inputs)
            ref = ref if isinstance(ref, tuple) else (ref,)
            outs = open_graph(directory, meta, part.name, backend, None)(*part.inputs)
            shape = list(part.inputs[0].shape)
            if meta['task'] == 'detection_end2end':  # the detections, not the tensors: their number may differ
                lines.append(_check_detections(directory, backend, part.name, ref, outs, shape, bool(meta.get('int8'))))
                continue
            error = relative_error(ref, outs)
            line = f'{backend:11s} {part.name}: max relative difference to PyTorch {error:.1e} at {shape}'
            if error > tolerance:
                raise DeployError(f'{osp.join(directory, part.name)}: {line} > {tolerance:.0e}')
            lines.append(line)
    return lines


#: the one-graph detector's parity: this share of PyTorch's detections matched within 1 px and 1e-3 in score
MATCHED = 0.99
#: int8's sanity bound, on a stored calibration image: half of PyTorch's detections within 8 px and 0.1 in score
#: (a broken quantization finds none; the accuracy it keeps is measured on validation data)
MATCHED_INT8 = (0.5, 8.0, 0.1)


def _check_detections(
    directory: str, backend: str, name: str, ref: tuple, outs: list, shape: list, int8: bool = False
) -> str:
    from .detector_graph import match_detections

    share, box, score = MATCHED_INT8 if int8 else (MATCHED, 1.0, 1e-3)
    found = match_detections(ref, outs, box, score)
    line = (
        f"{backend:11s} {name}: {found['matched']:.1%} of PyTorch's {found['reference']} detections matched "
        f'(boxes within {found["box_diff"]:.1e} px, scores {found["score_diff"]:.1e}, mask probabilities '
        f'{found["mask_diff"]:.1e}) at {shape}'
    )
    if found['matched'] < share:
        raise DeployError(f'{osp.join(directory, name)}: {line}, below {share:.0%} ({box} px, {score} in score)')
    return line
