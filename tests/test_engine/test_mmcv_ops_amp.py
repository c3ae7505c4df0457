"""mmcv's NMS and RoIAlign under mixed precision (what Mask R-CNN's RPN and RoI heads
call): bf16 (and CPU fp16) inputs compute in fp32 and give what fp32 inputs give; fp32
inputs take mmcv's kernels unchanged; gradients reach the feature map in its dtype."""

import pytest
import torch
from mmcv.ops import RoIAlign, nms

import mmconvnext  # noqa: F401  (applies the patch)
from mmconvnext.engine import patch_mmcv_ops_for_autocast


def boxes_and_scores(n=50):
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(n, 2, generator=g) * 100
    return torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 30], 1), torch.rand(n, generator=g)


def test_patch_is_applied_once():
    from mmcv.ops.nms import NMSop

    assert patch_mmcv_ops_for_autocast() is True  # applied (here, or before by another test's run)
    forward = NMSop.forward
    assert patch_mmcv_ops_for_autocast() is True
    assert NMSop.forward is forward  # idempotent: not wrapped twice


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_nms_with_reduced_precision_scores(dtype):
    boxes, scores = boxes_and_scores()
    _, ref = nms(boxes, scores.to(dtype).float(), 0.5)
    dets, inds = nms(boxes, scores.to(dtype), 0.5)  # what the RPN handed it under autocast
    assert torch.equal(inds, ref) and dets.shape == (len(ref), 5)
    _, inds = nms(boxes.to(dtype), scores.to(dtype), 0.5)
    assert len(inds) > 0


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_roi_align_with_reduced_precision_features(dtype):
    layer = RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=2)
    feats = torch.randn(2, 8, 32, 32)
    rois = torch.tensor([[0, 4.0, 4.0, 60.0, 80.0], [1, 10.0, 0.0, 100.0, 50.0]])
    low = feats.to(dtype).requires_grad_()
    ref_in = low.detach().float().requires_grad_()
    out, ref = layer(low, rois), layer(ref_in, rois)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)
    weights = torch.randn(ref.shape)
    (out.float() * weights).sum().backward()
    (ref * weights).sum().backward()
    assert low.grad.dtype == dtype
    torch.testing.assert_close(low.grad.float(), ref_in.grad, rtol=1e-2, atol=1e-2)


def test_fp32_reaches_mmcv_unchanged(monkeypatch):
    import importlib

    roi_align_module = importlib.import_module('mmcv.ops.roi_align')
    seen = []
    original = roi_align_module.ext_module.roi_align_forward

    def spy(input, rois, output, *args, **kwargs):
        seen.append((input.dtype, rois.dtype, input.data_ptr()))
        return original(input, rois, output, *args, **kwargs)

    monkeypatch.setattr(roi_align_module.ext_module, 'roi_align_forward', spy, raising=False)
    feats = torch.randn(1, 4, 16, 16)
    RoIAlign((2, 2), 1.0)(feats, torch.tensor([[0, 1.0, 1.0, 8.0, 8.0]]))
    assert seen == [(torch.float32, torch.float32, feats.data_ptr())]  # the caller's tensor, no copy
