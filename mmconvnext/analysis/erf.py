"""The effective receptive field (ERF) of a backbone, by the gradient of the centre (Ding et al., "Scaling Up Your
Kernels to 31x31", RepLKNet, CVPR 2022, appendix; after Luo et al., NeurIPS 2016).

For every stage output ``y`` (N, C, h, w) of a model: take the feature vector at the central position
``y[:, :, h // 2, w // 2]``, sum it over the channels (:func:`centre_gradient_maps`, ``reduce='sum'``; or of
its positive part, ``reduce='relu'``, as RepLKNet's released script does), backpropagate to the input image
and keep ``|d/dx|`` summed over the input channels. Summed over many images this is a (H, W) map of how much
each input pixel moves the centre feature: the ERF (:func:`accumulate_erf`).

Its size is given as the area holding a fraction (20/50/90%) of the map's total mass
(:func:`mass_areas`), two ways:

- ``square``: the smallest square centred on the map's centre of mass whose pixels hold the fraction (the
  measure RepLKNet reports, there centred on the image centre; a strided network's central feature sits up to
  half a stride off the image centre, so the centre of mass is used here);
- ``pixels``: the smallest set of pixels, of any shape, holding the fraction (the most massive pixels first).

Each comes in pixels and as a fraction of the input's area. The areas are measured on the map as accumulated
(``scale='linear'``, what the numbers mean does not depend on the gradients' units), or, as RepLKNet does, on
``log10(1 + map)`` (``scale='log'``). :func:`display_map` is the log view used for the heat maps.

Everything here works on any ``nn.Module`` whose forward returns a tensor or a list/tuple of (N, C, h, w)
stage maps; :class:`StageOutputs` makes one of a project backbone (its stages' raw outputs, before the
per-stage output norms: a LayerNorm over the channels with its initial unit weight makes the channel sum
of its output zero, hence its gradient too, whatever the input).
"""

from collections.abc import Iterable, Sequence
from typing import Union

import numpy as np
import torch
from torch import nn

__all__ = [
    'DEFAULT_FRACTIONS',
    'StageOutputs',
    'accumulate_erf',
    'centre_gradient_maps',
    'display_map',
    'mass_areas',
    'pixel_area',
    'square_area',
]

#: the fractions of the gradient mass whose areas are reported
DEFAULT_FRACTIONS = (0.2, 0.5, 0.9)

Maps = Union[torch.Tensor, Sequence[torch.Tensor]]


