"""Mixup / CutMix with label smoothing of the ConvNeXt ImageNet recipe (Mixup 0.8, CutMix 1.0, switched with
probability 0.5, smoothing 0.1) on whole batches.

timm's ``Mixup(mode='batch')``: one draw for the whole batch. All randomness comes from torch's global
generators (``torch.rand``, ``torch.randint``, ``torch.distributions.Beta``), so mmengine's seeding makes it
reproducible; nothing uses python's ``random`` or numpy.
"""

import math
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn

from ._checks import check_bool, check_class_indices, check_images, check_int, check_range

__all__ = ['MixParams', 'MixupCutmix', 'one_hot_smooth']


def one_hot_smooth(
    labels: Tensor, num_classes: int, smoothing: float = 0.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Label-smoothed one-hot targets ``[B, num_classes]``: ``smoothing / num_classes`` off the label,
    ``1 - smoothing + smoothing / num_classes`` on it (timm's ``one_hot`` in ``mixup_target``)."""
    num_classes = check_int('num_classes', num_classes, 1)
    smoothing = check_range('smoothing', smoothing, 0.0, 1.0, high_open=True)
    return _one_hot_smooth(check_class_indices(labels), num_classes, smoothing, dtype)


def _one_hot_smooth(labels: Tensor, num_classes: int, smoothing: float, dtype: torch.dtype = torch.float32) -> Tensor:
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    targets = torch.full((labels.shape[0], num_classes), off, dtype=dtype, device=labels.device)
    return targets.scatter_(1, labels.long().unsqueeze(1), on)


class MixParams(NamedTuple):
    """What :class:`MixupCutmix` drew on its last call."""

    lam: float  #: weight of the original sample, after the CutMix area correction
    use_cutmix: bool
    box: Optional[tuple[int, int, int, int]]  #: CutMix ``(y_low, y_high, x_low, x_high)``, else None


class MixupCutmix(nn.Module):
    """timm's ``Mixup`` in ``'batch'`` mode: one Mixup or CutMix draw for the whole batch, pairs ``i`` with
    ``B - 1 - i`` (``flip(0)``), label smoothing on the targets.

    With probability ``prob`` the batch is mixed (else ``lam = 1``). When both alphas are positive CutMix is
    chosen with probability ``switch_prob``; ``lam ~ Beta(alpha, alpha)`` of the chosen one. Mixup: ``imgs *
    lam + imgs.flip(0) * (1 - lam)``. CutMix: a box of side ``int(side * sqrt(1 - lam))`` centred uniformly in
    the image and clipped to it (or of sides drawn from ``cutmix_minmax``, which sets ``cutmix_alpha`` to 1
    as in timm) is pasted from ``imgs.flip(0)``, and ``lam`` becomes ``1 - box_area / (H * W)``
    (``correct_lam``). Targets: ``lam * y + (1 - lam) * y.flip(0)`` with ``y`` the smoothed one-hot labels.
    With both alphas 0 nothing is mixed (label smoothing only; timm asserts instead). Box geometry follows
    timm 1.0 (a box of exactly ``cut_h x cut_w`` before clipping, ``[0, H - cut_h]`` inclusive for minmax).

    ``forward(imgs [B, C, H, W], labels [B] long) -> (mixed imgs, float32 targets [B, num_classes])``; the
    input is not modified. The draw is kept in :attr:`last_params`.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        switch_prob: float = 0.5,
        prob: float = 1.0,
        label_smoothing: float = 0.1,
        cutmix_minmax: Optional[Sequence[float]] = None,
        correct_lam: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = check_int('num_classes', num_classes, 1)
        self.mixup_alpha = check_range('mixup_alpha', mixup_alpha, 0.0, math.inf, high_open=True)
        self.cutmix_alpha = check_range('cutmix_alpha', cutmix_alpha, 0.0, math.inf, high_open=True)
        self.switch_prob = check_range('switch_prob', switch_prob, 0.0, 1.0)
        self.prob = check_range('prob', prob, 0.0, 1.0)
        self.label_smoothing = check_range('label_smoothing', label_smoothing, 0.0, 1.0, high_open=True)
        if cutmix_minmax is not None:
            try:
                low, high = (float(check_range('cutmix_minmax', v, 0.0, 1.0)) for v in cutmix_minmax)
            except (TypeError, ValueError):
                raise ValueError(
                    f'cutmix_minmax must be None or (min, max) with 0 <= min < max <= 1, got {cutmix_minmax!r}'
                ) from None
            if not low < high:
                raise ValueError(
                    f'cutmix_minmax must be None or (min, max) with 0 <= min < max <= 1, got {cutmix_minmax!r}'
                )
            cutmix_minmax = (low, high)
            self.cutmix_alpha = 1.0  # as timm: the box comes from the min/max, lam only picks the mode
        self.cutmix_minmax = cutmix_minmax
        self.correct_lam = check_bool('correct_lam', correct_lam)
        self.last_params: Optional[MixParams] = None

    def extra_repr(self) -> str:
        return (
            f'num_classes={self.num_classes}, mixup_alpha={self.mixup_alpha}, '
            f'cutmix_alpha={self.cutmix_alpha}, switch_prob={self.switch_prob}, prob={self.prob}, '
            f'label_smoothing={self.label_smoothing}, cutmix_minmax={self.cutmix_minmax}, '
            f'correct_lam={self.correct_lam}'
        )

    @staticmethod
    def _beta(alpha: float) -> float:
        a = torch.tensor(alpha)
        return float(torch.distributions.Beta(a, a).sample())

    def sample_params(self) -> tuple[float, bool]:
        """One batch draw ``(lam, use_cutmix)`` before the CutMix area correction (timm's
        ``_params_per_batch``). Scalars come from torch's CPU generator: no device sync."""
        lam, use_cutmix = 1.0, False
        mixup, cutmix = self.mixup_alpha > 0, self.cutmix_alpha > 0
        if (mixup or cutmix) and float(torch.rand(())) < self.prob:
            use_cutmix = cutmix and (not mixup or float(torch.rand(())) < self.switch_prob)
            lam = self._beta(self.cutmix_alpha if use_cutmix else self.mixup_alpha)
        return lam, use_cutmix

    def cutmix_box(self, height: int, width: int, lam: float) -> tuple[tuple[int, int, int, int], float]:
        """timm's ``cutmix_bbox_and_lam``: ``((y_low, y_high, x_low, x_high), corrected lam)``."""
        if self.cutmix_minmax is not None:
            low, high = self.cutmix_minmax
            cut_h = _randint(int(height * low), int(height * high))
            cut_w = _randint(int(width * low), int(width * high))
            yl, xl = _randint(0, height - cut_h + 1), _randint(0, width - cut_w + 1)
            yh, xh = yl + cut_h, xl + cut_w
        else:
            ratio = math.sqrt(1.0 - lam)
            cut_h, cut_w = int(height * ratio), int(width * ratio)
            cy, cx = _randint(0, height), _randint(0, width)
            yl, yh = max(cy - cut_h // 2, 0), min(cy + (cut_h + 1) // 2, height)
            xl, xh = max(cx - cut_w // 2, 0), min(cx + (cut_w + 1) // 2, width)
        if self.correct_lam or self.cutmix_minmax is not None:
            lam = 1.0 - (yh - yl) * (xh - xl) / float(height * width)
        return (yl, yh, xl, xh), lam

    def mix_targets(self, labels: Tensor, lam: float) -> Tensor:
        """``lam * smooth(labels) + (1 - lam) * smooth(labels.flip(0))`` (timm's ``mixup_target``)."""
        return self._mix_targets(check_class_indices(labels), lam)

    def _mix_targets(self, labels: Tensor, lam: float) -> Tensor:
        y1 = _one_hot_smooth(labels, self.num_classes, self.label_smoothing)
        y2 = _one_hot_smooth(labels.flip(0), self.num_classes, self.label_smoothing)
        return y1 * lam + y2 * (1.0 - lam)

    def forward(self, imgs: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        imgs = check_images(imgs)
        if imgs.shape[0] < 1:
            raise ValueError('imgs must hold at least one sample, got an empty batch')
        if not isinstance(labels, Tensor) or labels.shape != (imgs.shape[0],):
            desc = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels)
            raise ValueError(f'labels must be a tensor of shape ({imgs.shape[0]},), got {desc}')
        check_class_indices(labels)
        lam, use_cutmix = self.sample_params()
        box = None
        out = imgs.clone()
        if lam < 1.0:
            if use_cutmix:
                box, lam = self.cutmix_box(imgs.shape[-2], imgs.shape[-1], lam)
                yl, yh, xl, xh = box
                out[:, :, yl:yh, xl:xh] = imgs.flip(0)[:, :, yl:yh, xl:xh]
            else:
                out = imgs * lam + imgs.flip(0) * (1.0 - lam)
        self.last_params = MixParams(lam, use_cutmix, box)
        return out, self._mix_targets(labels, lam)


def _randint(low: int, high: int) -> int:
    """Uniform integer in ``[low, high)`` (numpy's ``randint``); ``low`` when the range is empty."""
    if high <= low:
        return low
    return int(torch.randint(low, high, ()))
