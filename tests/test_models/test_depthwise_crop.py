"""The depthwise conv of a map smaller than its kernel's reach runs with the kernel cropped
to what can touch the map (``compute_path.depthwise_conv``): the same outputs and gradients
as the whole kernel, in fp32 and under autocast, and never in a traced graph."""

import pytest
import torch
import torch.nn as nn

from mmconvnext.models import ConvNeXt
from mmconvnext.models.layers import compute_path

from ..conftest import TINY_ARCH


def conv(channels=6, kernel=7, dilation=1):
    layer = nn.Conv2d(channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation, groups=channels)
    nn.init.normal_(layer.weight)
    nn.init.normal_(layer.bias)
    return layer


def outputs_and_grads(fn, layer, x, weights):
    x = x.clone().requires_grad_()
    y = fn(x)
    (y * weights).sum().backward()
    grads = [x.grad, layer.weight.grad.clone(), layer.bias.grad.clone()]
    layer.zero_grad()
    return [y.detach()] + grads


@pytest.mark.parametrize(
    'kernel,size,reach,dilation',
    [
        (7, (1, 1), (0, 0), 1),
        (7, (2, 2), (1, 1), 1),
        (7, (3, 3), (2, 2), 1),
        (7, (1, 3), (0, 2), 1),
        (7, (1, 6), (0, 3), 1),
        (5, (2, 9), (1, 2), 1),
        # dilated (a backbone's output_stride): taps d apart, so fewer of them reach the map
        (7, (4, 4), (1, 1), 2),
        (7, (5, 9), (2, 3), 2),
        (7, (3, 16), (0, 3), 4),
    ],
)
def test_cropped_kernel_equals_the_whole_one(kernel, size, reach, dilation):
    layer = conv(kernel=kernel, dilation=dilation)
    x = torch.randn(3, 6, *size)
    assert compute_path._cropped_reach(layer, x) == reach  # the crop is taken, so the test compares two paths
    weights = torch.randn(3, 6, *size)
    cropped = outputs_and_grads(lambda t: compute_path.depthwise_conv(layer, t), layer, x, weights)
    whole = outputs_and_grads(layer, layer, x, weights)
    for a, b in zip(cropped, whole):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # the weights outside the reach multiply padding only: zero gradient from both
    assert cropped[2].abs().sum() > 0
    (ph, pw), (rh, rw) = (kernel // 2, kernel // 2), reach
    outside = torch.ones_like(cropped[2], dtype=torch.bool)
    outside[:, :, ph - rh : ph + rh + 1, pw - rw : pw + rw + 1] = False
    assert cropped[2][outside].abs().max() == 0


@pytest.mark.parametrize('size,reach', [((4, 4), None), ((7, 7), None), ((4, 2), (3, 1))])
def test_maps_the_kernel_reaches_whole_keep_it(size, reach):
    assert compute_path._cropped_reach(conv(), torch.zeros(1, 6, *size)) == reach
    # dilation 2: the whole kernel reaches 6 pixels, so a 7x7 map keeps it and a 4x7 one crops rows
    assert compute_path._cropped_reach(conv(dilation=2), torch.zeros(1, 6, 7, 7)) is None
    assert compute_path._cropped_reach(conv(dilation=2), torch.zeros(1, 6, 4, 7)) == (1, 3)


def test_other_convs_are_left_alone():
    x = torch.zeros(1, 6, 2, 2)
    for layer in (
        nn.Conv2d(6, 6, 7, padding=3),  # not depthwise
        nn.Conv2d(6, 6, 7, padding=2, groups=6),  # not "same" padding
        nn.Conv2d(6, 6, 7, padding=3, groups=6, dilation=1, stride=2),
        nn.Conv2d(6, 6, 7, padding=3, groups=6, padding_mode='reflect'),
        nn.Conv2d(6, 6, 7, padding='same', groups=6),
        nn.Conv2d(6, 6, 6, padding=3, groups=6),  # even kernel
        nn.Conv2d(6, 6, 7, padding=3, groups=6, dilation=2),  # dilated, not "same" padding
    ):
        assert compute_path._cropped_reach(layer, x) is None, layer


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_under_autocast(dtype):
    layer = conv(channels=8)
    x = torch.randn(4, 8, 2, 2)
    weights = torch.randn(4, 8, 2, 2)
    with torch.autocast('cpu', dtype=dtype):
        cropped = outputs_and_grads(lambda t: compute_path.depthwise_conv(layer, t), layer, x, weights)
        whole = outputs_and_grads(layer, layer, x, weights)
    assert cropped[0].dtype == whole[0].dtype == dtype  # autocast applies as it does to the layer
    assert layer.weight.dtype == torch.float32 and cropped[2].dtype == torch.float32
    for a, b in zip(cropped, whole):
        torch.testing.assert_close(a.float(), b.float(), rtol=2e-2, atol=2e-2)


def test_traced_graphs_keep_the_whole_kernel():
    """A graph traced on a 32-pixel input (2x2 and 1x1 maps in the last stages) computes
    the backbone for a 64-pixel one too: the crop is not baked into it."""
    model = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, out_indices=(3,), gap_before_final_norm=False)
    model.eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.randn(1, 3, 32, 32), check_trace=False)
        x = torch.randn(1, 3, 64, 64)
        torch.testing.assert_close(traced(x)[0], model(x)[0], rtol=1e-4, atol=1e-5)


def test_backbone_outputs_and_gradients_equal_without_the_crop(monkeypatch):
    """A whole backbone on a 32-pixel input (maps down to 1x1): the same outputs and
    parameter gradients with the crop as with every kernel whole."""
    torch.manual_seed(0)
    model = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, out_indices=(0, 1, 2, 3), onednn_cpu=False)
    x = torch.randn(2, 3, 32, 32)
    results = []
    for crop in (True, False):
        if not crop:
            monkeypatch.setattr(compute_path, '_cropped_reach', lambda conv, x: None)
        model.zero_grad()
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        results.append([o.detach() for o in outs] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
