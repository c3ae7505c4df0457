"""Deployment: every task's model exported to ONNX + OpenVINO IR and run on onnxruntime and OpenVINO
with the config's own pre/post-processing, checked against PyTorch: graph by graph (1e-4 relative), and through
the config's test loop with every PyTorch parameter set to NaN (so nothing learned can have run in PyTorch).
ConvNeXt-atto, 128x128 shapes datasets of 2-4 images. Skips with the reason where onnx/onnxruntime/openvino are
missing (``pip install "mmconvnext[deploy]"``; ``make test`` installs them)."""

import copy
import json
import sys

import pytest
import torch
from mmengine.config import Config

from ..conftest import ROOT, run_tool, run_tool_failing, tool_env

pytest.importorskip('onnx', reason='deployment extra not installed: pip install "mmconvnext[deploy]"')
pytest.importorskip('onnxruntime', reason='deployment extra not installed: pip install "mmconvnext[deploy]"')
pytest.importorskip('openvino', reason='deployment extra not installed: pip install "mmconvnext[deploy]"')

from mmconvnext.analysis import fit_heads  # noqa: E402
from mmconvnext.apis import set_data_root  # noqa: E402
from mmconvnext.deploy import (  # noqa: E402
    BACKENDS,
    DeployError,
    attach_backend,
    check_export,
    export_model,
    inference,
    load_model,
)
from mmconvnext.deploy.accuracy import evaluate  # noqa: E402
from mmconvnext.deploy.runtime import BackendGraph, open_graph, read_export  # noqa: E402

SEG = 'configs/upernet_convnext_atto_shapes_demo.py'
DET = 'configs/mask_rcnn_convnext_atto_shapes_demo.py'
CLS_OPTIONS = {
    'model.backbone.arch': 'atto',
    'model.num_classes': 4,
    'test_dataloader.dataset.pipeline.1.scale': (100000, 73),
    'test_dataloader.dataset.pipeline.2.crop_size': 64,
}


def _loader(cfg: Config) -> Config:
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False, batch_size=2)
    return cfg


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    from mmconvnext.datasets import make_shapes_coco, make_shapes_dataset, make_shapes_imagenet

    tmp = tmp_path_factory.mktemp('deploy')
    return {
        'tmp': tmp,
        'seg': make_shapes_dataset(str(tmp / 'data'), num_train=1, num_val=3),
        'det': make_shapes_coco(str(tmp / 'data'), num_train=1, num_val=2),
        'cls': make_shapes_imagenet(str(tmp / 'data'), num_train=4, num_val=4, size=64),
    }


def _config(task: str, data: dict) -> Config:
    if task == 'cls':
        cfg = Config.fromfile(ROOT / 'configs/convnext_tiny_in1k.py')
        cfg.merge_from_dict(CLS_OPTIONS)
    elif task == 'cascade':
        cfg = Config.fromfile(ROOT / 'configs/cascade_mask_rcnn_convnext_tiny_coco_3x.py')
        demo = Config.fromfile(ROOT / DET)
        cfg.model.backbone.update(arch='atto', init_cfg=None)
        fit_heads(cfg.model, [40, 80, 160, 320], width=32)  # 32-channel FPN and heads: the test's time
        for head in cfg.model.roi_head.bbox_head:
            head.num_classes = 4
        cfg.model.roi_head.mask_head.num_classes = 4
        cfg.test_dataloader.dataset = copy.deepcopy(demo.test_dataloader.dataset)
        cfg.test_evaluator = demo.test_evaluator
    else:
        cfg = Config.fromfile(ROOT / (DET if task == 'det' else SEG))
        if task == 'seg':  # this test's images are 128x128 (the demo's own are 64x64)
            cfg.model.data_preprocessor.size = (128, 128)
    if task == 'slide':  # sliding-window inference, 9 overlapping 64x64 windows over each 128x128 image
        cfg.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(32, 32))
    set_data_root(cfg, data[{'cascade': 'det', 'slide': 'seg'}.get(task, task)])
    if task in ('det', 'cascade'):  # keep every detection of the untrained heads, so there is something to compare
        rcnn = cfg.model.test_cfg.rcnn
        rcnn.score_thr = 0.0
    return _loader(cfg)


