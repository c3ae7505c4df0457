"""Class activation maps: Grad-CAM (Selvaraju et al., ICCV 2017) for a classifier, and per-class maps for a
semantic segmentor, with the overlay drawing both tools write.

Written here rather than taken from pytorch-grad-cam: that package needs torchvision, which does not load
against this CPU build of torch, and no other maintained package fits the stack. Grad-CAM is a few lines:

- run the model with a forward hook on the chosen layer, keeping its output ``A`` (N, C, h, w);
- backpropagate a per-image score (a class logit) to ``A``;
- weight every channel by its gradient averaged over the positions, ``a_c = mean_hw dS / dA_c``;
- the map is ``relu(sum_c a_c A_c)``, upsampled to the input and scaled to a maximum of 1 per image.

For a segmentor, :func:`segmentation_class_maps` gives either the class's softmax probability at every pixel
(``mode='prob'``, the default: what the model predicts, no gradient involved) or the Grad-CAM of the class
logit summed over the pixels predicted as that class (``mode='gradcam'``: which features made them so).
"""

from collections.abc import Callable, Sequence
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['find_layer', 'grad_cam', 'load_analysis_model', 'overlay', 'segmentation_class_maps']


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule of ``model`` called ``name`` (a dotted path, e.g. ``backbone.stages.3``); an error listing
    the closest names when there is none."""
    modules = dict(model.named_modules())
    if name not in modules:
        import difflib

        close = difflib.get_close_matches(name, list(modules), n=5, cutoff=0.5)
        raise KeyError(f'the model has no layer {name!r}' + (f'; close names: {close}' if close else ''))
    return modules[name]


def _normalise(cam: torch.Tensor) -> torch.Tensor:
    """Each (H, W) map of an (N, H, W) batch divided by its maximum (an all-zero map stays zero)."""
    peak = cam.flatten(1).amax(1).clamp_min(torch.finfo(cam.dtype).tiny)
    return cam / peak[:, None, None]


def grad_cam(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    layer: nn.Module,
    score: Callable[[torch.Tensor], torch.Tensor],
    size: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Grad-CAM of ``score(model(inputs))`` (one score per image, shape (N,)) at ``layer``'s output.

    Args:
        model: called on ``inputs``; the module or a function running it (in eval mode).
        inputs: (N, C, H, W).
        layer: a submodule whose output, an (N, C', h, w) map, is on the way from the input to the score.
        score: the model's output -> (N,) scores, e.g. ``lambda logits: logits[:, k]``.
        size: the (H, W) of the returned maps (default the input's).

    Returns:
        (N, H, W) maps in [0, 1] (each image's maximum is 1, unless its map is all zero).
    """
    caught = []
    handle = layer.register_forward_hook(lambda _m, _i, out: caught.append(out))
    try:
        with torch.enable_grad():
            out = model(inputs)
    finally:
        handle.remove()
    if not caught:
        raise RuntimeError('the CAM layer did not run in the forward pass')
    acts = caught[-1]
    if not isinstance(acts, torch.Tensor) or acts.dim() != 4:
        raise ValueError(f'the CAM layer must output an (N, C, h, w) map, got {getattr(acts, "shape", type(acts))}')
    scores = score(out)
    if scores.shape != (inputs.shape[0],):
        raise ValueError(f'score must give one value per image, shape ({inputs.shape[0]},), got {tuple(scores.shape)}')
    (grads,) = torch.autograd.grad(scores.sum(), acts, allow_unused=True)
    if grads is None:
        raise RuntimeError('the score does not depend on the CAM layer')
    weights = grads.float().mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * acts.detach().float()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(size or inputs.shape[-2:]), mode='bilinear', align_corners=False)
    return _normalise(cam[:, 0].clamp_min(0))


