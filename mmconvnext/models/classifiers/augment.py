"""Batch-level training augmentations of the ConvNeXt ImageNet recipe.

ConvNeXt ("A ConvNet for the 2020s", Liu et al., CVPR 2022, Appendix A.1) trains on ImageNet with timm's
``rand-m9-mstd0.5-inc1`` RandAugment, random erasing (probability 0.25, ``pixel`` mode), Mixup 0.8 / CutMix 1.0
switched with probability 0.5, and label smoothing 0.1. This module re-implements those four pieces so that they
run on whole batches inside a data preprocessor (on the GPU when there is one) while keeping timm's per-image
semantics: every sample gets its own random draws.

* :class:`RandAugment` - timm's ``RandAugment`` with ``_RAND_INCREASING_TRANSFORMS``: per sample, ``num_ops``
  ops drawn uniformly *with* replacement from 15, each applied with probability ``prob`` at a magnitude drawn
  from ``Normal(magnitude, magnitude_std)`` clipped to ``[0, magnitude_max]``. The image operations are
  kornia's functional ops, picked to match PIL's definitions (what timm calls). Only the policy is written here:
  ``kornia.augmentation.auto.RandAugment`` draws one set of ops *without* replacement for the whole batch,
  uses a fixed magnitude (no magnitude noise), has no per-op probability and uses the non-"increasing"
  mappings, so it cannot reproduce the recipe.
* :class:`RandomErasing` - timm's ``RandomErasing(mode='pixel')`` on the normalised batch.
* :class:`MixupCutmix` and :func:`one_hot_smooth` - timm's ``Mixup(mode='batch')`` with label smoothing.

All randomness comes from torch's global generators (``torch.rand``, ``torch.randint``, ``torch.randn``,
``torch.distributions.Beta``), so ``mmengine``'s seeding makes the augmentations reproducible. Nothing uses
python's ``random`` or numpy.

Conventions that differ from the PIL pipeline timm runs on uint8 images:

* images are float ``[0, 1]``; an 8-bit level ``v`` is the float ``v / 255``. Arguments that timm gives in
  8-bit units (solarize thresholds ``0..256``, solarize-add amounts ``0..110``, the solarize-add threshold
  128) are divided by 255, so on images quantised to ``k / 255`` the result is exactly PIL's. Nothing is
  re-quantised between ops, except where the kornia op itself works on 8-bit levels (``posterize``,
  ``equalize``).
* geometric ops sample bilinearly (timm draws bilinear or bicubic, and the ConvNeXt recipe sets bicubic),
  with PIL's coordinate convention (pixel centres at ``i + 0.5``, rotation about ``(W / 2, H / 2)``) and
  PIL's hard switch to ``fill`` where the source point leaves the image.

On 8-bit images every op agrees with timm's PIL op to within 2/255, PIL's 8-bit rounding (see the timm reference
tests in tests/test_models/test_augment.py).
"""
import math
from typing import Callable, NamedTuple, Optional, Sequence, Union

import torch
from torch import Tensor, nn


def _kornia():
    """kornia, imported on first use: ``import mmconvnext`` and every detection /
    segmentation process stay free of it (and of the threads its Rust extension starts)."""
    import kornia.enhance
    import kornia.geometry.transform

    return kornia

__all__ = [
    'RAND_INCREASING_OPS',
    'RAND_OPS',
    'MixParams',
    'MixupCutmix',
    'RandAugment',
    'RandAugmentPlan',
    'RandomErasing',
    'ErasingBoxes',
    'one_hot_smooth',
]

#: timm's ``_LEVEL_DENOM``: a magnitude ``m`` maps to the fractional level ``m / 10``.
LEVEL_DENOM = 10.0

#: timm's ``_RAND_INCREASING_TRANSFORMS`` (``inc1``): severity grows with the magnitude for every op.
RAND_INCREASING_OPS: tuple[str, ...] = (
    'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing', 'SolarizeIncreasing', 'SolarizeAdd',
    'ColorIncreasing', 'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX', 'ShearY',
    'TranslateXRel', 'TranslateYRel')