@pytest.fixture(scope='module')
def exported(data):
    """task -> (config, checkpoint, export dir); each exported once (ONNX + OpenVINO IR)."""
    out = {}
    for task in ('cls', 'seg', 'slide', 'det', 'cascade'):
        cfg = _config(task, data)
        torch.manual_seed(0)
        model = load_model(copy.deepcopy(cfg), None)  # building an mmdet detector edits its config's heads
        checkpoint = str(data['tmp'] / f'{task}.pth')
        torch.save({'state_dict': model.state_dict()}, checkpoint)
        directory = str(data['tmp'] / f'export_{task}')
        export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino')
        out[task] = (cfg, checkpoint, directory, model)
    return out


@pytest.mark.parametrize('task', ['cls', 'seg', 'det', 'cascade'])
def test_every_graph_matches_pytorch_on_both_runtimes(exported, task):
    cfg, checkpoint, directory, model = exported[task]
    lines = check_export(cfg, checkpoint, directory, backends=list(BACKENDS), model=model)
    meta = json.loads((ROOT / directory / 'deploy.json').read_text())
    assert len(lines) == 2 * len(meta['parts'])
    if task == 'cascade':
        assert {f'bbox_head{i}' for i in range(3)} <= set(meta['parts']) and 'mask_head2' in meta['parts']
    if task in ('det', 'cascade'):  # the detector graphs take any image size (test images keep their aspect)
        check_export(cfg, checkpoint, directory, backends=['onnxruntime'], shape=(96, 160), model=model)
    pre = meta['preprocess']
    assert pre['to_rgb'] is True and len(pre['mean']) == 3 and meta['input_shape'][0] == 1
    if task != 'cls':
        assert meta['classes'] and len(meta['classes']) >= 4


def test_backbone_alone_matches_pytorch_at_any_size(exported, data):
    """--backbone-only: the four feature maps, 1e-4 on both runtimes, exported with dynamic sizes and run at two."""
    cfg, checkpoint, _, model = exported['det']
    directory = str(data['tmp'] / 'export_backbone')
    meta = export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino', part='backbone', dynamic=True)
    assert meta['task'] == 'backbone' and meta['parts']['backbone']['outputs'] == [f'feat{i}' for i in range(4)]
    for shape in ((128, 128), (96, 160)):
        assert len(check_export(cfg, checkpoint, directory, backends=list(BACKENDS), shape=shape, model=model)) == 2


def _evaluate(cfg: Config, tmp, backend=None, directory=None, checkpoint=None) -> tuple:
    """The config's test loop: (metrics, predictions of the first batch); with ``backend``, the export runs and
    every PyTorch parameter is NaN."""
    return evaluate(cfg, tmp / f'work_{backend}', checkpoint, directory, backend)