class StageOutputs(nn.Module):
    """A staged backbone (ConvNeXt, RoadmapNet: anything with a ``stages`` list) whose forward returns the raw
    output of every stage, before any output norm or pooling, whatever its ``out_indices`` and
    ``gap_before_final_norm``: the backbone's own forward runs and forward hooks on its stages catch their
    outputs, so its input handling (memory format, compute path) is the one it always uses."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        stages = getattr(backbone, 'stages', None)
        if not isinstance(stages, (nn.ModuleList, nn.Sequential)) or len(stages) == 0:
            raise TypeError(f'{type(backbone).__name__} has no `stages` list to take the outputs of')
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        caught: dict[int, torch.Tensor] = {}
        handles = [
            stage.register_forward_hook(lambda _m, _i, out, i=i: caught.__setitem__(i, out))
            for i, stage in enumerate(self.backbone.stages)
        ]
        try:
            self.backbone(x)
        finally:
            for h in handles:
                h.remove()
        return [caught[i] for i in range(len(self.backbone.stages))]


def _as_list(outputs: Maps) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        outputs = [outputs]
    if not isinstance(outputs, (list, tuple)) or not outputs:
        raise TypeError(f'expected a tensor or a list/tuple of stage maps, got {type(outputs).__name__}')
    for i, y in enumerate(outputs):
        if not isinstance(y, torch.Tensor) or y.dim() != 4:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(
                f'output {i} is not an (N, C, h, w) map ({shape}); a backbone must return spatial stage maps '
                '(for a classifier trunk use StageOutputs, or gap_before_final_norm=False)'
            )
    return list(outputs)


def centre_gradient_maps(
    model: nn.Module, images: torch.Tensor, stages: Sequence[int] = None, reduce: str = 'sum'
) -> list[torch.Tensor]:
    """For each stage output of ``model(images)`` (or those in ``stages``), the (H, W) map of ``|d s / d x|``
    summed over the input channels and the batch, where ``s`` is the central feature vector of the stage
    output, summed over the channels (``reduce='sum'``) or over its positive part (``'relu'``).

    The images of a batch do not interact in an eval-mode model (BatchNorm uses its running statistics), so
    one backward pass per stage gives every image's gradient; call ``model.eval()`` first.
    """
    if reduce not in ('sum', 'relu'):
        raise ValueError(f"reduce must be 'sum' or 'relu', got {reduce!r}")
    x = images.detach().clone().requires_grad_(True)
    outputs = _as_list(model(x))
    chosen = range(len(outputs)) if stages is None else list(stages)
    maps = []
    for n, i in enumerate(chosen):
        y = outputs[i]
        centre = y[:, :, y.shape[2] // 2, y.shape[3] // 2]
        target = (centre.relu() if reduce == 'relu' else centre).float().sum()
        (grad,) = torch.autograd.grad(target, x, retain_graph=n < len(chosen) - 1, allow_unused=True)
        if grad is None:  # the stage does not depend on the input at all
            grad = torch.zeros_like(x)
        maps.append(grad.detach().abs().sum(dim=(0, 1)).double())
    return maps


def accumulate_erf(
    model: nn.Module, batches: Iterable[torch.Tensor], stages: Sequence[int] = None, reduce: str = 'sum'
) -> list[np.ndarray]:
    """:func:`centre_gradient_maps` summed over ``batches`` (each (N, C, H, W), all of one size): one (H, W)
    float64 map per stage. ``model`` is put in eval mode (and left there)."""
    model.eval()
    total = None
    for batch in batches:
        maps = centre_gradient_maps(model, batch, stages, reduce)
        if total is not None and maps[0].shape != total[0].shape:
            raise ValueError(f'every batch must have one image size: {tuple(maps[0].shape)} vs {total[0].shape}')
        total = [m.cpu().numpy() for m in maps] if total is None else [t + m.cpu().numpy() for t, m in zip(total, maps)]
    if total is None:
        raise ValueError('accumulate_erf: no batches')
    return total


def display_map(erf: np.ndarray, decades: float = 3.0) -> np.ndarray:
    """The map for display, in [0, 1]: ``log10(1 + m)`` of the map scaled so its maximum is ``10**decades``,
    over ``decades`` -- a log scale whatever the gradients' units, showing ``decades`` orders of magnitude."""
    peak = float(erf.max())
    if peak <= 0:
        return np.zeros_like(erf, dtype=np.float64)
    return np.log10(1.0 + erf / peak * 10.0**decades) / np.log10(1.0 + 10.0**decades)


def _mass_centre(erf: np.ndarray) -> tuple[float, float]:
    total = erf.sum()
    h, w = erf.shape
    if total <= 0:
        return (h - 1) / 2, (w - 1) / 2
    rows, cols = np.arange(h), np.arange(w)
    return float((erf.sum(1) * rows).sum() / total), float((erf.sum(0) * cols).sum() / total)


