"""Mask2Former (semantic, mmseg) exports as one graph of standard ONNX operators (mmcv's deformable attention
on its PyTorch path: GridSample): the per-class logits of mmseg's predict, equal to PyTorch on onnxruntime and
OpenVINO at the export size and, exported with --dynamic, at other sizes (not multiples of 32 either)."""

import copy

import onnx
import pytest
import torch
from mmengine.config import Config

pytest.importorskip('onnxruntime')

from mmconvnext.deploy import available_backends, check_export, export_model, load_model  # noqa: E402

from ..conftest import ROOT  # noqa: E402
from ..derived_configs import mask2former_det_tiny, mask2former_seg_tiny  # noqa: E402


def test_semantic_mask2former_exports_and_matches_pytorch_at_other_sizes(tmp_path):
    config = tmp_path / 'm2f.py'
    config.write_text(mask2former_seg_tiny(str(ROOT / 'configs' / 'mask2former_convnext_tiny_ade20k.py')))
    cfg = Config.fromfile(str(config))
    torch.manual_seed(0)
    model = load_model(copy.deepcopy(cfg), None)
    checkpoint = str(tmp_path / 'm2f.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    directory = str(tmp_path / 'export')
    meta = export_model(copy.deepcopy(cfg), checkpoint, directory, shape=(64, 64), dynamic=True)
    assert meta['task'] == 'segmentation' and meta['dynamic']
    graph = onnx.load(f'{directory}/segmentor.onnx').graph
    assert all(op.domain in ('', 'ai.onnx') for op in graph.node)  # no custom operator
    assert 'GridSample' in {n.op_type for n in graph.node}  # the deformable attention, in the graph
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim][1] == 150  # one logit map a class
    for size in ((64, 64), (96, 64), (80, 112)):
        lines = check_export(cfg, checkpoint, directory, backends=available_backends(), shape=size, model=model)
        assert len(lines) == len(available_backends()) and all(f'[1, 3, {size[0]}, {size[1]}]' in x for x in lines)


def test_mmdet_mask2former_is_refused_with_the_reason(tmp_path):
    from mmconvnext.deploy import DeployError

    config = tmp_path / 'm2f_pan.py'
    config.write_text(
        mask2former_det_tiny(str(ROOT / 'configs' / 'mask2former_convnext_tiny_coco_panoptic.py'), 'data/coco/', True)
    )
    with pytest.raises(DeployError, match=r'Mask2Former: export handles .*panoptic / instance models are not exported'):
        export_model(Config.fromfile(str(config)), None, str(tmp_path / 'export'), shape=(64, 64))
