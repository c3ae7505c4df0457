"""The one-graph detector (``export.py --end2end``): the detection demo's Mask R-CNN-atto trained here on the
generated shapes (120 iterations, 128 images), and a Cascade Mask R-CNN, exported as one ONNX graph of standard
operators (NonMaxSuppression, RoiAlign, TopK, Gather). The graph in PyTorch computes what mmdet's ``predict`` computes,
exactly; on onnxruntime and OpenVINO every detection of PyTorch is matched within 1 px and 1e-3 in score, and
box/mask mAP through the config's own test loop stays within 0.3 points; ``run.py`` reproduces it in a process
where torch, mmcv and mmdet cannot be imported."""

import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
pytest.importorskip('openvino')
skimage_data = pytest.importorskip('skimage.data')

import cv2  # noqa: E402

from mmconvnext.apis import build_runner, set_data_root, shorten_schedule  # noqa: E402
from mmconvnext.datasets import make_shapes_coco  # noqa: E402
from mmconvnext.deploy import BACKENDS, DeployError, check_export, export_model, inference, load_model  # noqa: E402
from mmconvnext.deploy.accuracy import evaluate  # noqa: E402
from mmconvnext.deploy.detector_graph import DetectorGraph, match_detections  # noqa: E402
from mmconvnext.deploy.runtime import open_graph, read_export  # noqa: E402

from ..conftest import ROOT  # noqa: E402
from .test_deploy import _loader  # noqa: E402
from .test_standalone import run_without_torch  # noqa: E402

DET = 'configs/mask_rcnn_convnext_atto_shapes_demo.py'
ITERS = 120
#: mmdet's COCO metric, 0-1: 0.3 points
MAP_TOLERANCE = 0.003


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """(config, checkpoint, export directory, tmp): the demo detector after ITERS iterations, exported once."""
    tmp = tmp_path_factory.mktemp('end2end')
    cfg = Config.fromfile(ROOT / DET)
    set_data_root(cfg, make_shapes_coco(str(tmp / 'data'), num_train=128, num_val=16, size=64))
    shorten_schedule(cfg, ITERS)
    cfg.train_cfg.val_interval = 10 * ITERS  # no validation while training
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(tmp / 'work')
    build_runner(copy.deepcopy(cfg)).train()
    checkpoint = str(tmp / 'work' / f'iter_{ITERS}.pth')
    cfg = _loader(cfg)
    directory = str(tmp / 'export')
    export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino', end2end=True)
    return cfg, checkpoint, directory, tmp


def _batches(cfg: Config, model, work_dir):
    """(image, image_hw, data sample) of every test image, as the data preprocessor makes them."""
    runner_cfg = copy.deepcopy(cfg)
    runner_cfg.work_dir = str(work_dir)
    for data in build_runner(runner_cfg).test_dataloader:
        data = model.data_preprocessor(data, False)
        for image, sample in zip(data['inputs'], data['data_samples']):
            hw = torch.tensor(sample.metainfo['img_shape'][:2], dtype=torch.float32)
            yield image[None], hw, sample


def test_the_graph_is_one_of_standard_operators(trained):
    _, _, directory, _ = trained
    _, meta = read_export(directory)
    assert meta['task'] == 'detection_end2end' and list(meta['parts']) == ['detector']
    assert meta['parts']['detector']['inputs'] == ['input', 'image_hw']
    assert meta['postprocess']['mask_thr_binary'] == 0.5 and meta['preprocess']['size_divisor'] == 32
    assert osp.isfile(osp.join(directory, 'run.py')) and osp.isfile(osp.join(directory, 'detector.xml'))
    graph = onnx.load(osp.join(directory, 'detector.onnx')).graph
    ops = {n.op_type for n in graph.node}
    assert {'NonMaxSuppression', 'RoiAlign', 'TopK', 'Gather', 'Conv'} <= ops
    assert all(n.domain in ('', 'ai.onnx') for n in graph.node)  # no custom operator anywhere


def test_the_graph_in_pytorch_is_mmdets_predict(trained, tmp_path):
    """Boxes, scores and labels bit for bit, masks at RoI resolution as mmdet's heads compute them."""
    cfg, checkpoint, _, _ = trained
    model = load_model(copy.deepcopy(cfg), checkpoint)
    graph = DetectorGraph(model).eval()
    compared = 0
    with torch.no_grad():
        for image, hw, sample in _batches(cfg, model, tmp_path):
            boxes, scores, labels, masks = graph(image, hw)
            want = model.predict(image, [copy.deepcopy(sample)], rescale=False)[0].pred_instances
            assert torch.equal(boxes, want.bboxes) and torch.equal(scores, want.scores)
            assert torch.equal(labels, want.labels)
            compared += len(boxes)
    assert compared > 50  # the trained detector detects: the comparison has something to compare