def square_area(erf: np.ndarray, fraction: float, centre: tuple[float, float] = None) -> dict:
    """The smallest square centred on ``centre`` (default: the map's centre of mass) whose pixels hold at least
    ``fraction`` of the map's mass. A square of side ``s`` covers ``s`` rows from ``round(cy - (s - 1) / 2)``
    (columns alike), clipped to the map. Returns ``side`` (pixels), ``area_px`` (the pixels of the clipped
    square) and ``fraction_of_input`` (``area_px`` over the map's area)."""
    if not 0 < fraction <= 1:
        raise ValueError(f'fraction must be in (0, 1], got {fraction!r}')
    h, w = erf.shape
    cy, cx = _mass_centre(erf) if centre is None else centre
    total = float(erf.sum())
    # a 2-D cumulative sum: the mass of any window in O(1)
    cum = np.zeros((h + 1, w + 1))
    cum[1:, 1:] = erf.cumsum(0).cumsum(1)
    for side in range(1, 2 * max(h, w) + 1):
        y0, x0 = int(round(cy - (side - 1) / 2)), int(round(cx - (side - 1) / 2))
        y0c, x0c = max(y0, 0), max(x0, 0)
        y1c, x1c = min(y0 + side, h), min(x0 + side, w)
        mass = cum[y1c, x1c] - cum[y0c, x1c] - cum[y1c, x0c] + cum[y0c, x0c]
        if total <= 0 or mass >= fraction * total * (1 - 1e-12):
            area = (y1c - y0c) * (x1c - x0c)
            return dict(side=side, area_px=int(area), fraction_of_input=area / (h * w))
    raise AssertionError('unreachable: a square covering the map holds all its mass')


def pixel_area(erf: np.ndarray, fraction: float) -> dict:
    """The fewest pixels (the most massive first, of any shape) that hold at least ``fraction`` of the map's
    mass: ``area_px`` and ``fraction_of_input``."""
    if not 0 < fraction <= 1:
        raise ValueError(f'fraction must be in (0, 1], got {fraction!r}')
    values = np.sort(erf.ravel())[::-1]
    total = float(values.sum())
    if total <= 0:
        return dict(area_px=0, fraction_of_input=0.0)
    count = int(np.searchsorted(np.cumsum(values), fraction * total * (1 - 1e-12))) + 1
    count = min(count, values.size)
    return dict(area_px=count, fraction_of_input=count / values.size)


def mass_areas(erf: np.ndarray, fractions: Sequence[float] = DEFAULT_FRACTIONS, scale: str = 'linear') -> dict:
    """The areas holding each of ``fractions`` of the map's mass: ``{'square': {f: square_area},
    'pixels': {f: pixel_area}, 'centre': [cy, cx]}`` (keys ``f`` as strings, e.g. ``'0.9'``), measured on the
    map itself (``scale='linear'``) or on ``log10(1 + map)`` (``'log'``, RepLKNet's)."""
    if scale not in ('linear', 'log'):
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    m = np.asarray(erf, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f'expected an (H, W) map, got shape {m.shape}')
    if scale == 'log':
        m = np.log10(1.0 + m)
    centre = _mass_centre(m)
    return dict(
        centre=[round(centre[0], 2), round(centre[1], 2)],
        square={f'{f:g}': square_area(m, f, centre) for f in fractions},
        pixels={f'{f:g}': pixel_area(m, f) for f in fractions},
    )


# ---------------------------------------------------------------------------- inputs and models from a config
# (shared by tools/analysis/erf.py and tools/analysis/cam.py)
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def image_paths(paths: Sequence[str], limit: int = None) -> list[str]:
    """The image files among ``paths`` and, recursively, in the folders among them (so an ImageNet-layout
    folder of class sub-folders works), sorted; with ``limit``, that many spread evenly over the sorted list
    (every class of such a folder, not the first one's images only)."""
    import os
    import os.path as osp

    found = []
    for path in paths:
        if osp.isdir(path):
            for folder, _, names in os.walk(path):
                found += [osp.join(folder, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
        elif osp.isfile(path):
            found.append(path)
        else:
            raise FileNotFoundError(f'no image file or folder {path!r}')
    found = sorted(set(found))
    if not found:
        raise FileNotFoundError(f'no image files ({"/".join(IMAGE_EXTENSIONS)}) in {list(paths)}')
    if limit is not None and limit < len(found):
        picks = np.linspace(0, len(found) - 1, limit).round().astype(int)
        found = [found[i] for i in picks]
    return found


def read_image(path: str) -> np.ndarray:
    """A uint8 BGR (H, W, 3) image; an error naming the file when it cannot be read."""
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'{path}: not a readable image')
    return image


def noise_images(count: int, size: Sequence[int], seed: int = 0) -> list[np.ndarray]:
    """``count`` uint8 BGR images of uniform noise (every pixel and channel independent in [0, 255])."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8) for _ in range(count)]


def input_normalisation(cfg) -> tuple[list[float], list[float], bool]:
    """(mean, std, to_rgb) of the model's data preprocessor in ``cfg`` (``to_rgb``: the BGR images are turned
    to RGB first; mmseg/mmdet call it ``bgr_to_rgb``); ImageNet's statistics and RGB when it gives none."""
    pre = cfg.get('model', {}).get('data_preprocessor') or {}
    mean = list(pre.get('mean') or (123.675, 116.28, 103.53))
    std = list(pre.get('std') or (58.395, 57.12, 57.375))
    to_rgb = bool(pre.get('to_rgb', pre.get('bgr_to_rgb', 'mean' not in pre)))
    return mean, std, to_rgb