def segmentation_class_maps(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    classes: Optional[Sequence[int]] = None,
    mode: str = 'prob',
    layer: Optional[nn.Module] = None,
) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """Per-class maps of a semantic segmentor whose ``model(inputs)`` are (N, K, h, w) class logits.

    ``mode='prob'``: the class's softmax probability (logits upsampled bilinearly to the input first), in
    [0, 1] as it is. ``mode='gradcam'``: Grad-CAM at ``layer`` of the class's logit summed over the pixels
    predicted as the class (over all pixels where it is predicted nowhere), scaled to a maximum of 1.
    ``classes`` default: every class predicted somewhere in the batch.

    Returns:
        ({class: (N, H, W) map}, the (N, H, W) predicted labels).
    """
    if mode not in ('prob', 'gradcam'):
        raise ValueError(f"mode must be 'prob' or 'gradcam', got {mode!r}")
    size = inputs.shape[-2:]

    def upsampled(logits: torch.Tensor) -> torch.Tensor:
        return F.interpolate(logits.float(), size=size, mode='bilinear', align_corners=False)

    with torch.no_grad():
        logits = upsampled(model(inputs))
    num_classes = logits.shape[1]
    probs = logits.softmax(1)
    labels = probs.argmax(1)
    if classes is None:
        classes = [int(k) for k in torch.unique(labels)]
    bad = [k for k in classes if not 0 <= k < num_classes]
    if bad:
        raise ValueError(f"classes {bad} are outside the model's {num_classes} classes")
    if mode == 'prob':
        return {k: probs[:, k] for k in classes}, labels
    if layer is None:
        raise ValueError("mode='gradcam' needs the layer to take the map at")
    maps = {}
    for k in classes:
        mask = (labels == k).float()
        mask = torch.where(mask.flatten(1).sum(1)[:, None, None] > 0, mask, torch.ones_like(mask))

        def class_score(out: torch.Tensor, k: int = k, mask: torch.Tensor = mask) -> torch.Tensor:
            return (upsampled(out)[:, k] * mask).flatten(1).sum(1)

        maps[k] = grad_cam(model, inputs, layer, class_score)
    return maps, labels


def overlay(image_bgr: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An (H, W) map in [0, 1] as a jet colour map over a uint8 BGR image of the same size: ``alpha`` of the
    colours, ``1 - alpha`` of the image."""
    import cv2

    if cam.shape != image_bgr.shape[:2]:
        raise ValueError(f'map {cam.shape} and image {image_bgr.shape[:2]} differ in size')
    heat = cv2.applyColorMap(np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)
    return cv2.addWeighted(heat, alpha, image_bgr.astype(np.uint8), 1 - alpha, 0)


def load_analysis_model(cfg, checkpoint: Optional[str] = None) -> nn.Module:
    """``cfg.model`` built in eval mode, initialised as the config says (less any ``Pretrained`` entry) and
    loaded from ``checkpoint`` (a checkpoint of this config, e.g. ``tools/train.py``'s; a classifier also
    takes official/timm/mmpretrain ones) when given.

    Raises:
        CheckpointError: ``checkpoint`` holds no weight of this model.
    """
    from mmengine.registry import MODELS, DefaultScope

    from mmconvnext.checkpoint import CheckpointError, extract_state_dict, read_checkpoint

    from .erf import init_quietly, without_pretrained

    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        model = MODELS.build(without_pretrained(cfg.model))
    init_quietly(model)
    if checkpoint:
        state = extract_state_dict(read_checkpoint(checkpoint), checkpoint)
        own = model.state_dict()
        missing, unexpected = model.load_state_dict(state, strict=False)
        if len(missing) == len(own):
            raise CheckpointError(
                f'{checkpoint}: no key fits this {type(model).__name__}; its first keys are {list(state)[:5]}'
            )
        if missing:
            print(f'warning: {len(missing)} weights missing from {checkpoint}, kept as initialised: {missing[:8]}')
        if unexpected:
            print(f'warning: {len(unexpected)} keys of {checkpoint} not in the model (ignored): {unexpected[:8]}')
    return model.eval()
