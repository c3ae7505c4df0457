"""Random erasing of the ConvNeXt ImageNet recipe (probability 0.25, ``pixel`` mode) on whole batches.

timm's ``RandomErasing(mode='pixel')`` on the normalised batch, every sample with its own draws. All
randomness comes from torch's global generators, so mmengine's seeding makes it reproducible.
"""

import math
from typing import NamedTuple, Optional, Union

import torch
from torch import Tensor, nn

from ._checks import check_images, check_int, check_range

__all__ = ['ErasingBoxes', 'RandomErasing']


class ErasingBoxes(NamedTuple):
    """Boxes drawn by :meth:`RandomErasing.sample_boxes`; ``top, left, height, width, valid`` are
    ``[B, max_count]``, ``erase`` is ``[B]``."""

    erase: Tensor  #: bool, the per-sample draw with probability ``prob``
    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor
    valid: Tensor  #: bool, the box is erased (sample drawn, slot < count and one of the attempts fit)


class RandomErasing(nn.Module):
    """timm's ``RandomErasing(mode='pixel')`` on a normalised batch.

    Per sample with probability ``prob``: ``count`` boxes (uniform in ``1..max_count``), each from up to 10
    attempts of target area ``U(min_area, max_area) * H * W / count`` and aspect ratio ``exp(U(log min_aspect,
    log max_aspect))``; ``h = round(sqrt(area * aspect))``, ``w = round(sqrt(area / aspect))``; the first
    attempt with ``h < H`` and ``w < W`` is placed with a uniform top-left corner and filled with per-pixel
    standard-normal values. All attempts of the batch are drawn at once; boxes become masks.

    Input: float ``B x C x H x W``; output: a new tensor of the same shape (the input is not modified).
    """

    max_attempts = 10

    def __init__(
        self,
        prob: float = 0.25,
        min_area: float = 0.02,
        max_area: float = 1 / 3,
        min_aspect: float = 0.3,
        max_aspect: Optional[float] = None,
        max_count: int = 1,
    ) -> None:
        super().__init__()
        self.prob = check_range('prob', prob, 0.0, 1.0)
        self.min_area = check_range('min_area', min_area, 0.0, 1.0, low_open=True)
        self.max_area = check_range('max_area', max_area, self.min_area, 1.0)
        self.min_aspect = check_range('min_aspect', min_aspect, 0.0, math.inf, low_open=True, high_open=True)
        if max_aspect is None:
            max_aspect = 1.0 / self.min_aspect
        self.max_aspect = check_range('max_aspect', max_aspect, self.min_aspect, math.inf, high_open=True)
        self.max_count = check_int('max_count', max_count, 1)
        self.log_aspect = (math.log(self.min_aspect), math.log(self.max_aspect))

    def extra_repr(self) -> str:
        return (
            f'prob={self.prob}, min_area={self.min_area}, max_area={self.max_area}, '
            f'min_aspect={self.min_aspect}, max_aspect={self.max_aspect}, max_count={self.max_count}'
        )

    def sample_boxes(
        self, batch_size: int, height: int, width: int, device: Union[torch.device, str, None] = None
    ) -> ErasingBoxes:
        """Draw the boxes of one call for a ``batch_size x C x height x width`` batch."""
        erase = torch.rand(batch_size, device=device) < self.prob
        if self.max_count > 1:
            count = torch.randint(1, self.max_count + 1, (batch_size, 1), device=device)
        else:
            count = torch.ones(batch_size, 1, dtype=torch.long, device=device)
        shape = (batch_size, self.max_count, self.max_attempts)
        min_area, max_area = self.min_area, self.max_area
        area = (torch.rand(shape, device=device) * (max_area - min_area) + min_area) * (height * width)
        area = area / count.unsqueeze(-1)
        low, high = self.log_aspect
        aspect = torch.exp(torch.rand(shape, device=device) * (high - low) + low)
        h = torch.round(torch.sqrt(area * aspect)).long()
        w = torch.round(torch.sqrt(area / aspect)).long()
        fits = (h < height) & (w < width)
        first = fits.int().argmax(dim=-1, keepdim=True)  # argmax returns the first of equal maxima
        h = h.gather(-1, first).squeeze(-1)
        w = w.gather(-1, first).squeeze(-1)
        slot = torch.arange(self.max_count, device=device)
        valid = erase.unsqueeze(1) & fits.any(dim=-1) & (slot < count)
        # random.randint(0, H - h) is inclusive: floor(U * (H - h + 1)), guarded against U * n rounding to n
        top = torch.minimum((torch.rand(h.shape, device=device) * (height - h + 1)).long(), height - h)
        left = torch.minimum((torch.rand(w.shape, device=device) * (width - w + 1)).long(), width - w)
        return ErasingBoxes(erase, top, left, h, w, valid)

    @staticmethod
    def boxes_to_mask(boxes: ErasingBoxes, height: int, width: int) -> Tensor:
        """Bool mask ``[B, 1, height, width]``, True inside the valid boxes."""
        rows = torch.arange(height, device=boxes.top.device).view(1, 1, -1, 1)
        cols = torch.arange(width, device=boxes.top.device).view(1, 1, 1, -1)

        def expand(t: Tensor) -> Tensor:
            return t.view(*t.shape, 1, 1)

        top, left = expand(boxes.top), expand(boxes.left)
        inside = (
            (rows >= top)
            & (rows < top + expand(boxes.height))
            & (cols >= left)
            & (cols < left + expand(boxes.width))
            & expand(boxes.valid)
        )
        return inside.any(dim=1, keepdim=True)

    def forward(self, imgs: Tensor) -> Tensor:
        imgs = check_images(imgs)
        batch, _, height, width = imgs.shape
        boxes = self.sample_boxes(batch, height, width, imgs.device)
        out = imgs.clone()
        sel = boxes.valid.any(dim=1).nonzero().squeeze(1)  # noise only for the samples that are erased
        if sel.numel():
            mask = self.boxes_to_mask(ErasingBoxes(*(t[sel] for t in boxes)), height, width)
            noise = torch.randn((sel.numel(), *imgs.shape[1:]), dtype=imgs.dtype, device=imgs.device)
            out[sel] = torch.where(mask, noise, imgs[sel])
        return out