@pytest.mark.parametrize('task', ['cls', 'seg', 'slide', 'det', 'cascade'])
def test_runtime_metrics_and_predictions_equal_pytorch(exported, data, task):
    cfg, checkpoint, directory, _ = exported[task]
    reference, ref_pred = _evaluate(cfg, data['tmp'], checkpoint=checkpoint)
    for backend in BACKENDS if task in ('seg', 'det') else ('onnxruntime',):
        metrics, pred = _evaluate(cfg, data['tmp'], backend, directory)
        assert metrics.keys() == reference.keys()
        for key, value in reference.items():
            assert abs(float(metrics[key]) - float(value)) <= (0.1 if task in ('det', 'cascade') else 1e-6), key
        for r, p in zip(ref_pred, pred):
            if task == 'cls':
                torch.testing.assert_close(p.pred_score, r.pred_score, atol=1e-5, rtol=1e-4)
            elif task in ('seg', 'slide'):
                logits = r.seg_logits.data
                assert (p.seg_logits.data - logits).abs().max() <= 1e-4 * logits.abs().max()
                assert (p.pred_sem_seg.data != r.pred_sem_seg.data).float().mean() < 1e-3
                assert task == 'seg' or list(p.seg_logits.shape[-2:]) == [128, 128]  # the windows stitched
            else:
                ri, pi = r.pred_instances, p.pred_instances
                assert len(ri) > 0 and len(pi) == len(ri)
                torch.testing.assert_close(pi.bboxes, ri.bboxes, atol=1e-2, rtol=1e-4)
                torch.testing.assert_close(pi.scores, ri.scores, atol=1e-4, rtol=1e-3)
                assert torch.equal(pi.labels, ri.labels)
                assert (pi.masks != ri.masks).float().mean() < 1e-3


def test_tools_export_infer_and_test_backend(exported, data):
    """The command-line path: export.py (its own parity check), test.py --backend metrics; and inference on image
    files (what infer.py runs), with drawings."""
    cfg, checkpoint, _, _ = exported['seg']
    tmp = data['tmp']
    config = tmp / 'seg_config.py'
    cfg.dump(str(config))
    out = tmp / 'cli_export'
    log = run_tool(
        [sys.executable, 'tools/deployment/export.py', str(config), checkpoint, '--format', 'onnx', '--out', str(out)],
        tool_env(),
    )
    assert 'segmentor' in log and 'max relative difference to PyTorch' in log
    images = sorted((ROOT / data['seg'] / 'images' / 'validation').glob('*.jpg'))[:2]
    vis = tmp / 'vis'
    samples = inference(str(out), [str(i) for i in images], 'openvino', str(vis))
    assert len(samples) == 2 and len(list(vis.glob('*.png'))) == 2
    records = json.loads((vis / 'predictions.json').read_text())
    assert sum(records[0]['pixels_per_class'].values()) == 128 * 128
    log = run_tool(
        [
            sys.executable,
            'tools/test.py',
            str(config),
            str(out),
            '--backend',
            'onnxruntime',
            '--work-dir',
            str(tmp / 'w'),
        ],
        tool_env(),
    )
    reference, _ = _evaluate(cfg, tmp, checkpoint=checkpoint)
    assert f'mIoU: {float(reference["mIoU"]):.4f}' in log, log[-2000:]


def test_fp16_keeps_layernorm_eps_and_grn_from_overflowing(data):
    """ConvNeXt V2 (GRN) at 512x512, where the stage-0 GRN's sum of squares over 128x128 positions exceeds
    float16's 65504: the fp16 export stays within fp16 tolerance of fp32, its LayerNorms keep eps 1e-6 on fp32 data."""
    import onnx

    from mmconvnext.models.layers import GRN

    cfg = _config('seg', data)
    cfg.model.backbone.update(arch='atto', use_grn=True, layer_scale_init_value=0.0)
    torch.manual_seed(0)
    model = load_model(cfg, None)
    with torch.no_grad():  # activations of a few units, as trained networks have
        for block in model.backbone.stages[0]:
            block.pointwise_conv1.weight.mul_(40.0)
    checkpoint = str(data['tmp'] / 'v2.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    sums = []
    hooks = [
        m.register_forward_pre_hook(lambda m, a: sums.append(a[0].float().pow(2).sum((1, 2)).max().item()))
        for m in model.backbone.modules()
        if isinstance(m, GRN)
    ]
    with torch.no_grad():
        model.backbone(torch.randn(1, 3, 512, 512))
    for hook in hooks:
        hook.remove()
    assert max(sums) > 65504, sums  # a float16 accumulation would overflow here
    directory = str(data['tmp'] / 'export_fp16')
    export_model(cfg, checkpoint, directory, shape=(512, 512), fp16=True, part='backbone')
    graph = onnx.shape_inference.infer_shapes(onnx.load(f'{directory}/backbone.onnx'))
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.graph.value_info, *graph.graph.input]}
    norms = [n for n in graph.graph.node if n.op_type == 'LayerNormalization']
    assert norms
    for node in norms:
        eps = next(a.f for a in node.attribute if a.name == 'epsilon')
        assert abs(eps - 1e-6) < 1e-12 and types[node.input[0]] == onnx.TensorProto.FLOAT, node.name
    assert any(types.get(n.input[0]) == onnx.TensorProto.FLOAT16 for n in graph.graph.node if n.op_type == 'Conv')
    lines = check_export(cfg, checkpoint, directory, backends=list(BACKENDS), model=model)
    assert len(lines) == 2


