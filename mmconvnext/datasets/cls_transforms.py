"""Per-sample transforms of the classification pipelines, in the mmconvnext scope.

Written here because mmpretrain (whose ``RandomResizedCrop``/``PackInputs`` these
follow) and torchvision cannot be imported in this environment. Everything else of
the pipelines is mmcv's: ``LoadImageFromFile``, ``RandomFlip``, and for evaluation
``Resize(scale=(<huge>, 256), keep_ratio=True, interpolation='bicubic')`` (the short
side to 256) then ``CenterCrop(crop_size=224)``.
"""

import math
from typing import Sequence, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmengine.structures import BaseDataElement

from mmconvnext.registry import TRANSFORMS

__all__ = ['PackClsInputs', 'RandomResizedCrop']

_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def _pair(name: str, value: Sequence[float]) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ValueError(f'RandomResizedCrop: {name} must be a (min, max) pair, got {value!r}')
    lo, hi = float(value[0]), float(value[1])
    if not 0 < lo <= hi:
        raise ValueError(f'RandomResizedCrop: {name}={value!r} needs 0 < min <= max')
    return lo, hi


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random part of the image and resize it to ``scale`` (the Inception /
    timm / torchvision training crop).

    The crop's area is a fraction ``~ U(crop_scale)`` of the image's and its aspect
    ratio (width / height) is ``exp(U(log ratio))``; ``max_attempts`` draws are tried
    until one fits inside the image, else the crop is the centred largest crop whose
    ratio is clamped to ``ratio``. Random numbers come from numpy's global generator
    (as mmcv's transforms; mmengine seeds it).

    Args:
        scale: the output size, ``(width, height)`` as mmcv's ``Resize`` takes it, or an
            int for a square.
        crop_scale: (min, max) fraction of the image area that is cropped.
        ratio: (min, max) aspect ratio (width / height) of the crop.
        max_attempts: draws before falling back to the centre crop.
        interpolation: mmcv's interpolation name, default ``'bicubic'``.
        backend: ``mmcv.imresize``'s backend (``'cv2'`` or ``'pillow'``).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``.
    """

    def __init__(
        self,
        scale: Union[int, Sequence[int]] = (224, 224),
        crop_scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        max_attempts: int = 10,
        interpolation: str = 'bicubic',
        backend: str = 'cv2',
    ) -> None:
        if isinstance(scale, (int, np.integer)):
            scale = (int(scale), int(scale))
        if not (
            isinstance(scale, (tuple, list))
            and len(scale) == 2
            and all(isinstance(s, (int, np.integer)) and s > 0 for s in scale)
        ):
            raise ValueError(
                f'RandomResizedCrop: scale must be an int or a (width, height) pair of positive ints, got {scale!r}'
            )
        self.scale = (int(scale[0]), int(scale[1]))
        self.crop_scale = _pair('crop_scale', crop_scale)
        if self.crop_scale[1] > 1:
            raise ValueError(
                f'RandomResizedCrop: crop_scale={crop_scale!r} is a fraction of the image area, '
                'expected values in (0, 1]'
            )
        self.ratio = _pair('ratio', ratio)
        if not (isinstance(max_attempts, int) and max_attempts >= 1):
            raise ValueError(f'RandomResizedCrop: max_attempts must be a positive int, got {max_attempts!r}')
        self.max_attempts = max_attempts
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'RandomResizedCrop: interpolation={interpolation!r}, expected one of {_INTERPOLATIONS}')
        if backend not in ('cv2', 'pillow'):
            raise ValueError(f"RandomResizedCrop: backend={backend!r}, expected 'cv2' or 'pillow'")
        self.interpolation = interpolation
        self.backend = backend

    @cache_randomness
    def get_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        """A crop box ``(top, left, crop_height, crop_width)`` for an image of the given
        size (torchvision's ``RandomResizedCrop.get_params`` order)."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            target_area = area * np.random.uniform(*self.crop_scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(np.random.randint(0, height - h + 1))
                left = int(np.random.randint(0, width - w + 1))
                return top, left, h, w
        # fallback: the whole image, or its centre with the ratio clamped into range
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            w, h = int(round(height * self.ratio[1])), height
        else:
            w, h = width, height
        h, w = max(1, min(h, height)), max(1, min(w, width))
        return (height - h) // 2, (width - w) // 2, h, w

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, left, h, w = self.get_params(*img.shape[:2])
        crop = img[top : top + h, left : left + w]
        img = mmcv.imresize(crop, self.scale, interpolation=self.interpolation, backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(scale={self.scale}, crop_scale={self.crop_scale}, ratio={self.ratio}, '
            f'max_attempts={self.max_attempts}, interpolation={self.interpolation!r}, backend={self.backend!r})'
        )


@TRANSFORMS.register_module()
class PackClsInputs(BaseTransform):
    """Pack a classification sample for the model: ``dict(inputs=<C x H x W tensor>,
    data_samples=<BaseDataElement>)``.

    ``inputs`` keeps the image's dtype and channel order (uint8 BGR after
    ``LoadImageFromFile``), contiguous; a 2-D image becomes 1 x H x W. The data sample
    carries ``gt_label`` (a ``torch.long`` tensor of shape (1,)) when the results have
    ``gt_label``, and the ``meta_keys`` present in the results as metainfo.
    """

    def __init__(
        self, meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape', 'flip', 'flip_direction')
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError(
                f"PackClsInputs: the results have no 'img' (keys: {sorted(results)}); "
                'is LoadImageFromFile in the pipeline?'
            )
        img = np.asarray(results['img'])
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = BaseDataElement(metainfo={k: results[k] for k in self.meta_keys if k in results})
        label = results.get('gt_label')
        if label is not None:
            sample.gt_label = torch.as_tensor(np.asarray(label), dtype=torch.long).reshape(-1)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