def test_the_graph_runs_under_autocast(trained, tmp_path):
    """bf16 autocast (the mixed-precision evaluation): mmcv's NMS and RoIAlign, float32 kernels, take the
    half-precision features; the detections stay those of fp32 up to bf16's rounding."""
    cfg, checkpoint, _, _ = trained
    model = load_model(copy.deepcopy(cfg), checkpoint)
    graph = DetectorGraph(model).eval()
    matched, total = 0.0, 0
    with torch.no_grad():
        for image, hw, _ in _batches(cfg, model, tmp_path):
            want = graph(image, hw)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                got = graph(image, hw)
            assert all(torch.isfinite(g.float()).all() for g in got) and got[2].dtype == torch.int64
            found = match_detections(want, got, box_tol=2.0, score_tol=0.05)
            matched += found['matched'] * found['reference']
            total += found['reference']
    assert total > 50 and matched / total >= 0.8, (matched, total)


@pytest.mark.parametrize('backend', BACKENDS)
def test_every_detection_matches_pytorch(trained, backend, tmp_path):
    cfg, checkpoint, directory, _ = trained
    model = load_model(copy.deepcopy(cfg), checkpoint)
    graph = DetectorGraph(model).eval()
    runtime = open_graph(*read_export(directory), 'detector', backend, None)
    matched, total = 0.0, 0
    with torch.no_grad():
        for image, hw, _ in _batches(cfg, model, tmp_path):
            want = graph(image, hw)
            found = match_detections(want, runtime(image, hw))
            matched += found['matched'] * found['reference']
            total += found['reference']
            assert found['mask_diff'] < 1e-3
    assert total > 50 and matched / total >= 0.99, (matched, total)


def test_map_through_the_test_loop_equals_pytorchs(trained):
    cfg, checkpoint, directory, tmp = trained
    want, _ = evaluate(cfg, tmp / 'eval_torch', checkpoint)
    assert want['coco/bbox_mAP'] > 0.01 and want['coco/segm_mAP'] > 0.01  # it learned something
    for backend in BACKENDS:  # every PyTorch parameter NaN: the numbers come from the graph
        got, _ = evaluate(cfg, tmp / f'eval_{backend}', checkpoint, directory, backend)
        for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50'):
            assert abs(got[key] - want[key]) <= MAP_TOLERANCE, (backend, key, got[key], want[key])


def test_the_export_checks_itself(trained):
    cfg, checkpoint, directory, _ = trained
    lines = check_export(cfg, checkpoint, directory)
    assert len(lines) == 2 and all("100.0% of PyTorch's" in line for line in lines), lines


def test_run_py_without_torch_predicts_what_infer_predicts(trained, tmp_path):
    """Shapes images and a photograph of another size and aspect (resized to the test scale, padded): boxes,
    scores and labels as tools/deployment/infer.py writes them, masks pasted into the image as mmdet pastes."""
    _, _, directory, tmp = trained
    photo = tmp_path / 'chelsea.jpg'
    cv2.imwrite(str(photo), skimage_data.chelsea()[..., ::-1])  # 300x451
    images = [*sorted((tmp / 'data' / 'coco' / 'val2017').glob('*'))[:3], photo]
    samples = inference(directory, [str(p) for p in images], 'onnxruntime', out_dir=str(tmp_path / 'want'))
    want = json.loads((tmp_path / 'want' / 'predictions.json').read_text())
    assert sum(len(w['boxes']) for w in want) > 10
    for backend in BACKENDS:
        out = tmp_path / f'out_{backend}'
        got = run_without_torch(directory, images, out, backend)
        for g, w, sample, path in zip(got, want, samples, images):
            assert g['image'] == str(path) and len(g['boxes']) == len(w['boxes'])
            found = match_detections(
                (w['boxes'], w['scores'], [hash(x) for x in w['labels']]),
                (g['boxes'], g['scores'], [hash(x) for x in g['labels']]),
            )
            assert found['matched'] == 1.0, (path, found)
            masks = np.load(out / 'masks' / f'{path.stem}.npz')['masks']
            reference = sample.pred_instances.masks.numpy()
            assert masks.shape == reference.shape == (len(w['boxes']), *cv2.imread(str(path)).shape[:2])
            assert (masks != reference).mean() < 1e-3  # pixels flipped at the threshold by float rounding only