def test_bad_input_is_named(exported, data, tmp_path):
    cfg, checkpoint, directory, _ = exported['seg']
    with pytest.raises(DeployError, match='--format must be one of'):
        export_model(cfg, checkpoint, str(tmp_path / 'x'), fmt='tflite')
    with pytest.raises(DeployError, match=r'multiple of 32 \(e.g. --shape 128 224\)'):
        export_model(cfg, checkpoint, str(tmp_path / 'x'), shape=(100, 200))
    other = copy.deepcopy(cfg)
    other.model.backbone.arch = 'femto'
    other.model.decode_head.in_channels = [48, 96, 192, 384]
    other.model.auxiliary_head.in_channels = 192
    with pytest.raises(DeployError, match=r'seg.pth: does not fit the model .*shape mismatches'):
        export_model(other, checkpoint, str(tmp_path / 'x'))
    with pytest.raises(DeployError, match='exported from a different model'):
        attach_backend(load_model(other, None), directory, 'onnxruntime', model_cfg=other.model)
    _, _, cls_dir, _ = exported['cls']  # exported at 64x64
    with pytest.raises(DeployError, match=r'exported for inputs of shape \[-1, 3, 64, 64\].*--shape 96 96'):
        open_graph(*read_export(cls_dir), 'classifier', 'onnxruntime', None)(torch.zeros(1, 3, 96, 96))
    bare = copy.deepcopy(cfg)
    bare.test_dataloader.dataset.pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    bare.model.test_cfg = dict(mode='whole')
    bare.model.data_preprocessor.size = None
    with pytest.raises(DeployError, match='fixes no input size .* give --shape H W'):
        export_model(bare, checkpoint, str(tmp_path / 'x'))
    with pytest.raises(DeployError, match='no deploy.json beside it'):
        inference(str(tmp_path), [], 'onnxruntime')
    err = run_tool_failing(
        [sys.executable, 'tools/test.py', SEG, str(tmp_path), '--backend', 'openvino'], tool_env(), timeout=120
    )
    assert 'no deploy.json beside it' in err


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_runtime_threads_default_to_pytorchs(tmp_path, backend):
    """Without ``threads`` a graph runs on PyTorch's thread count (OMP_NUM_THREADS), not on
    every core as both runtimes would by themselves; an explicit count wins."""
    path = str(tmp_path / 'conv.onnx')
    torch.onnx.export(torch.nn.Conv2d(3, 4, 3), (torch.randn(1, 3, 8, 8),), path, dynamo=False)

    def threads_of(graph: BackendGraph) -> int:
        if backend == 'onnxruntime':
            return int(graph._session.get_session_options().intra_op_num_threads)
        return int(graph._compiled.get_property('INFERENCE_NUM_THREADS'))

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        graph = BackendGraph(path, backend, [[-1, 4, 6, 6]])
        assert threads_of(graph) == 1
        assert graph(torch.randn(1, 3, 8, 8))[0].shape == (1, 4, 6, 6)
        assert threads_of(BackendGraph(path, backend, [[-1, 4, 6, 6]], threads=2)) == 2
    finally:
        torch.set_num_threads(before)