#: timm's ``_RAND_TRANSFORMS`` (``inc0``), used with ``increasing=False``.
RAND_OPS: tuple[str, ...] = (
    'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize', 'Solarize', 'SolarizeAdd', 'Color', 'Contrast',
    'Brightness', 'Sharpness', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel')


# ----------------------------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------------------------
def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(name: str, value: object, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """``value`` as a float, or a ValueError naming ``name`` when it is not a number in the interval."""
    if not _is_number(value) or math.isnan(value):
        raise ValueError(f'{name} must be a number, got {value!r}')
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f'{"(" if low_open else "["}{low}, {high}{")" if high_open else "]"}'
        raise ValueError(f'{name} must be in {interval}, got {value!r}')
    return float(value)


def _check_int(name: str, value: object, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')
    return value


def _check_images(imgs: object, name: str = 'imgs', channels: Optional[int] = None) -> Tensor:
    if not isinstance(imgs, Tensor) or imgs.dim() != 4 or not imgs.is_floating_point():
        desc = f'{imgs.dtype} tensor of shape {tuple(imgs.shape)}' if isinstance(imgs, Tensor) else type(imgs)
        raise ValueError(f'{name} must be a floating-point B x C x H x W tensor, got {desc}')
    if channels is not None and imgs.shape[1] != channels:
        raise ValueError(f'{name} must have {channels} channels, got shape {tuple(imgs.shape)}')
    return imgs


def _per_sample(value: Union[float, Tensor], imgs: Tensor) -> Tensor:
    """``value`` (a number or a ``[B]`` tensor) as a float ``[B]`` tensor on the device of ``imgs``."""
    value = torch.as_tensor(value, dtype=imgs.dtype, device=imgs.device)
    if value.dim() == 0:
        value = value.expand(imgs.shape[0])
    if value.shape != (imgs.shape[0],):
        raise ValueError(f'expected a number or one value per sample ({imgs.shape[0]}), got shape '
                         f'{tuple(value.shape)}')
    return value


# ----------------------------------------------------------------------------------------------------------------
# RandAugment
# ----------------------------------------------------------------------------------------------------------------
class RandAugmentPlan(NamedTuple):
    """Per-sample draws of one :class:`RandAugment` call, each ``[B, num_ops]``."""

    ops: Tensor  #: long, index into ``RandAugment.op_names``
    applied: Tensor  #: bool, whether the drawn op is applied (probability ``prob``)
    magnitudes: Tensor  #: float, noisy magnitude clipped to ``[0, magnitude_max]``
    signs: Tensor  #: float, +1 or -1 (timm's ``_randomly_negate``), used by the signed ops only


def _level_to_arg(name: str, magnitudes: Tensor, signs: Tensor) -> Tensor:
    """timm's ``LEVEL_TO_ARG[name]`` on per-sample magnitudes (level = magnitude / 10)."""
    level = magnitudes / LEVEL_DENOM
    if name in ('AutoContrast', 'Equalize', 'Invert'):
        return torch.zeros_like(magnitudes)  # no argument
    if name == 'Rotate':  # degrees, [-30, 30]
        return level * 30.0 * signs
    if name in ('ShearX', 'ShearY'):  # shear factor, [-0.3, 0.3]
        return level * 0.3 * signs
    if name in ('TranslateXRel', 'TranslateYRel'):  # fraction of the image size, [-0.45, 0.45]
        return level * 0.45 * signs
    if name == 'PosterizeIncreasing':  # bits kept, 4 down to 0 (0 bits: black, as PIL before it rejected 0)
        return (4.0 - torch.floor(level * 4.0)).clamp(0.0, 8.0)
    if name == 'Posterize':  # bits kept, 0 up to 4
        return torch.floor(level * 4.0).clamp(0.0, 8.0)
    if name == 'SolarizeIncreasing':  # threshold in 8-bit units, 256 down to 0
        return 256.0 - torch.floor(level * 256.0).clamp(max=256.0)
    if name == 'Solarize':  # threshold in 8-bit units, 0 up to 256
        return torch.floor(level * 256.0).clamp(max=256.0)
    if name == 'SolarizeAdd':  # amount added below 128, in 8-bit units, 0 up to 110
        return torch.floor(level * 110.0).clamp(max=128.0)
    if name.endswith('Increasing'):  # Color/Contrast/Brightness/SharpnessIncreasing: 1 +/- 0.9 * level
        return (1.0 + level * 0.9 * signs).clamp(min=0.1)
    if name in ('Color', 'Contrast', 'Brightness', 'Sharpness'):  # [0.1, 1.9]
        return level * 1.8 + 0.1
    raise KeyError(f'unknown RandAugment op {name!r}')


def _pil_affine(imgs: Tensor, coeffs: Sequence[Tensor], fill: Tensor) -> Tensor:
    """PIL's ``Image.transform(size, AFFINE, (a, b, c, d, e, f))`` with per-sample coefficients.

    PIL reads output pixel ``(x, y)`` from input ``(a x + b y + c, d x + e y + f)`` in coordinates whose
    pixel centres are at ``i + 0.5``; kornia puts them at ``i`` (``align_corners=True``), so the translation
    moves by half a pixel. kornia's ``warp_affine`` takes the source-to-destination matrix, hence the inverse.

    PIL's bilinear filter gives ``fill`` exactly where the source point lies outside the image and clamps the
    neighbours to the edge elsewhere. kornia's ``padding_mode='fill'`` instead blends ``fill`` into a one-pixel
    border, so the content is warped with ``'border'`` padding and the fill comes from a nearest-neighbour
    warp of a ones mask (1 iff the source point rounds to a pixel of the image), as PIL decides it.
    """
    a, b, c, d, e, f = coeffs
    c = c + 0.5 * (a + b - 1.0)
    f = f + 0.5 * (d + e - 1.0)
    dst_to_src = torch.stack([a, b, c, d, e, f], dim=1).view(-1, 2, 3).to(imgs)
    geometry = _kornia().geometry.transform
    src_to_dst = geometry.invert_affine_transform(dst_to_src)
    size = (imgs.shape[-2], imgs.shape[-1])
    content = geometry.warp_affine(imgs, src_to_dst, size, mode='bilinear', padding_mode='border', align_corners=True)
    ones = imgs.new_ones(imgs.shape[0], 1, *size)
    inside = geometry.warp_affine(ones, src_to_dst, size, mode='nearest', padding_mode='zeros', align_corners=True)
    inside = inside > 0.5
    return torch.where(inside, content, fill.to(imgs).view(1, -1, 1, 1))


def _rotate(imgs: Tensor, degrees: Tensor, fill: Tensor) -> Tensor:
    """PIL's ``img.rotate(degrees)``: counter-clockwise about ``(W / 2, H / 2)`` in PIL coordinates."""
    height, width = imgs.shape[-2:]
    angle = torch.deg2rad(-degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    cx, cy = width / 2.0, height / 2.0
    a, b, d, e = cos, sin, -sin, cos
    c = cx - a * cx - b * cy
    f = cy - d * cx - e * cy
    return _pil_affine(imgs, (a, b, c, d, e, f), fill)


def _auto_contrast(imgs: Tensor) -> Tensor:
    """``ImageOps.autocontrast``: stretch each channel's [min, max] to [0, 1]; a flat channel is kept.

    Written by hand: ``kornia.enhance.normalize_min_max`` divides by ``max - min + eps`` and sends a flat
    channel to 0, where PIL leaves it unchanged. PIL also truncates the result to 8-bit levels; this does not.
    """
    low = imgs.amin(dim=(-2, -1), keepdim=True)
    high = imgs.amax(dim=(-2, -1), keepdim=True)
    flat = high <= low
    scale = torch.where(flat, torch.ones_like(high), 1.0 / (high - low).masked_fill(flat, 1.0))
    return (imgs - torch.where(flat, torch.zeros_like(low), low)) * scale


def _solarize_add(imgs: Tensor, add: Tensor) -> Tensor:
    """timm's ``solarize_add``: add ``add`` (8-bit units) to the pixels below 128, saturating at 255.

    Written by hand: ``kornia.enhance.solarize(additions=...)`` adds to every pixel and then inverts those
    at or above the threshold, which is a different op.
    """
    shifted = (imgs + add.view(-1, 1, 1, 1) / 255.0).clamp(max=1.0)
    return torch.where(imgs < 128.0 / 255.0, shifted, imgs)


def _affine(like: Tensor, b: Union[Tensor, float] = 0.0, c: Union[Tensor, float] = 0.0,
            d: Union[Tensor, float] = 0.0, f: Union[Tensor, float] = 0.0) -> tuple[Tensor, ...]:
    """Per-sample PIL affine coefficients ``(1, b, c, d, 1, f)``."""
    one = torch.ones_like(like)
    b, c, d, f = (torch.as_tensor(v, dtype=like.dtype, device=like.device).expand_as(like) for v in (b, c, d, f))
    return one, b, c, d, one, f


def _image_op(name: str) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """``fn(imgs, arg, fill)`` applying op ``name`` with a per-sample argument ``arg`` (see ``_level_to_arg``)."""
    base = name[:-len('Increasing')] if name.endswith('Increasing') else name
    if base == 'AutoContrast':
        return lambda x, arg, fill: _auto_contrast(x)
    if base == 'Equalize':  # kornia: PIL's ImageOps.equalize on the 8-bit levels int(255 x)
        return lambda x, arg, fill: _kornia().enhance.equalize(x)
    if base == 'Invert':
        return lambda x, arg, fill: _kornia().enhance.invert(x)
    if base == 'Rotate':
        return lambda x, arg, fill: _rotate(x, arg, fill)
    if base == 'Posterize':  # kornia: keeps the top ``bits`` of the 8-bit level, as ImageOps.posterize
        return lambda x, arg, fill: _kornia().enhance.posterize(x, arg.round().long())
    if base == 'Solarize':  # kornia: inverts x >= threshold, as ImageOps.solarize; threshold v -> v / 255
        return lambda x, arg, fill: _kornia().enhance.solarize(x, arg / 255.0)
    if base == 'SolarizeAdd':
        return lambda x, arg, fill: _solarize_add(x, arg)
    if base == 'Color':
        # ImageEnhance.Color blends with the luma (L) image: kornia's *_with_gray_subtraction variant, not
        # adjust_saturation, which scales HSV saturation (grey = max(R, G, B) at factor 0).
        return lambda x, arg, fill: _kornia().enhance.adjust_saturation_with_gray_subtraction(x, arg)
    if base == 'Contrast':
        # ImageEnhance.Contrast blends with the image's mean luma: kornia's *_with_mean_subtraction variant,
        # not adjust_contrast, which multiplies the pixels. (PIL rounds that mean to an 8-bit level.)
        return lambda x, arg, fill: _kornia().enhance.adjust_contrast_with_mean_subtraction(x, arg)
    if base == 'Brightness':
        # ImageEnhance.Brightness blends with black, i.e. multiplies: kornia's *_accumulative variant, not
        # adjust_brightness, which adds the factor.
        return lambda x, arg, fill: _kornia().enhance.adjust_brightness_accumulative(x, arg)
    if base == 'Sharpness':  # kornia: blend with PIL's SMOOTH-filtered image, border pixels kept, as PIL
        return lambda x, arg, fill: _kornia().enhance.sharpness(x, arg)
    if base == 'ShearX':  # PIL AFFINE (1, f, 0, 0, 1, 0)
        return lambda x, arg, fill: _pil_affine(x, _affine(arg, b=arg), fill)
    if base == 'ShearY':  # PIL AFFINE (1, 0, 0, f, 1, 0)
        return lambda x, arg, fill: _pil_affine(x, _affine(arg, d=arg), fill)
    if base == 'TranslateXRel':  # PIL AFFINE (1, 0, pct * W, 0, 1, 0): content moves left for pct > 0
        return lambda x, arg, fill: _pil_affine(x, _affine(arg, c=arg * x.shape[-1]), fill)
    if base == 'TranslateYRel':  # PIL AFFINE (1, 0, 0, 0, 1, pct * H): content moves up for pct > 0
        return lambda x, arg, fill: _pil_affine(x, _affine(arg, f=arg * x.shape[-2]), fill)
    raise KeyError(f'unknown RandAugment op {name!r}')


class RandAugment(nn.Module):
    """timm's RandAugment (``rand-m{magnitude}-n{num_ops}-mstd{magnitude_std}-inc1``) on a batch.

    For each sample, ``num_ops`` ops are drawn uniformly with replacement from :data:`RAND_INCREASING_OPS`
    (:data:`RAND_OPS` with ``increasing=False``); each is applied with probability ``prob`` at a magnitude
    drawn from ``Normal(magnitude, magnitude_std)`` (uniform on ``[0, magnitude]`` when ``magnitude_std`` is
    ``inf``, as in timm) and clipped to ``[0, magnitude_max]``; the op's argument is timm's mapping of the
    level ``magnitude / 10``, with a random sign for the signed ops. See :meth:`op_arg` for the mappings.

    Args:
        num_ops: ops drawn per sample (timm's ``n``, default 2).
        magnitude: mean magnitude on timm's 0..10 scale (``m9``).
        magnitude_std: std of the magnitude noise (``mstd0.5``); 0 for none, ``inf`` for uniform sampling.
        magnitude_max: upper clip of the noisy magnitude (timm's ``mmax``, default 10).
        prob: probability of applying each drawn op (timm's ``p``, default 0.5).
        increasing: use the "increasing" op variants (``inc1``).
        fill: RGB colour in [0, 1] of the area uncovered by the geometric ops; default the ImageNet mean as
            timm rounds it, (124, 116, 104) / 255.

    Input: float tensor ``B x 3 x H x W``, RGB in ``[0, 1]`` (``H, W >= 3``). Output: same shape and dtype,
    clamped to ``[0, 1]``; the input is not modified.
    """

    def __init__(self, num_ops: int = 2, magnitude: float = 9.0, magnitude_std: float = 0.5,
                 magnitude_max: float = 10.0, prob: float = 0.5, increasing: bool = True,
                 fill: Sequence[float] = (124 / 255, 116 / 255, 104 / 255)) -> None:
        super().__init__()
        self.num_ops = _check_int('num_ops', num_ops, 0)
        self.magnitude_max = _check_range('magnitude_max', magnitude_max, 0.0, math.inf, low_open=True,
                                          high_open=True)
        self.magnitude = _check_range('magnitude', magnitude, 0.0, math.inf, high_open=True)
        self.magnitude_std = _check_range('magnitude_std', magnitude_std, 0.0, math.inf)
        self.prob = _check_range('prob', prob, 0.0, 1.0)
        if not isinstance(increasing, bool):
            raise ValueError(f'increasing must be a bool, got {increasing!r}')
        self.increasing = increasing
        try:
            fill = tuple(float(_check_range('fill', v, 0.0, 1.0)) for v in fill)
        except TypeError:
            raise ValueError(f'fill must be a sequence of 3 numbers in [0, 1], got {fill!r}') from None
        if len(fill) != 3:
            raise ValueError(f'fill must be a sequence of 3 numbers in [0, 1], got {fill!r}')
        self.fill = fill
        self.register_buffer('fill_value', torch.tensor(fill), persistent=False)
        self.op_names: tuple[str, ...] = RAND_INCREASING_OPS if increasing else RAND_OPS
        self._ops = {name: _image_op(name) for name in self.op_names}

    def extra_repr(self) -> str:
        return (f'num_ops={self.num_ops}, magnitude={self.magnitude}, magnitude_std={self.magnitude_std}, '
                f'magnitude_max={self.magnitude_max}, prob={self.prob}, increasing={self.increasing}, '
                f'fill={tuple(round(v, 4) for v in self.fill)}')

    def sample_plan(self, batch_size: int, device: Union[torch.device, str, None] = None) -> RandAugmentPlan:
        """Draw the per-sample ops, application mask, magnitudes and signs for ``batch_size`` images."""
        shape = (batch_size, self.num_ops)
        ops = torch.randint(0, len(self.op_names), shape, device=device)
        applied = torch.rand(shape, device=device) < self.prob
        if self.magnitude_std == math.inf:
            magnitudes = torch.rand(shape, device=device) * self.magnitude
        elif self.magnitude_std > 0:
            magnitudes = torch.randn(shape, device=device) * self.magnitude_std + self.magnitude
        else:
            magnitudes = torch.full(shape, self.magnitude, device=device)
        magnitudes = magnitudes.clamp(0.0, self.magnitude_max)
        signs = torch.where(torch.rand(shape, device=device) < 0.5, -1.0, 1.0)
        return RandAugmentPlan(ops, applied, magnitudes, signs)

    @staticmethod
    def op_arg(name: str, magnitudes: Union[float, Tensor], signs: Union[float, Tensor, None] = None) -> Tensor:
        """timm's argument of op ``name`` at the given magnitudes (``level = magnitude / 10``).

        Rotate ``30 level`` degrees; ShearX/Y ``0.3 level``; TranslateX/YRel ``0.45 level`` of the width /
        height (all times ``signs``); PosterizeIncreasing keeps ``4 - int(4 level)`` bits; SolarizeIncreasing
        threshold ``256 - int(256 level)`` and SolarizeAdd amount ``int(110 level)``, both in 8-bit units;
        Color/Contrast/Brightness/SharpnessIncreasing factor ``max(0.1, 1 + signs * 0.9 level)``. ``signs``
        defaults to +1.
        """
        magnitudes = torch.as_tensor(magnitudes, dtype=torch.get_default_dtype())
        signs = torch.ones_like(magnitudes) if signs is None else torch.as_tensor(signs).to(magnitudes)
        return _level_to_arg(name, magnitudes, signs)

    def apply_op_arg(self, imgs: Tensor, name: str, arg: Union[float, Tensor]) -> Tensor:
        """Apply op ``name`` to every image with its argument ``arg`` (a number or one per sample, in the units
        of :meth:`op_arg`); the result is clamped to ``[0, 1]``."""
        if name not in self._ops:
            raise ValueError(f'name must be one of {self.op_names}, got {name!r}')
        imgs = _check_images(imgs, channels=3)
        if imgs.shape[0] == 0:
            return imgs.clone()
        return self._ops[name](imgs, _per_sample(arg, imgs), self.fill_value).clamp(0.0, 1.0)

    def apply_op(self, imgs: Tensor, name: str, magnitudes: Union[float, Tensor],
                 signs: Union[float, Tensor, None] = None) -> Tensor:
        """Apply op ``name`` at the given per-sample magnitudes (and signs, default +1)."""
        if name not in self._ops:
            raise ValueError(f'name must be one of {self.op_names}, got {name!r}')
        imgs = _check_images(imgs, channels=3)
        magnitudes = _per_sample(magnitudes, imgs)
        signs = torch.ones_like(magnitudes) if signs is None else _per_sample(signs, imgs)
        return self.apply_op_arg(imgs, name, _level_to_arg(name, magnitudes, signs))

    def apply_plan(self, imgs: Tensor, plan: RandAugmentPlan) -> Tensor:
        """Apply a plan from :meth:`sample_plan`: slot by slot, each op once on the samples that drew it."""
        imgs = _check_images(imgs, channels=3)
        out = imgs.clone()
        num = len(self.op_names)
        for slot in range(plan.ops.shape[1]):
            key = torch.where(plan.applied[:, slot], plan.ops[:, slot], num)  # ``num``: not applied
            order = torch.argsort(key, stable=True)
            counts = torch.bincount(key, minlength=num + 1).tolist()  # the one host sync per slot
            start = 0
            for index, count in enumerate(counts[:num]):
                if count:
                    idx = order[start:start + count]
                    out[idx] = self.apply_op(out[idx], self.op_names[index], plan.magnitudes[idx, slot],
                                             plan.signs[idx, slot])
                start += count
        return out

    def forward(self, imgs: Tensor) -> Tensor:
        imgs = _check_images(imgs, channels=3)
        return self.apply_plan(imgs, self.sample_plan(imgs.shape[0], imgs.device))


# ----------------------------------------------------------------------------------------------------------------
# RandomErasing
# ----------------------------------------------------------------------------------------------------------------
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

    def __init__(self, prob: float = 0.25, min_area: float = 0.02, max_area: float = 1 / 3, min_aspect: float = 0.3,
                 max_aspect: Optional[float] = None, max_count: int = 1) -> None:
        super().__init__()
        self.prob = _check_range('prob', prob, 0.0, 1.0)
        self.min_area = _check_range('min_area', min_area, 0.0, 1.0, low_open=True)
        self.max_area = _check_range('max_area', max_area, self.min_area, 1.0)
        self.min_aspect = _check_range('min_aspect', min_aspect, 0.0, math.inf, low_open=True, high_open=True)
        if max_aspect is None:
            max_aspect = 1.0 / self.min_aspect
        self.max_aspect = _check_range('max_aspect', max_aspect, self.min_aspect, math.inf, high_open=True)
        self.max_count = _check_int('max_count', max_count, 1)
        self.log_aspect = (math.log(self.min_aspect), math.log(self.max_aspect))

    def extra_repr(self) -> str:
        return (f'prob={self.prob}, min_area={self.min_area}, max_area={self.max_area}, '
                f'min_aspect={self.min_aspect}, max_aspect={self.max_aspect}, max_count={self.max_count}')

    def sample_boxes(self, batch_size: int, height: int, width: int,
                     device: Union[torch.device, str, None] = None) -> ErasingBoxes:
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
        inside = ((rows >= top) & (rows < top + expand(boxes.height)) & (cols >= left)
                  & (cols < left + expand(boxes.width)) & expand(boxes.valid))
        return inside.any(dim=1, keepdim=True)

    def forward(self, imgs: Tensor) -> Tensor:
        imgs = _check_images(imgs)
        batch, _, height, width = imgs.shape
        boxes = self.sample_boxes(batch, height, width, imgs.device)
        out = imgs.clone()
        sel = boxes.valid.any(dim=1).nonzero().squeeze(1)  # noise only for the samples that are erased
        if sel.numel():
            mask = self.boxes_to_mask(ErasingBoxes(*(t[sel] for t in boxes)), height, width)
            noise = torch.randn((sel.numel(), *imgs.shape[1:]), dtype=imgs.dtype, device=imgs.device)
            out[sel] = torch.where(mask, noise, imgs[sel])
        return out


# ----------------------------------------------------------------------------------------------------------------
# Mixup / CutMix
# ----------------------------------------------------------------------------------------------------------------
def one_hot_smooth(labels: Tensor, num_classes: int, smoothing: float = 0.0,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Label-smoothed one-hot targets ``[B, num_classes]``: ``smoothing / num_classes`` off the label,
    ``1 - smoothing + smoothing / num_classes`` on it (timm's ``one_hot`` in ``mixup_target``)."""
    num_classes = _check_int('num_classes', num_classes, 1)
    smoothing = _check_range('smoothing', smoothing, 0.0, 1.0, high_open=True)
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
        desc = f'{labels.dtype} tensor of shape {tuple(labels.shape)}' if isinstance(labels, Tensor) else labels
        raise ValueError(f'labels must be a 1-D integer tensor of class indices, got {desc}')
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

    def __init__(self, num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 switch_prob: float = 0.5, prob: float = 1.0, label_smoothing: float = 0.1,
                 cutmix_minmax: Optional[Sequence[float]] = None, correct_lam: bool = True) -> None:
        super().__init__()
        self.num_classes = _check_int('num_classes', num_classes, 1)
        self.mixup_alpha = _check_range('mixup_alpha', mixup_alpha, 0.0, math.inf, high_open=True)
        self.cutmix_alpha = _check_range('cutmix_alpha', cutmix_alpha, 0.0, math.inf, high_open=True)
        self.switch_prob = _check_range('switch_prob', switch_prob, 0.0, 1.0)
        self.prob = _check_range('prob', prob, 0.0, 1.0)
        self.label_smoothing = _check_range('label_smoothing', label_smoothing, 0.0, 1.0, high_open=True)
        if cutmix_minmax is not None:
            try:
                low, high = (float(_check_range('cutmix_minmax', v, 0.0, 1.0)) for v in cutmix_minmax)
            except (TypeError, ValueError):
                raise ValueError(f'cutmix_minmax must be None or (min, max) with 0 <= min < max <= 1, '
                                 f'got {cutmix_minmax!r}') from None
            if not low < high:
                raise ValueError(f'cutmix_minmax must be None or (min, max) with 0 <= min < max <= 1, '
                                 f'got {cutmix_minmax!r}')
            cutmix_minmax = (low, high)
            self.cutmix_alpha = 1.0  # as timm: the box comes from the min/max, lam only picks the mode
        self.cutmix_minmax = cutmix_minmax
        if not isinstance(correct_lam, bool):
            raise ValueError(f'correct_lam must be a bool, got {correct_lam!r}')
        self.correct_lam = correct_lam
        self.last_params: Optional[MixParams] = None

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, mixup_alpha={self.mixup_alpha}, '
                f'cutmix_alpha={self.cutmix_alpha}, switch_prob={self.switch_prob}, prob={self.prob}, '
                f'label_smoothing={self.label_smoothing}, cutmix_minmax={self.cutmix_minmax}, '
                f'correct_lam={self.correct_lam}')

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
        y1 = one_hot_smooth(labels, self.num_classes, self.label_smoothing)
        y2 = one_hot_smooth(labels.flip(0), self.num_classes, self.label_smoothing)
        return y1 * lam + y2 * (1.0 - lam)

    def forward(self, imgs: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        imgs = _check_images(imgs)
        if imgs.shape[0] < 1:
            raise ValueError('imgs must hold at least one sample, got an empty batch')
        if not isinstance(labels, Tensor) or labels.shape != (imgs.shape[0],):
            desc = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels)
            raise ValueError(f'labels must be a tensor of shape ({imgs.shape[0]},), got {desc}')
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
        return out, self.mix_targets(labels, lam)


def _randint(low: int, high: int) -> int:
    """Uniform integer in ``[low, high)`` (numpy's ``randint``); ``low`` when the range is empty."""
    if high <= low:
        return low
    return int(torch.randint(low, high, ()))
