"""Pictures of masked-image-modelling validation: input, masked input, reconstruction.

mmengine's visualizer writes the picture (``vis_data/vis_image/`` of the run with the
default ``LocalVisBackend``; TensorBoard or W&B with theirs); this hook only composes it
from what ``mmconvnext.FCMAE.predict`` returns, as mmdet's/mmseg's visualization hooks do
for their tasks. No OpenMMLab package has one for FCMAE, so it is written here.
"""

from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook

from mmconvnext.registry import HOOKS

__all__ = ['ReconstructionVisualizationHook', 'reconstruction_grid']


def _to_uint8(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """A normalised (C, H, W) RGB image to (H, W, C) uint8."""
    x = image.float().cpu() * std.view(-1, 1, 1) + mean.view(-1, 1, 1)
    return x.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()


def reconstruction_grid(
    originals: Sequence[np.ndarray], masks: Sequence[torch.Tensor], reconstructions: Sequence[np.ndarray], gap: int = 4
) -> np.ndarray:
    """One row per image: the input, the input with its removed patches greyed out, the
    reconstruction (visible patches from the input); (H', W', 3) uint8 RGB."""
    rows = []
    for original, mask, recon in zip(originals, masks, reconstructions):
        h, w = original.shape[:2]
        m = mask.float().cpu()
        full = m.repeat_interleave(h // m.shape[0], 0).repeat_interleave(w // m.shape[1], 1).numpy().astype(bool)
        masked = original.copy()
        masked[full] = (masked[full] * 0.25 + 96).astype(np.uint8)
        sep = np.full((h, gap, 3), 255, np.uint8)
        rows.append(np.concatenate([original, sep, masked, sep, recon], axis=1))
        rows.append(np.full((gap, rows[-1].shape[1], 3), 255, np.uint8))
    return np.concatenate(rows[:-1], axis=0)


@HOOKS.register_module()
class ReconstructionVisualizationHook(Hook):
    """After each validation, draw the first ``num_images`` images of the first batch(es)
    as input | masked | reconstruction rows, to the runner's visualizer as
    ``name`` at the current training iteration.

    Args:
        num_images: images drawn per validation.
        name: the image's name for the visualizer's backends.
    """

    priority = 'NORMAL'

    def __init__(self, num_images: int = 8, name: str = 'fcmae_reconstruction') -> None:
        if num_images < 1:
            raise ValueError(f'ReconstructionVisualizationHook: num_images must be >= 1, got {num_images}')
        self.num_images = num_images
        self.name = name
        self._rows: list = []

    def before_val_epoch(self, runner) -> None:
        self._rows = []

    def after_val_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None, outputs=None) -> None:
        if len(self._rows) >= self.num_images or not outputs:
            return
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        mean, std = model.data_preprocessor.mean.view(-1).cpu(), model.data_preprocessor.std.view(-1).cpu()
        for sample in outputs[: self.num_images - len(self._rows)]:
            if not all(key in sample for key in ('input_img', 'pred_img', 'mask')):
                raise KeyError(
                    "ReconstructionVisualizationHook: the model's predictions have no 'input_img'/'pred_img'/'mask' "
                    '(the hook draws the outputs of mmconvnext.FCMAE)'
                )
            self._rows.append(
                (_to_uint8(sample.input_img, mean, std), sample.mask, _to_uint8(sample.pred_img, mean, std))
            )

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        rows, self._rows = self._rows, []
        if rows and runner.rank == 0:
            runner.visualizer.add_image(self.name, reconstruction_grid(*zip(*rows)), step=runner.iter)
