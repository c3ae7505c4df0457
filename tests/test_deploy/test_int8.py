"""INT8 exports (--int8): a classifier trained here on real digit scans (the learning guard's recipe, 4 epochs),
quantized with calibration images from its own test pipeline (onnxruntime's quantizer for the ONNX graph,
NNCF for the OpenVINO IR), keeps its held-out top-1 within 1 point of PyTorch's on onnxruntime and OpenVINO;
the graph is int8 around its convolutions and matrix products with LayerNorm left float; the export's parity
check runs on the stored calibration images; bad combinations are refused by name."""

import copy
import os.path as osp

import pytest

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmconvnext.analysis.learning_guard import guard_config, make_digits_imagenet  # noqa: E402
from mmconvnext.apis import build_runner  # noqa: E402
from mmconvnext.deploy import DeployError, available_backends, check_export, export_model  # noqa: E402
from mmconvnext.deploy.accuracy import evaluate  # noqa: E402

from ..conftest import ROOT  # noqa: E402

EPOCHS = 4


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('int8')
    data = make_digits_imagenet(str(tmp / 'digits'))
    cfg = guard_config(str(ROOT), data, str(tmp / 'work'), seed=0, epochs=EPOCHS)
    cfg.test_dataloader, cfg.test_evaluator = cfg.val_dataloader, cfg.val_evaluator
    build_runner(copy.deepcopy(cfg)).train()
    return cfg, str(tmp / 'work' / f'epoch_{EPOCHS}.pth'), tmp


def top1(cfg, checkpoint, tmp, directory=None, backend=None) -> float:
    return float(evaluate(cfg, tmp / f'eval_{backend}', checkpoint, directory, backend)[0]['accuracy/top1'])


def test_int8_classifier_keeps_its_accuracy_on_both_runtimes(trained):
    cfg, checkpoint, tmp = trained
    directory = str(tmp / 'export_int8')
    meta = export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino', int8=True, calib=32)
    assert (
        meta['int8']['calibration_images'] == 32 and meta['parts']['classifier']['fp32_onnx'] == 'classifier.fp32.onnx'
    )
    assert osp.isfile(osp.join(directory, 'classifier.fp32.onnx'))
    assert meta['int8']['method']['openvino'].startswith('NNCF')  # OpenVINO's own quantizer made the IR
    ir = open(osp.join(directory, 'classifier.xml')).read()
    assert ir.count('type="FakeQuantize"') > 10 and ir.count('type="MVN"') > 0  # LayerNorm (MVN) stays float
    graph = onnx.load(osp.join(directory, 'classifier.onnx')).graph
    ops = [n.op_type for n in graph.node]
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert ops.count('QuantizeLinear') > 10 and ops.count('DequantizeLinear') > 10 and len(int8_weights) > 10
    produced_by = {out: n.op_type for n in graph.node for out in n.output}
    norms = [n for n in graph.node if n.op_type == 'LayerNormalization']
    assert norms and all(produced_by.get(n.input[0]) != 'DequantizeLinear' for n in norms)  # LayerNorm stays float
    lines = check_export(cfg, checkpoint, directory)  # on the stored calibration images, within TOLERANCE_INT8
    assert len(lines) == len(available_backends()) and all('[8, 3, 32, 32]' in line for line in lines)

    reference = top1(cfg, checkpoint, tmp)
    assert reference > 70.0  # it learned: the comparison means something
    for backend in available_backends():
        got = top1(cfg, checkpoint, tmp, directory, backend)
        assert abs(got - reference) <= 1.0, (backend, got, reference)


def test_int8_refusals_are_named(trained, tmp_path):
    cfg, checkpoint, _ = trained
    with pytest.raises(DeployError, match='--int8 and --fp16 exclude each other'):
        export_model(copy.deepcopy(cfg), checkpoint, str(tmp_path / 'a'), int8=True, fp16=True)
    with pytest.raises(DeployError, match='--calib must be >= 1'):
        export_model(copy.deepcopy(cfg), checkpoint, str(tmp_path / 'b'), int8=True, calib=0)
    broken = copy.deepcopy(cfg)
    broken.test_dataloader.dataset.data_root = str(tmp_path / 'nowhere')
    with pytest.raises(DeployError, match='--int8: cannot read the calibration images'):
        export_model(broken, checkpoint, str(tmp_path / 'c'), int8=True)


def test_int8_upernet_keeps_its_miou_on_both_runtimes(tmp_path):
    """The segmentation demo's UperNet-atto trained here on the generated shapes (150 iterations), quantized on
    32 of its test images: mIoU within 1 point of PyTorch's on onnxruntime and OpenVINO."""
    from mmengine.config import Config

    from mmconvnext.apis import set_data_root, shorten_schedule
    from mmconvnext.datasets import make_shapes_dataset

    cfg = Config.fromfile(ROOT / 'configs/upernet_convnext_atto_shapes_demo.py')
    set_data_root(cfg, make_shapes_dataset(str(tmp_path / 'data'), num_train=64, num_val=32, size=64))
    shorten_schedule(cfg, 150)
    cfg.work_dir, cfg.randomness, cfg.test_dataloader = str(tmp_path / 'work'), dict(seed=0), cfg.val_dataloader
    build_runner(copy.deepcopy(cfg)).train()
    checkpoint = str(tmp_path / 'work' / 'iter_150.pth')
    directory = str(tmp_path / 'export_int8')
    export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino', int8=True, calib=32)

    def miou(backend=None) -> float:
        return float(evaluate(cfg, tmp_path / f'eval_{backend}', checkpoint, directory, backend)[0]['mIoU'])

    reference = miou()
    assert reference > 22.0  # beyond the background alone (about 19 after 60 iterations): it learned shapes
    for backend in available_backends():
        assert abs(miou(backend) - reference) <= 1.0, backend


def test_the_accuracy_tool_reports_every_path(trained):
    """tools/deployment/accuracy.py on the trained classifier: PyTorch's top-1 as the test loop computes it, the
    fp32 exports equal to it, the int8 ones within 1 point, and a results file with the table."""
    import json
    import sys

    from ..conftest import run_tool, tool_env

    cfg, checkpoint, tmp = trained
    config = str(tmp / 'digits_config.py')
    cfg.dump(config)
    results = tmp / 'accuracy.json'
    cmd = [sys.executable, 'tools/deployment/accuracy.py', config, checkpoint, '--calib', '16', '--name', 'digits']
    log = run_tool(cmd + ['--results', str(results), '--work-dir', str(tmp / 'accuracy')], tool_env())
    assert '| `digits` | accuracy/top1 |' in log
    data = json.loads(results.read_text())
    found = data['measured']
    reference = found['pytorch']['accuracy/top1']
    assert reference == top1(cfg, checkpoint, tmp)
    for backend in available_backends():
        assert found[backend]['accuracy/top1'] == reference
        assert abs(found[f'{backend} int8']['accuracy/top1'] - reference) <= 1.0
    assert data['columns'][:3] == ['model', 'metric (points)', 'pytorch'] and data['rows'][0][-1] == '-'
