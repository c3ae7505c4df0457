"""RandAugment of the ConvNeXt ImageNet recipe (timm's ``rand-m9-mstd0.5-inc1``) on whole batches.

timm's ``RandAugment`` with ``_RAND_INCREASING_TRANSFORMS``: per sample, ``num_ops`` ops drawn uniformly *with*
replacement from 15, each applied with probability ``prob`` at a magnitude drawn from ``Normal(magnitude,
magnitude_std)`` clipped to ``[0, magnitude_max]``. The image operations are kornia's functional ops, picked to
match PIL's definitions (what timm calls). Only the policy is written here: ``kornia.augmentation.auto.RandAugment``
draws one set of ops *without* replacement for the whole batch, uses a fixed magnitude (no magnitude noise), has no
per-op probability and uses the non-"increasing" mappings, so it cannot reproduce the recipe.

An op is two table entries: :data:`LEVEL_TO_ARG` maps the level ``magnitude / 10`` to the op's argument (timm's
``LEVEL_TO_ARG``), :data:`NAME_TO_OP` applies the op with one argument per sample.

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
tests in tests/test_models/test_augment.py). All randomness comes from torch's global generators, so mmengine's
seeding makes it reproducible.
"""

import math
from typing import Callable, NamedTuple, Sequence, Union

import torch
from torch import Tensor, nn

from ._checks import check_bool, check_images, check_int, check_range

__all__ = ['LEVEL_TO_ARG', 'NAME_TO_OP', 'RAND_INCREASING_OPS', 'RAND_OPS', 'RandAugment', 'RandAugmentPlan']

#: timm's ``_LEVEL_DENOM``: a magnitude ``m`` maps to the fractional level ``m / 10``.
LEVEL_DENOM = 10.0

#: timm's ``_RAND_INCREASING_TRANSFORMS`` (``inc1``): severity grows with the magnitude for every op.
RAND_INCREASING_OPS: tuple[str, ...] = (
    'AutoContrast',
    'Equalize',
    'Invert',
    'Rotate',
    'PosterizeIncreasing',
    'SolarizeIncreasing',
    'SolarizeAdd',
    'ColorIncreasing',
    'ContrastIncreasing',
    'BrightnessIncreasing',
    'SharpnessIncreasing',
    'ShearX',
    'ShearY',
    'TranslateXRel',
    'TranslateYRel',
)

#: timm's ``_RAND_TRANSFORMS`` (``inc0``), used with ``increasing=False``.
RAND_OPS: tuple[str, ...] = (
    'AutoContrast',
    'Equalize',
    'Invert',
    'Rotate',
    'Posterize',
    'Solarize',
    'SolarizeAdd',
    'Color',
    'Contrast',
    'Brightness',
    'Sharpness',
    'ShearX',
    'ShearY',
    'TranslateXRel',
    'TranslateYRel',
)


def _kornia():
    """kornia, imported on first use: ``import mmconvnext`` and every detection /
    segmentation process stay free of it (and of the threads its Rust extension starts)."""
    import kornia.enhance
    import kornia.geometry.transform

    return kornia


# ----------------------------------------------------------------------------------------------------------------
# level -> argument (per-sample levels ``magnitude / 10`` and signs +1/-1, both [B])
# ----------------------------------------------------------------------------------------------------------------
def _no_arg(level: Tensor, signs: Tensor) -> Tensor:
    return torch.zeros_like(level)


def _signed(scale: float) -> Callable[[Tensor, Tensor], Tensor]:
    """``level * scale``, negated where the sign is -1 (timm's ``_randomly_negate``)."""
    return lambda level, signs: level * scale * signs


def _enhance(level: Tensor, signs: Tensor) -> Tensor:  # [0.1, 1.9]
    return level * 1.8 + 0.1


def _enhance_increasing(level: Tensor, signs: Tensor) -> Tensor:  # 1 +/- 0.9 level, at least 0.1
    return (1.0 + level * 0.9 * signs).clamp(min=0.1)