def test_end2end_refusals_are_named(trained, tmp_path):
    cfg, checkpoint, _, _ = trained
    with pytest.raises(DeployError, match='--end2end writes a two-stage detector .* nor with --fp16'):
        export_model(copy.deepcopy(cfg), checkpoint, str(tmp_path / 'a'), end2end=True, fp16=True)
    seg = Config.fromfile(ROOT / 'configs/upernet_convnext_atto_shapes_demo.py')
    with pytest.raises(DeployError, match="not a 'segmentation' export"):
        export_model(seg, None, str(tmp_path / 'b'), end2end=True)
    soft = copy.deepcopy(cfg)
    soft.model.test_cfg.rcnn.nms = dict(type='soft_nms', iou_threshold=0.5)
    with pytest.raises(DeployError, match="--end2end: NMS type 'soft_nms'"):
        export_model(soft, checkpoint, str(tmp_path / 'c'), end2end=True)


def test_cascade_mask_rcnn_as_one_graph(tmp_path):
    """Three box stages and three mask heads (the stages' class logits and mask probabilities averaged) in one
    graph: exactly mmdet's predict in PyTorch, matched on both runtimes at two image sizes."""
    from mmconvnext.analysis import fit_heads

    cfg = Config.fromfile(ROOT / 'configs/cascade_mask_rcnn_convnext_tiny_coco_3x.py')
    cfg.model.backbone.update(arch='atto', init_cfg=None)
    fit_heads(cfg.model, [40, 80, 160, 320], width=32)
    for head in [*cfg.model.roi_head.bbox_head, cfg.model.roi_head.mask_head]:
        head.num_classes = 4  # untrained scores near 1/5, above the 0.05 threshold: detections to compare
    torch.manual_seed(0)
    model = load_model(copy.deepcopy(cfg), None)
    checkpoint = str(tmp_path / 'cascade.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    export_model(
        copy.deepcopy(cfg), checkpoint, str(tmp_path / 'export'), fmt='openvino', shape=(96, 128), end2end=True
    )
    graph = DetectorGraph(model).eval()
    exported = read_export(str(tmp_path / 'export'))[1]
    from mmdet.structures import DetDataSample

    for shape, hw in (((96, 128), (90, 120)), ((64, 160), (64, 150))):
        image = torch.randn(1, 3, *shape)
        hw = torch.tensor(hw, dtype=torch.float32)
        size = tuple(int(s) for s in hw)
        meta = dict(img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0), batch_input_shape=shape, pad_shape=shape)
        sample = DetDataSample(metainfo=meta)
        with torch.no_grad():
            want = graph(image, hw)
            mmdet = model.predict(image, [sample], rescale=False)[0].pred_instances
        assert len(want[0]) > 5 and torch.equal(want[0], mmdet.bboxes) and torch.equal(want[2], mmdet.labels)
        for backend in BACKENDS:
            found = match_detections(
                want, open_graph(str(tmp_path / 'export'), exported, 'detector', backend, None)(image, hw)
            )
            assert found['matched'] >= 0.99 and found['mask_diff'] < 1e-3, (backend, shape, found)


def test_int8_one_graph_keeps_its_map(trained):
    """--int8 --end2end: the one graph quantized (onnxruntime's QDQ for onnxruntime, NNCF for OpenVINO) on 16
    test images; box and mask mAP within 1 point of PyTorch on both runtimes; the split export is refused."""
    cfg, checkpoint, _, tmp = trained
    directory = str(tmp / 'export_int8')
    meta = export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino', end2end=True, int8=True, calib=16)
    assert meta['task'] == 'detection_end2end' and meta['int8']['calibration_images'] == 16
    ops = [n.op_type for n in onnx.load(osp.join(directory, 'detector.onnx')).graph.node]
    assert ops.count('QuantizeLinear') > 10 and 'NonMaxSuppression' in ops and 'RoiAlign' in ops
    lines = check_export(cfg, checkpoint, directory)  # the int8 sanity bound, on a stored calibration image
    assert len(lines) == 2, lines
    want, _ = evaluate(cfg, tmp / 'eval_int8_torch', checkpoint)
    for backend in BACKENDS:
        got, _ = evaluate(cfg, tmp / f'eval_int8_{backend}', checkpoint, directory, backend)
        for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
            assert abs(got[key] - want[key]) <= 0.01, (backend, key, got[key], want[key])
    with pytest.raises(DeployError, match='--int8: a detector is quantized as one graph: add --end2end'):
        export_model(copy.deepcopy(cfg), checkpoint, str(tmp / 'split_int8'), int8=True, calib=4)
