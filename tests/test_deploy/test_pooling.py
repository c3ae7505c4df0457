"""The export's matrix form of adaptive average pooling (UperNet's pyramid pooling, which torch's TorchScript ONNX
exporter refuses when the bins do not divide the input) equals ``nn.AdaptiveAvgPool2d``, in fp32 and under
autocast. Needs no deployment extra."""

import pytest
import torch
from torch import nn

from mmconvnext.deploy.export import _AdaptiveAvgPoolMatrix, _exportable_pooling


@pytest.mark.parametrize('size', [(16, 16), (13, 21), (4, 4), (6, 9)])
@pytest.mark.parametrize('out', [1, 2, 3, 6, (2, 5)])
def test_matrix_pooling_equals_adaptive_avg_pool(size, out):
    x = torch.randn(2, 8, *size)
    torch.testing.assert_close(_AdaptiveAvgPoolMatrix(out)(x), nn.AdaptiveAvgPool2d(out)(x), atol=1e-6, rtol=1e-5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = _AdaptiveAvgPoolMatrix(out)(x)
        want = nn.AdaptiveAvgPool2d(out)(x)
    torch.testing.assert_close(got.float(), want.float(), atol=3e-2, rtol=3e-2)


def test_exportable_pooling_swaps_only_grid_pools_and_restores_them():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sequential(nn.AdaptiveAvgPool2d(3)))
    grid = model[1][0]
    with _exportable_pooling(model):
        assert isinstance(model[0], nn.AdaptiveAvgPool2d) and isinstance(model[1][0], _AdaptiveAvgPoolMatrix)
    assert model[1][0] is grid