#: timm's ``LEVEL_TO_ARG``: op name -> ``fn(level [B], signs [B]) -> argument [B]`` in the units of :data:`NAME_TO_OP`
LEVEL_TO_ARG: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    'AutoContrast': _no_arg,
    'Equalize': _no_arg,
    'Invert': _no_arg,
    'Rotate': _signed(30.0),  # degrees, [-30, 30]
    'ShearX': _signed(0.3),  # shear factor, [-0.3, 0.3]
    'ShearY': _signed(0.3),
    'TranslateXRel': _signed(0.45),  # fraction of the image size, [-0.45, 0.45]
    'TranslateYRel': _signed(0.45),
    # bits kept, 4 down to 0 (0 bits: black, as PIL before it rejected 0) / 0 up to 4
    'PosterizeIncreasing': lambda level, signs: (4.0 - torch.floor(level * 4.0)).clamp(0.0, 8.0),
    'Posterize': lambda level, signs: torch.floor(level * 4.0).clamp(0.0, 8.0),
    # threshold in 8-bit units, 256 down to 0 / 0 up to 256
    'SolarizeIncreasing': lambda level, signs: 256.0 - torch.floor(level * 256.0).clamp(max=256.0),
    'Solarize': lambda level, signs: torch.floor(level * 256.0).clamp(max=256.0),
    # amount added below 128, in 8-bit units, 0 up to 110
    'SolarizeAdd': lambda level, signs: torch.floor(level * 110.0).clamp(max=128.0),
    'ColorIncreasing': _enhance_increasing,
    'ContrastIncreasing': _enhance_increasing,
    'BrightnessIncreasing': _enhance_increasing,
    'SharpnessIncreasing': _enhance_increasing,
    'Color': _enhance,
    'Contrast': _enhance,
    'Brightness': _enhance,
    'Sharpness': _enhance,
}


# ----------------------------------------------------------------------------------------------------------------
# the image ops
# ----------------------------------------------------------------------------------------------------------------
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


def _affine(
    like: Tensor,
    b: Union[Tensor, float] = 0.0,
    c: Union[Tensor, float] = 0.0,
    d: Union[Tensor, float] = 0.0,
    f: Union[Tensor, float] = 0.0,
) -> tuple[Tensor, ...]:
    """Per-sample PIL affine coefficients ``(1, b, c, d, 1, f)``."""
    one = torch.ones_like(like)
    b, c, d, f = (torch.as_tensor(v, dtype=like.dtype, device=like.device).expand_as(like) for v in (b, c, d, f))
    return one, b, c, d, one, f


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


_ImageOp = Callable[[Tensor, Tensor, Tensor], Tensor]

_BASE_OPS: dict[str, _ImageOp] = {
    'AutoContrast': lambda x, arg, fill: _auto_contrast(x),
    # kornia: PIL's ImageOps.equalize on the 8-bit levels int(255 x)
    'Equalize': lambda x, arg, fill: _kornia().enhance.equalize(x),
    'Invert': lambda x, arg, fill: _kornia().enhance.invert(x),
    'Rotate': _rotate,
    # kornia: keeps the top ``bits`` of the 8-bit level, as ImageOps.posterize
    'Posterize': lambda x, arg, fill: _kornia().enhance.posterize(x, arg.round().long()),
    # kornia: inverts x >= threshold, as ImageOps.solarize; threshold v -> v / 255
    'Solarize': lambda x, arg, fill: _kornia().enhance.solarize(x, arg / 255.0),
    'SolarizeAdd': lambda x, arg, fill: _solarize_add(x, arg),
    # ImageEnhance.Color blends with the luma (L) image: kornia's *_with_gray_subtraction variant, not
    # adjust_saturation, which scales HSV saturation (grey = max(R, G, B) at factor 0).
    'Color': lambda x, arg, fill: _kornia().enhance.adjust_saturation_with_gray_subtraction(x, arg),
    # ImageEnhance.Contrast blends with the image's mean luma: kornia's *_with_mean_subtraction variant,
    # not adjust_contrast, which multiplies the pixels. (PIL rounds that mean to an 8-bit level.)
    'Contrast': lambda x, arg, fill: _kornia().enhance.adjust_contrast_with_mean_subtraction(x, arg),
    # ImageEnhance.Brightness blends with black, i.e. multiplies: kornia's *_accumulative variant, not
    # adjust_brightness, which adds the factor.
    'Brightness': lambda x, arg, fill: _kornia().enhance.adjust_brightness_accumulative(x, arg),
    # kornia: blend with PIL's SMOOTH-filtered image, border pixels kept, as PIL
    'Sharpness': lambda x, arg, fill: _kornia().enhance.sharpness(x, arg),
    # PIL AFFINE (1, f, 0, 0, 1, 0)
    'ShearX': lambda x, arg, fill: _pil_affine(x, _affine(arg, b=arg), fill),
    # PIL AFFINE (1, 0, 0, f, 1, 0)
    'ShearY': lambda x, arg, fill: _pil_affine(x, _affine(arg, d=arg), fill),
    # PIL AFFINE (1, 0, pct * W, 0, 1, 0): content moves left for pct > 0
    'TranslateXRel': lambda x, arg, fill: _pil_affine(x, _affine(arg, c=arg * x.shape[-1]), fill),
    # PIL AFFINE (1, 0, 0, 0, 1, pct * H): content moves up for pct > 0
    'TranslateYRel': lambda x, arg, fill: _pil_affine(x, _affine(arg, f=arg * x.shape[-2]), fill),
}