def to_input(images_bgr: Sequence[np.ndarray], size: Sequence[int], cfg) -> torch.Tensor:
    """uint8 BGR images resized to ``size`` (H, W) and normalised as ``cfg``'s model expects: (N, 3, H, W)."""
    import cv2

    mean, std, to_rgb = input_normalisation(cfg)
    batch = []
    for image in images_bgr:
        image = cv2.resize(image, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
        if to_rgb:
            image = image[..., ::-1]
        batch.append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float())
    x = torch.stack(batch)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def without_pretrained(module_cfg: dict) -> dict:
    """A model config with every ``init_cfg`` entry of type ``Pretrained`` dropped (recursively): the
    analysis starts from the config's own initialisation and loads the checkpoint it is given, not the one a
    training run would start from (often a URL)."""
    import copy

    def strip(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == 'init_cfg':
                    entries = value if isinstance(value, (list, tuple)) else [value]
                    kept = [e for e in entries if not (isinstance(e, dict) and e.get('type') == 'Pretrained')]
                    value = None if not kept else (kept if isinstance(value, (list, tuple)) else kept[0])
                    out[key] = value
                else:
                    out[key] = strip(value)
            return type(node)(out)
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(copy.deepcopy(module_cfg))


def init_quietly(model: nn.Module) -> None:
    """``model.init_weights()`` (when it has one) without mmengine's line per parameter in the log."""
    import logging

    from mmengine.logging import MMLogger

    if not hasattr(model, 'init_weights'):
        return
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


def build_stage_model(cfg, checkpoint: str = None) -> nn.Module:
    """The backbone of ``cfg.model`` (``cfg.model.backbone``) in eval mode, initialised as the config says (less
    any ``Pretrained`` entry), then loaded from ``checkpoint`` when given, returning every stage's map: a
    project backbone (ConvNeXt, RoadmapNet) through :class:`StageOutputs`, any other as its forward returns.

    A checkpoint of any mmconvnext config (classifier, segmentor, detector) or any format
    :func:`mmconvnext.checkpoint.load_pretrained` reads; another backbone loads the ``backbone.`` keys."""
    from mmengine.registry import MODELS, DefaultScope

    backbone_cfg = cfg.get('model', {}).get('backbone')
    if backbone_cfg is None:
        raise KeyError('the config has no model.backbone')
    backbone_cfg = without_pretrained(backbone_cfg)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        backbone = MODELS.build(backbone_cfg)
    init_quietly(backbone)
    from mmconvnext.models.backbones.base import StagedBackbone

    staged = isinstance(backbone, StagedBackbone)
    if checkpoint:
        if staged:
            from mmconvnext.checkpoint import load_pretrained

            load_pretrained(backbone, checkpoint)
        else:
            from mmconvnext.checkpoint import CheckpointError, extract_state_dict, read_checkpoint

            state = extract_state_dict(read_checkpoint(checkpoint), checkpoint)
            state = {k[len('backbone.') :]: v for k, v in state.items() if k.startswith('backbone.')} or state
            missing, _ = backbone.load_state_dict(state, strict=False)
            if len(missing) == len(backbone.state_dict()):
                raise CheckpointError(f'{checkpoint}: no key fits the backbone {type(backbone).__name__}')
    model = StageOutputs(backbone) if staged else backbone
    return model.eval()
