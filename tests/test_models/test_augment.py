"""Batch augmentations of the ConvNeXt recipe (mmconvnext/models/classifiers/rand_augment.py, random_erasing.py,
mixup_cutmix.py), each tested against its definition (timm's RandAugment / RandomErasing / Mixup semantics, PIL's
op definitions), and against timm itself when the peers are installed (``.peers/timm``)."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from mmconvnext.models.classifiers import MixupCutmix, RandAugment, RandomErasing, mixup_cutmix, one_hot_smooth
from mmconvnext.models.classifiers.rand_augment import LEVEL_TO_ARG, NAME_TO_OP, RAND_INCREASING_OPS, RAND_OPS

ROOT = Path(__file__).resolve().parents[2]
TIMM_DATA = ROOT / '.peers' / 'timm' / 'data'
FILL = torch.tensor([124 / 255, 116 / 255, 104 / 255])


def grid_image(*shape: int) -> torch.Tensor:
    """Random float image on the 8-bit grid (values k / 255)."""
    return torch.randint(0, 256, shape).float() / 255


def levels(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().long()


# ------------------------------------------------------------------------------------------------------------
# RandAugment: the per-sample plan
# ------------------------------------------------------------------------------------------------------------
def test_plan_op_frequencies_are_uniform():
    ra = RandAugment()
    plan = ra.sample_plan(20000)
    assert plan.ops.shape == plan.applied.shape == plan.magnitudes.shape == plan.signs.shape == (20000, 2)
    counts = torch.bincount(plan.ops.flatten(), minlength=15).double()
    assert counts.numel() == 15 == len(ra.op_names)
    expected = plan.ops.numel() / 15
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 36.12, chi2  # chi-square, 14 dof, p = 0.001
    assert (counts / plan.ops.numel() - 1 / 15).abs().max() < 0.006
    # drawn with replacement: the same op twice in one sample happens (probability 1/15)
    assert abs((plan.ops[:, 0] == plan.ops[:, 1]).double().mean().item() - 1 / 15) < 0.01


def test_plan_applied_fraction_and_signs():
    plan = RandAugment(prob=0.5).sample_plan(20000)
    assert abs(plan.applied.double().mean().item() - 0.5) < 0.01
    assert set(plan.signs.unique().tolist()) == {-1.0, 1.0}
    assert abs(plan.signs.mean().item()) < 0.02
    assert abs(RandAugment(prob=0.2).sample_plan(20000).applied.double().mean().item() - 0.2) < 0.01
    assert not RandAugment(prob=0.0).sample_plan(1000).applied.any()
    assert RandAugment(prob=1.0).sample_plan(1000).applied.all()


def test_plan_magnitude_noise():
    mags = RandAugment(magnitude=5.0, magnitude_std=0.5).sample_plan(20000).magnitudes
    assert abs(mags.mean().item() - 5.0) < 0.01
    assert abs(mags.std().item() - 0.5) < 0.01
    assert mags.min() >= 0 and mags.max() <= 10
    assert (RandAugment(magnitude=9.0, magnitude_std=0.0).sample_plan(100).magnitudes == 9.0).all()
    uniform = RandAugment(magnitude=8.0, magnitude_std=math.inf).sample_plan(20000).magnitudes  # timm: mstd > 100
    assert abs(uniform.mean().item() - 4.0) < 0.05 and uniform.min() >= 0 and uniform.max() <= 8


def test_plan_magnitude_clipping():
    mags = RandAugment(magnitude=9.8, magnitude_std=0.5).sample_plan(20000).magnitudes
    assert mags.max() == 10.0 and mags.min() >= 0
    # everything above 10 is clipped to exactly 10: P(N(9.8, 0.5) > 10) = P(Z > 0.4) = 0.3446
    assert abs((mags == 10.0).double().mean().item() - 0.3446) < 0.015
    assert RandAugment(magnitude=9.0, magnitude_max=9.0).sample_plan(1000).magnitudes.max() == 9.0
    assert RandAugment(magnitude=0.2, magnitude_std=1.0).sample_plan(1000).magnitudes.min() == 0.0


# ------------------------------------------------------------------------------------------------------------
# RandAugment: level -> argument mappings (timm, level = magnitude / 10)
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'name, magnitude, sign, expected',
    [
        ('Rotate', 9.0, 1.0, 27.0),
        ('Rotate', 9.0, -1.0, -27.0),
        ('Rotate', 10.0, 1.0, 30.0),
        ('ShearX', 9.0, 1.0, 0.27),
        ('ShearY', 9.0, -1.0, -0.27),
        ('TranslateXRel', 9.0, 1.0, 0.405),
        ('TranslateYRel', 10.0, -1.0, -0.45),
        ('PosterizeIncreasing', 0.0, 1.0, 4.0),
        ('PosterizeIncreasing', 9.0, 1.0, 1.0),
        ('PosterizeIncreasing', 10.0, 1.0, 0.0),
        ('SolarizeIncreasing', 0.0, 1.0, 256.0),
        ('SolarizeIncreasing', 9.0, 1.0, 26.0),  # 256 - int(230.4)
        ('SolarizeIncreasing', 10.0, 1.0, 0.0),
        ('SolarizeAdd', 0.0, 1.0, 0.0),
        ('SolarizeAdd', 9.0, 1.0, 99.0),
        ('SolarizeAdd', 10.0, 1.0, 110.0),
        ('ColorIncreasing', 9.0, 1.0, 1.81),
        ('ColorIncreasing', 9.0, -1.0, 0.19),
        ('ContrastIncreasing', 0.0, -1.0, 1.0),
        ('BrightnessIncreasing', 5.0, -1.0, 0.55),
        ('SharpnessIncreasing', 10.0, -1.0, 0.1),
        ('Posterize', 9.0, 1.0, 3.0),
        ('Solarize', 9.0, 1.0, 230.0),
        ('Color', 9.0, 1.0, 1.72),
        ('Brightness', 0.0, 1.0, 0.1),
    ],
)
def test_op_arg_mappings(name, magnitude, sign, expected):
    arg = RandAugment.op_arg(name, torch.tensor([magnitude]), torch.tensor([sign]))
    assert arg.item() == pytest.approx(expected, abs=1e-5)


# ------------------------------------------------------------------------------------------------------------
# RandAugment: every op against its PIL definition, on tiny known images
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def ra() -> RandAugment:
    return RandAugment()


def test_invert(ra):
    x = grid_image(2, 3, 5, 6)
    assert torch.equal(ra.apply_op(x, 'Invert', 9.0), 1 - x)


def test_brightness_multiplies(ra):
    # PIL's Brightness blends with black: clamp(f * x), not kornia's additive adjust_brightness
    x = torch.rand(2, 3, 5, 6)
    f = torch.tensor([0.3, 1.7])
    out = ra.apply_op_arg(x, 'BrightnessIncreasing', f)
    torch.testing.assert_close(out, (f.view(-1, 1, 1, 1) * x).clamp(0, 1))


def test_color_blends_with_luma(ra):
    x = torch.rand(2, 3, 5, 6)
    f = torch.tensor([0.2, 1.8])
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    expected = (grey + f.view(-1, 1, 1, 1) * (x - grey)).clamp(0, 1)
    torch.testing.assert_close(ra.apply_op_arg(x, 'ColorIncreasing', f), expected)


def test_contrast_blends_with_mean_luma(ra):
    x = torch.rand(2, 3, 5, 6)
    f = torch.tensor([0.2, 1.8])
    mean = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).mean((-2, -1)).view(-1, 1, 1, 1)
    expected = (mean + f.view(-1, 1, 1, 1) * (x - mean)).clamp(0, 1)
    torch.testing.assert_close(ra.apply_op_arg(x, 'ContrastIncreasing', f), expected)


def test_sharpness_blends_with_pil_smooth_filter(ra):
    x = torch.rand(2, 3, 6, 7)
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13
    smooth = torch.nn.functional.conv2d(x.flatten(0, 1).unsqueeze(1), kernel.view(1, 1, 3, 3)).view(2, 3, 4, 5)
    f = torch.tensor([0.0, 2.0])
    out = ra.apply_op_arg(x, 'SharpnessIncreasing', f)
    torch.testing.assert_close(out[0, :, 1:-1, 1:-1], smooth[0])
    torch.testing.assert_close(out[1, :, 1:-1, 1:-1], (2 * x[1, :, 1:-1, 1:-1] - smooth[1]).clamp(0, 1))
    border = torch.ones(6, 7, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    torch.testing.assert_close(out[..., border], x[..., border])  # PIL keeps the border pixels


def test_solarize_threshold(ra):
    x = grid_image(4, 3, 8, 8)
    thresholds = torch.tensor([0.0, 26.0, 128.0, 256.0])  # 8-bit units, as timm's SolarizeIncreasing
    out = ra.apply_op_arg(x, 'SolarizeIncreasing', thresholds)
    v = levels(x)
    expected = torch.where(v < thresholds.view(-1, 1, 1, 1), v, 255 - v)
    assert torch.equal(levels(out), expected)
    assert torch.equal(out[3], x[3]) and torch.allclose(out[0], 1 - x[0])


def test_posterize_bits(ra):
    x = grid_image(5, 3, 8, 8)
    bits = torch.tensor([0, 1, 2, 3, 4])
    out = ra.apply_op_arg(x, 'PosterizeIncreasing', bits.float())
    masks = (~(2 ** (8 - bits) - 1)) & 255
    assert torch.equal(levels(out), levels(x) & masks.view(-1, 1, 1, 1))
    torch.testing.assert_close(out, levels(out).float() / 255)


def test_solarize_add(ra):
    x = grid_image(3, 3, 8, 8)
    add = torch.tensor([0.0, 50.0, 110.0])
    out = ra.apply_op_arg(x, 'SolarizeAdd', add)
    v = levels(x)
    expected = torch.where(v < 128, (v + add.long().view(-1, 1, 1, 1)).clamp(max=255), v)
    assert torch.equal(levels(out), expected)


@pytest.mark.parametrize('size', [8, 9])
def test_rotate_quarter_turns_match_rot90(ra, size):
    x = torch.rand(3, 3, size, size)
    out = ra.apply_op_arg(x, 'Rotate', torch.tensor([90.0, -90.0, 180.0]))  # PIL: counter-clockwise
    torch.testing.assert_close(out[0], torch.rot90(x[0], 1, (-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], torch.rot90(x[1], -1, (-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[2], torch.rot90(x[2], 2, (-2, -1)), atol=1e-5, rtol=0)


def test_rotate_moves_marked_pixel_and_fills_corners(ra):
    x = torch.zeros(1, 3, 9, 9)
    x[..., 4, 7] = 1.0  # right of the centre
    out = ra.apply_op_arg(x, 'Rotate', 90.0)
    assert out[0, :, 1, 4].eq(1).all()  # counter-clockwise: right of centre -> above it
    assert out[0, :, 4, 7].abs().max() < 1e-6
    out = ra.apply_op_arg(torch.rand(1, 3, 9, 9), 'Rotate', 45.0)
    torch.testing.assert_close(out[0, :, 0, 0], FILL)  # the corners come from outside the image


def test_translate_x_shifts_and_fills(ra):
    x = torch.rand(2, 3, 6, 32)
    out = ra.apply_op_arg(x, 'TranslateXRel', torch.tensor([4 / 32, -4 / 32]))
    # PIL AFFINE (1, 0, 4, 0, 1, 0): output column j reads input column j + 4
    torch.testing.assert_close(out[0, ..., :28], x[0, ..., 4:])
    torch.testing.assert_close(out[1, ..., 4:], x[1, ..., :28])
    assert torch.equal(out[0, ..., 28:], FILL.view(3, 1, 1).expand(3, 6, 4))
    assert torch.equal(out[1, ..., :4], FILL.view(3, 1, 1).expand(3, 6, 4))


def test_translate_y_shifts_and_fills(ra):
    x = torch.rand(1, 3, 16, 5)
    out = ra.apply_op_arg(x, 'TranslateYRel', 0.25)
    torch.testing.assert_close(out[0, :, :12], x[0, :, 4:])
    assert torch.equal(out[0, :, 12:], FILL.view(3, 1, 1).expand(3, 4, 5))


@pytest.mark.parametrize('factor', [2.0, -2.0])
def test_shear_x_pil_affine(ra, factor):
    # PIL AFFINE (1, f, 0, 0, 1, 0) with pixel centres at i + 0.5: row y moves by f * (y + 0.5) = +-(2y + 1)
    height, width = 4, 16
    x = torch.rand(1, 3, height, width)
    out = ra.apply_op_arg(x, 'ShearX', factor)
    for y in range(height):
        shift = int(factor * (y + 0.5))
        for col in range(width):
            src = col + shift
            expected = x[0, :, y, src] if 0 <= src < width else FILL
            torch.testing.assert_close(out[0, :, y, col], expected, atol=1e-5, rtol=0)


def test_shear_y_pil_affine(ra):
    x = torch.rand(1, 3, 16, 4)
    out = ra.apply_op_arg(x, 'ShearY', 2.0)
    expected = ra.apply_op_arg(x.transpose(-1, -2), 'ShearX', 2.0).transpose(-1, -2)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_auto_contrast_stretches_each_channel(ra):
    x = torch.rand(2, 3, 5, 6) * 0.4 + 0.3
    x[1, 2] = 0.5  # a flat channel is left alone (PIL)
    out = ra.apply_op(x, 'AutoContrast', 9.0)
    low, high = x.amin((-2, -1), keepdim=True), x.amax((-2, -1), keepdim=True)
    torch.testing.assert_close(out[0], ((x - low) / (high - low))[0])
    torch.testing.assert_close(out[0].amin((-2, -1)), torch.zeros(3))
    torch.testing.assert_close(out[0].amax((-2, -1)), torch.ones(3))
    assert torch.equal(out[1, 2], x[1, 2])


def test_equalize_flattens_histogram(ra):
    # levels crowded into [0.3, 0.5]; big enough that PIL's integer LUT step (pixels // 255) is nearly exact
    x = (torch.randint(77, 128, (1, 3, 128, 128)).float()) / 255
    out = ra.apply_op(x, 'Equalize', 9.0)
    for c in range(3):
        q = torch.quantile(out[0, c].flatten(), torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9]))
        assert (q - torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9])).abs().max() < 0.06, q
    assert out.min() == 0 and out.max() > 0.95


@pytest.mark.parametrize(
    'name',
    [
        'ColorIncreasing',
        'ContrastIncreasing',
        'BrightnessIncreasing',
        'SharpnessIncreasing',
        'Rotate',
        'ShearX',
        'ShearY',
        'TranslateXRel',
        'TranslateYRel',
        'SolarizeIncreasing',
        'SolarizeAdd',
    ],
)
def test_magnitude_zero_is_identity(ra, name):
    # (PosterizeIncreasing keeps 4 bits at magnitude 0, as in timm, so it is not in this list)
    x = grid_image(2, 3, 8, 8)
    torch.testing.assert_close(ra.apply_op(x, name, 0.0, torch.tensor([1.0, -1.0])), x, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------------------------
# RandAugment: the batched forward
# ------------------------------------------------------------------------------------------------------------
def test_apply_plan_equals_per_sample_ops():
    ra = RandAugment(prob=0.8)
    x = torch.rand(16, 3, 16, 16)
    plan = ra.sample_plan(16)
    assert len({tuple(r) for r in plan.ops.tolist()}) > 1  # each sample draws its own ops
    out = ra.apply_plan(x, plan)
    for b in range(16):
        ref = x[b : b + 1]
        for slot in range(2):
            if plan.applied[b, slot]:
                name = ra.op_names[plan.ops[b, slot]]
                ref = ra.apply_op(ref, name, plan.magnitudes[b, slot : slot + 1], plan.signs[b, slot : slot + 1])
        torch.testing.assert_close(out[b : b + 1], ref, atol=1e-5, rtol=0)


def test_forward_shape_range_reproducibility():
    ra = RandAugment(prob=1.0)
    x = torch.rand(16, 3, 24, 20)
    before = x.clone()
    torch.manual_seed(3)
    out = ra(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before)
    assert len({tuple(o.flatten().tolist()) for o in out}) > 8  # per-sample draws
    torch.manual_seed(3)
    assert torch.equal(ra(x), out)
    assert torch.equal(RandAugment(prob=0.0)(x), x) and torch.equal(RandAugment(num_ops=0)(x), x)
    assert RandAugment(increasing=False).op_names == RAND_OPS
    assert RandAugment().op_names == RAND_INCREASING_OPS


def test_op_tables_cover_both_op_lists():
    names = set(RAND_INCREASING_OPS) | set(RAND_OPS)
    assert set(LEVEL_TO_ARG) == names and set(NAME_TO_OP) == names
    assert NAME_TO_OP['SolarizeIncreasing'] is NAME_TO_OP['Solarize']  # only the level mapping differs
    with pytest.raises(KeyError, match='unknown RandAugment op'):
        RandAugment.op_arg('Cutout', 5.0)
    # a module like any other: .to() moves its fill (no helper may shadow nn.Module's private methods)
    assert RandAugment().to(torch.float64).fill_value.dtype == torch.float64


@pytest.mark.parametrize(
    'bad', [torch.rand(2, 1, 8, 8), torch.rand(3, 8, 8), torch.zeros(2, 3, 8, 8, dtype=torch.long)]
)
def test_rand_augment_rejects_bad_images(bad):
    with pytest.raises(ValueError, match='imgs'):
        RandAugment()(bad)


# ------------------------------------------------------------------------------------------------------------
# RandomErasing
# ------------------------------------------------------------------------------------------------------------
def erased_mask(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (out != x).any(1)  # [B, H, W]


def constant_images(*shape: int) -> torch.Tensor:
    # not 0: CPU randn yields exact zeros now and then (Box-Muller with radius 0), never 7
    return torch.full(shape, 7.0)


def test_erasing_fraction_matches_prob():
    x = constant_images(4000, 1, 8, 8)
    out = RandomErasing(prob=0.25)(x)
    erased = erased_mask(out, x).flatten(1).any(1)
    assert abs(erased.double().mean().item() - 0.25) < 0.025
    assert torch.equal(RandomErasing(prob=0.0)(x), x)


def test_erased_boxes_area_and_aspect():
    height = width = 32
    x = constant_images(2000, 1, height, width)
    eraser = RandomErasing(prob=1.0)
    mask = erased_mask(eraser(x), x)
    erased = mask.flatten(1).any(1)
    assert erased.double().mean() > 0.99
    mask = mask[erased]
    h = mask.any(2).sum(1).double()
    w = mask.any(1).sum(1).double()
    assert torch.equal(mask.flatten(1).sum(1).double(), h * w)  # a single filled rectangle
    assert (h < height).all() and (w < width).all()
    area = height * width
    # h = round(sqrt(A r)), w = round(sqrt(A / r)): each within 0.5 of the real-valued side
    assert ((h + 0.5) * (w + 0.5) >= eraser.min_area * area).all()
    assert ((h - 0.5) * (w - 0.5) <= eraser.max_area * area).all()
    assert ((h + 0.5) / (w - 0.5) >= eraser.min_aspect).all()
    assert ((h - 0.5) / (w + 0.5) <= eraser.max_aspect).all()
    frac = h * w / area  # spans the range, not one size
    assert frac.min() < 0.05 and frac.max() > 0.28
    tops = mask.any(2).int().argmax(1)
    assert tops.min() == 0 and tops.max() > height // 2


def test_erasing_fills_standard_normal_and_leaves_the_rest():
    x = torch.rand(600, 3, 16, 16) + 5.0  # far from the noise
    before = x.clone()
    out = RandomErasing(prob=0.5)(x)
    assert torch.equal(x, before)
    boxed = (out != x).any(1, keepdim=True).expand_as(x)
    erased = boxed.flatten(1).any(1)
    assert torch.equal(out[~erased], x[~erased])  # samples not erased: untouched
    assert torch.equal(out[~boxed], x[~boxed])  # outside the boxes: untouched
    noise = out[boxed]
    assert noise.numel() > 20000
    assert abs(noise.mean().item()) < 0.03 and abs(noise.std().item() - 1) < 0.03
    # every channel of the box is replaced, per pixel
    assert torch.equal(boxed[:, 0], (out != x).all(1))


def test_erasing_sample_boxes_and_max_count():
    eraser = RandomErasing(prob=1.0, max_count=3)
    boxes = eraser.sample_boxes(3000, 32, 32)
    per_sample = boxes.valid.sum(1)
    assert per_sample.min() >= 1 and per_sample.max() == 3
    assert abs(per_sample.double().mean().item() - 2.0) < 0.1  # count uniform in 1..3
    ok = boxes.valid
    assert (boxes.top[ok] + boxes.height[ok] <= 32).all() and (boxes.left[ok] + boxes.width[ok] <= 32).all()
    assert (boxes.top[ok] >= 0).all() and (boxes.left[ok] >= 0).all()
    mask = RandomErasing.boxes_to_mask(boxes, 32, 32)
    assert mask.shape == (3000, 1, 32, 32)
    b = int(ok[:, 0].nonzero()[0])
    t, le, h, w = (int(v[b, 0]) for v in (boxes.top, boxes.left, boxes.height, boxes.width))
    assert mask[b, 0, t : t + h, le : le + w].all()


# ------------------------------------------------------------------------------------------------------------
# MixupCutmix
# ------------------------------------------------------------------------------------------------------------
def test_one_hot_smooth():
    y = one_hot_smooth(torch.tensor([2, 0]), 4, 0.1)
    expected = torch.full((2, 4), 0.025)
    expected[0, 2] = expected[1, 0] = 0.925
    torch.testing.assert_close(y, expected)
    assert torch.equal(one_hot_smooth(torch.tensor([1]), 3), torch.tensor([[0.0, 1.0, 0.0]]))


def test_targets_are_distributions():
    mix = MixupCutmix(10)
    for seed in range(20):
        torch.manual_seed(seed)
        x, labels = torch.rand(6, 3, 8, 8), torch.randint(0, 10, (6,))
        _, targets = mix(x, labels)
        assert targets.shape == (6, 10) and targets.dtype == torch.float32
        torch.testing.assert_close(targets.sum(1), torch.ones(6))
        assert (targets >= 0.1 / 10 - 1e-7).all()


def test_mixup_blend_is_exact():
    mix = MixupCutmix(5, switch_prob=0.0)  # both alphas > 0: mixup always
    x, labels = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    before = x.clone()
    out, targets = mix(x, labels)
    lam, use_cutmix, box = mix.last_params
    assert not use_cutmix and box is None and 0 < lam < 1
    assert torch.equal(out, lam * x + (1 - lam) * x.flip(0))
    assert torch.equal(x, before)
    expected = lam * one_hot_smooth(labels, 5, 0.1) + (1 - lam) * one_hot_smooth(labels.flip(0), 5, 0.1)
    torch.testing.assert_close(targets, expected)


def test_cutmix_pastes_a_box_of_area_one_minus_lam():
    mix = MixupCutmix(5, switch_prob=1.0)
    for seed in range(10):
        torch.manual_seed(seed)
        x, labels = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
        before = x.clone()
        out, targets = mix(x, labels)
        lam, use_cutmix, (yl, yh, xl, xh) = mix.last_params
        assert use_cutmix and torch.equal(x, before)
        same = (out == x).all(1)
        pasted = (out == x.flip(0)).all(1)
        assert (same | pasted).all()  # every pixel comes from x or x.flip(0)
        assert torch.equal(pasted, pasted[:1].expand_as(pasted))  # one box for the whole batch
        assert pasted[0].double().mean().item() == pytest.approx(1 - lam)
        assert pasted[0, yl:yh, xl:xh].all() and pasted[0].sum() == (yh - yl) * (xh - xl)
        expected = lam * one_hot_smooth(labels, 5, 0.1) + (1 - lam) * one_hot_smooth(labels.flip(0), 5, 0.1)
        torch.testing.assert_close(targets, expected)


def test_switch_and_mix_probabilities():
    mix = MixupCutmix(10, switch_prob=0.5)
    draws = [mix.sample_params() for _ in range(2000)]
    assert abs(sum(c for _, c in draws) / 2000 - 0.5) < 0.05
    lams = torch.tensor([lam for lam, c in draws if not c])
    var = 0.8 * 0.8 / (1.6**2 * 2.6)  # Beta(0.8, 0.8)
    assert abs(lams.mean().item() - 0.5) < 0.04 and abs(lams.var().item() - var) < 0.015
    assert (
        abs(sum(c for _, c in (MixupCutmix(10, switch_prob=0.2).sample_params() for _ in range(2000))) / 2000 - 0.2)
        < 0.05
    )
    half = [MixupCutmix(10, prob=0.5).sample_params() for _ in range(2000)]
    assert abs(sum(lam == 1.0 for lam, _ in half) / 2000 - 0.5) < 0.05
    assert not any(c for _, c in (MixupCutmix(10, cutmix_alpha=0.0).sample_params() for _ in range(200)))
    assert all(c for _, c in (MixupCutmix(10, mixup_alpha=0.0).sample_params() for _ in range(200)))
    assert all(p == (1.0, False) for p in (MixupCutmix(10, 0.0, 0.0).sample_params() for _ in range(20)))


def test_prob_zero_only_smooths():
    x, labels = torch.rand(4, 3, 8, 8), torch.tensor([1, 2, 3, 0])
    out, targets = MixupCutmix(4, prob=0.0)(x, labels)
    assert torch.equal(out, x) and out is not x
    torch.testing.assert_close(targets, one_hot_smooth(labels, 4, 0.1))


def test_odd_and_single_batches():
    mix = MixupCutmix(3, switch_prob=0.0)
    x = torch.rand(1, 3, 8, 8)
    out, targets = mix(x, torch.tensor([2]))
    torch.testing.assert_close(out, x)  # a single sample pairs with itself
    torch.testing.assert_close(targets, one_hot_smooth(torch.tensor([2]), 3, 0.1))
    out, targets = mix(torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 2]))
    assert out.shape == (3, 3, 8, 8) and targets.shape == (3, 3)
    with pytest.raises(ValueError, match='imgs'):
        mix(torch.rand(0, 3, 8, 8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match='labels'):
        mix(torch.rand(2, 3, 8, 8), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='integer tensor of class indices'):
        mix(torch.rand(2, 3, 8, 8), torch.tensor([0.0, 1.0]))


def test_cutmix_minmax_box_sizes():
    mix = MixupCutmix(3, switch_prob=1.0, cutmix_minmax=(0.25, 0.5))
    for _ in range(50):
        lam, use_cutmix = mix.sample_params()
        (yl, yh, xl, xh), lam = mix.cutmix_box(32, 40, lam)
        assert 8 <= yh - yl < 16 and 10 <= xh - xl < 20
        assert 0 <= yl and yh <= 32 and 0 <= xl and xh <= 40
        assert lam == pytest.approx(1 - (yh - yl) * (xh - xl) / (32 * 40))


def test_cutmix_box_is_clipped_and_lam_corrected():
    mix = MixupCutmix(3, switch_prob=1.0)
    uncorrected = MixupCutmix(3, switch_prob=1.0, correct_lam=False)
    for _ in range(200):
        (yl, yh, xl, xh), lam = mix.cutmix_box(16, 16, 0.3)
        assert 0 <= yl <= yh <= 16 and 0 <= xl <= xh <= 16
        assert yh - yl <= int(16 * math.sqrt(0.7)) and xh - xl <= int(16 * math.sqrt(0.7))
        assert lam == pytest.approx(1 - (yh - yl) * (xh - xl) / 256)
        assert uncorrected.cutmix_box(16, 16, 0.3)[1] == 0.3


# ------------------------------------------------------------------------------------------------------------
# argument checks
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'factory, arg',
    [
        (lambda: RandAugment(num_ops=-1), 'num_ops'),
        (lambda: RandAugment(num_ops=1.5), 'num_ops'),
        (lambda: RandAugment(magnitude=-1), 'magnitude'),
        (lambda: RandAugment(magnitude_std=-0.5), 'magnitude_std'),
        (lambda: RandAugment(magnitude_max=0), 'magnitude_max'),
        (lambda: RandAugment(prob=1.5), 'prob'),
        (lambda: RandAugment(increasing=1), 'increasing'),
        (lambda: RandAugment(fill=(0.5, 0.5)), 'fill'),
        (lambda: RandAugment(fill=(0.5, 0.5, 2.0)), 'fill'),
        (lambda: RandomErasing(prob=-0.1), 'prob'),
        (lambda: RandomErasing(min_area=0.0), 'min_area'),
        (lambda: RandomErasing(min_area=0.5, max_area=0.4), 'max_area'),
        (lambda: RandomErasing(min_aspect=0.0), 'min_aspect'),
        (lambda: RandomErasing(min_aspect=2.0, max_aspect=1.0), 'max_aspect'),
        (lambda: RandomErasing(max_count=0), 'max_count'),
        (lambda: MixupCutmix(0), 'num_classes'),
        (lambda: MixupCutmix(10, mixup_alpha=-1.0), 'mixup_alpha'),
        (lambda: MixupCutmix(10, cutmix_alpha=-0.1), 'cutmix_alpha'),
        (lambda: MixupCutmix(10, switch_prob=1.1), 'switch_prob'),
        (lambda: MixupCutmix(10, prob=-0.5), 'prob'),
        (lambda: MixupCutmix(10, label_smoothing=1.0), 'label_smoothing'),
        (lambda: MixupCutmix(10, cutmix_minmax=(0.5, 0.2)), 'cutmix_minmax'),
        (lambda: MixupCutmix(10, cutmix_minmax=(0.5,)), 'cutmix_minmax'),
        (lambda: MixupCutmix(10, correct_lam=None), 'correct_lam'),
        (lambda: one_hot_smooth(torch.tensor([0]), 3, smoothing=-0.1), 'smoothing'),
        (lambda: one_hot_smooth(torch.tensor([0.5]), 3), 'labels'),
        (lambda: RandAugment().apply_op(torch.rand(1, 3, 8, 8), 'Cutout', 5.0), 'name'),
    ],
)
def test_bad_arguments_raise_value_error(factory, arg):
    with pytest.raises(ValueError, match=arg):
        factory()


# ------------------------------------------------------------------------------------------------------------
# timm reference (peers installed into .peers; timm's data modules are loaded by path, so neither timm's
# package nor torchvision is imported)
# ------------------------------------------------------------------------------------------------------------
def load_timm(name: str):
    path = TIMM_DATA / f'{name}.py'
    if not path.is_file():
        pytest.skip(f'timm peer not installed (make peers); looked for {path}')
    if name == 'auto_augment':
        pytest.importorskip('PIL', reason="timm's RandAugment ops need Pillow")
    spec = importlib.util.spec_from_file_location(f'_timm_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ALL_OPS = sorted(set(RAND_INCREASING_OPS) | set(RAND_OPS))


@pytest.mark.parametrize('name', ALL_OPS)
def test_timm_level_to_arg(name):
    aa = load_timm('auto_augment')
    level_fn = aa.LEVEL_TO_ARG[name]
    if level_fn is None:
        return
    for magnitude in (0.0, 1.7, 3.0, 5.5, 9.0, 9.49, 10.0):
        theirs = level_fn(magnitude, {})[0]  # a random sign for the signed ops
        ours = {RandAugment.op_arg(name, torch.tensor([magnitude]), torch.tensor([s])).item() for s in (1.0, -1.0)}
        assert any(abs(theirs - o) < 1e-4 for o in ours), (magnitude, theirs, ours)


@pytest.mark.parametrize('name', ALL_OPS)
def test_timm_ops_on_8bit_images(name):
    import numpy as np
    from PIL import Image

    aa = load_timm('auto_augment')
    ra = RandAugment(increasing=name in RAND_INCREASING_OPS)
    kwargs = dict(fillcolor=(124, 116, 104), resample=Image.BILINEAR)
    for height, width in ((24, 40), (17, 13)):
        u8 = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
        pil = Image.fromarray(u8.permute(1, 2, 0).numpy())
        x = u8.float().div(255).unsqueeze(0)
        for magnitude in (0.0, 3.3, 7.0, 9.5, 10.0):
            for sign in (1.0, -1.0):
                arg = RandAugment.op_arg(name, magnitude, sign).item()
                pil_arg = int(arg) if 'Posterize' in name or 'Solarize' in name else arg
                if 'Posterize' in name and pil_arg == 0:
                    continue  # recent Pillow (13 here) rejects 0 bits; older Pillow, like us, gives black
                if aa.LEVEL_TO_ARG[name] is None:
                    ref = aa.NAME_TO_OP[name](pil, **kwargs)
                else:
                    ref = aa.NAME_TO_OP[name](pil, pil_arg, **kwargs)
                ref = torch.from_numpy(np.asarray(ref).copy()).permute(2, 0, 1).float().div(255)
                out = ra.apply_op_arg(x, name, arg)[0]
                err = (out - ref).abs().max().item() * 255
                assert err < 2.0, (name, magnitude, sign, err)  # PIL rounds to 8-bit levels


def test_timm_mixup_and_cutmix(monkeypatch):
    import numpy as np

    mixup = load_timm('mixup')

    def fake_randint(low, high=None, size=None):  # the same "draw" for numpy and for us
        return low + (high - 1 - low) * 3 // 4

    monkeypatch.setattr(np.random, 'randint', fake_randint)
    monkeypatch.setattr(mixup_cutmix, '_randint', fake_randint)
    x, labels = torch.rand(6, 3, 20, 24), torch.tensor([0, 3, 1, 4, 2, 2])
    for use_cutmix in (False, True):
        for minmax in (None, (0.3, 0.7)):
            for lam in (0.15, 0.5, 0.93):
                theirs = mixup.Mixup(
                    mixup_alpha=0.8, cutmix_alpha=1.0, cutmix_minmax=minmax, label_smoothing=0.1, num_classes=5
                )
                theirs._params_per_batch = lambda lam=lam, c=use_cutmix: (lam, c)
                ref_x, ref_y = theirs(x.clone(), labels)
                ours = MixupCutmix(5, cutmix_minmax=minmax)
                ours.sample_params = lambda lam=lam, c=use_cutmix: (lam, c)
                out, targets = ours(x, labels)
                torch.testing.assert_close(out, ref_x, atol=1e-6, rtol=0)
                torch.testing.assert_close(targets, ref_y)


def test_timm_random_erasing_statistics():
    import random

    random_erasing = load_timm('random_erasing')
    random.seed(0)
    x = constant_images(3000, 1, 16, 16)
    ref = random_erasing.RandomErasing(probability=0.25, mode='pixel', device='cpu')(x.clone())
    out = RandomErasing(prob=0.25)(x)
    ref_mask, mask = (ref != x).flatten(1), (out != x).flatten(1)
    assert abs(ref_mask.any(1).double().mean() - mask.any(1).double().mean()) < 0.04
    ref_area = ref_mask[ref_mask.any(1)].double().mean()
    area = mask[mask.any(1)].double().mean()
    assert abs(ref_area - area) < 0.02, (ref_area, area)