#: op name -> ``fn(imgs [B, 3, H, W], arg [B], fill [3]) -> imgs``; an "Increasing" variant is the same image
#: op as its base, only its :data:`LEVEL_TO_ARG` mapping differs
NAME_TO_OP: dict[str, _ImageOp] = {
    **_BASE_OPS,
    **{
        f'{base}Increasing': _BASE_OPS[base]
        for base in ('Posterize', 'Solarize', 'Color', 'Contrast', 'Brightness', 'Sharpness')
    },
}


def _per_sample(value: Union[float, Tensor], imgs: Tensor) -> Tensor:
    """``value`` (a number or a ``[B]`` tensor) as a ``[B]`` tensor of the dtype and device of ``imgs``."""
    value = torch.as_tensor(value, dtype=imgs.dtype, device=imgs.device)
    if value.dim() == 0:
        value = value.expand(imgs.shape[0])
    if value.shape != (imgs.shape[0],):
        raise ValueError(f'expected a number or one value per sample ({imgs.shape[0]}), got shape {tuple(value.shape)}')
    return value


# ----------------------------------------------------------------------------------------------------------------
# the policy
# ----------------------------------------------------------------------------------------------------------------
class RandAugmentPlan(NamedTuple):
    """Per-sample draws of one :class:`RandAugment` call, each ``[B, num_ops]``."""

    ops: Tensor  #: long, index into ``RandAugment.op_names``
    applied: Tensor  #: bool, whether the drawn op is applied (probability ``prob``)
    magnitudes: Tensor  #: float, noisy magnitude clipped to ``[0, magnitude_max]``
    signs: Tensor  #: float, +1 or -1 (timm's ``_randomly_negate``), used by the signed ops only


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

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 9.0,
        magnitude_std: float = 0.5,
        magnitude_max: float = 10.0,
        prob: float = 0.5,
        increasing: bool = True,
        fill: Sequence[float] = (124 / 255, 116 / 255, 104 / 255),
    ) -> None:
        super().__init__()
        self.num_ops = check_int('num_ops', num_ops, 0)
        self.magnitude_max = check_range('magnitude_max', magnitude_max, 0.0, math.inf, low_open=True, high_open=True)
        self.magnitude = check_range('magnitude', magnitude, 0.0, math.inf, high_open=True)
        self.magnitude_std = check_range('magnitude_std', magnitude_std, 0.0, math.inf)
        self.prob = check_range('prob', prob, 0.0, 1.0)
        self.increasing = check_bool('increasing', increasing)
        try:
            fill = tuple(float(check_range('fill', v, 0.0, 1.0)) for v in fill)
        except TypeError:
            raise ValueError(f'fill must be a sequence of 3 numbers in [0, 1], got {fill!r}') from None
        if len(fill) != 3:
            raise ValueError(f'fill must be a sequence of 3 numbers in [0, 1], got {fill!r}')
        self.fill = fill
        self.register_buffer('fill_value', torch.tensor(fill), persistent=False)
        self.op_names: tuple[str, ...] = RAND_INCREASING_OPS if increasing else RAND_OPS

    def extra_repr(self) -> str:
        return (
            f'num_ops={self.num_ops}, magnitude={self.magnitude}, magnitude_std={self.magnitude_std}, '
            f'magnitude_max={self.magnitude_max}, prob={self.prob}, increasing={self.increasing}, '
            f'fill={tuple(round(v, 4) for v in self.fill)}'
        )

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
        if name not in LEVEL_TO_ARG:
            raise KeyError(f'unknown RandAugment op {name!r}')
        magnitudes = torch.as_tensor(magnitudes, dtype=torch.get_default_dtype())
        signs = torch.ones_like(magnitudes) if signs is None else torch.as_tensor(signs).to(magnitudes)
        return LEVEL_TO_ARG[name](magnitudes / LEVEL_DENOM, signs)

    def _check_name(self, name: str) -> None:
        if name not in self.op_names:
            raise ValueError(f'name must be one of {self.op_names}, got {name!r}')

    def apply_op_arg(self, imgs: Tensor, name: str, arg: Union[float, Tensor]) -> Tensor:
        """Apply op ``name`` to every image with its argument ``arg`` (a number or one per sample, in the units
        of :meth:`op_arg`); the result is clamped to ``[0, 1]``."""
        self._check_name(name)
        imgs = check_images(imgs, channels=3)
        return self._run_op_arg(imgs, name, _per_sample(arg, imgs))

    def apply_op(
        self, imgs: Tensor, name: str, magnitudes: Union[float, Tensor], signs: Union[float, Tensor, None] = None
    ) -> Tensor:
        """Apply op ``name`` at the given per-sample magnitudes (and signs, default +1)."""
        self._check_name(name)
        imgs = check_images(imgs, channels=3)
        magnitudes = _per_sample(magnitudes, imgs)
        signs = torch.ones_like(magnitudes) if signs is None else _per_sample(signs, imgs)
        return self._run_op(imgs, name, magnitudes, signs)

    def apply_plan(self, imgs: Tensor, plan: RandAugmentPlan) -> Tensor:
        """Apply a plan from :meth:`sample_plan`: slot by slot, each op once on the samples that drew it."""
        return self._run_plan(check_images(imgs, channels=3), plan)

    def forward(self, imgs: Tensor) -> Tensor:
        imgs = check_images(imgs, channels=3)
        return self._run_plan(imgs, self.sample_plan(imgs.shape[0], imgs.device))

    # the unchecked paths behind the public methods: ``imgs`` float B x 3 x H x W, per-sample values [B] of its dtype
    def _run_plan(self, imgs: Tensor, plan: RandAugmentPlan) -> Tensor:
        out = imgs.clone()
        num = len(self.op_names)
        for slot in range(plan.ops.shape[1]):
            key = torch.where(plan.applied[:, slot], plan.ops[:, slot], num)  # ``num``: not applied
            order = torch.argsort(key, stable=True)
            counts = torch.bincount(key, minlength=num + 1).tolist()  # the one host sync per slot
            start = 0
            for index, count in enumerate(counts[:num]):
                if count:
                    idx = order[start : start + count]
                    magnitudes = plan.magnitudes[idx, slot].to(dtype=imgs.dtype, device=imgs.device)
                    signs = plan.signs[idx, slot].to(dtype=imgs.dtype, device=imgs.device)
                    out[idx] = self._run_op(out[idx], self.op_names[index], magnitudes, signs)
                start += count
        return out

    def _run_op(self, imgs: Tensor, name: str, magnitudes: Tensor, signs: Tensor) -> Tensor:
        return self._run_op_arg(imgs, name, LEVEL_TO_ARG[name](magnitudes / LEVEL_DENOM, signs))

    def _run_op_arg(self, imgs: Tensor, name: str, arg: Tensor) -> Tensor:
        if imgs.shape[0] == 0:
            return imgs.clone()
        return NAME_TO_OP[name](imgs, arg, self.fill_value).clamp(0.0, 1.0)
