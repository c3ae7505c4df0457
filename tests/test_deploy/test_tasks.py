"""The deploy task adapters: one per task, found by model type, each naming its graphs; a new task is one
registered class; the one export-error measure; the export loads its checkpoint once and ``inference`` reads
``deploy.json`` once."""

import copy
import json

import pytest
import torch
from mmengine.config import Config

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmconvnext.datasets import make_shapes_imagenet  # noqa: E402
from mmconvnext.deploy import (  # noqa: E402
    TASKS,
    DeployError,
    DeployTask,
    check_export,
    export_model,
    get_task,
    inference,
    load_model,
    relative_error,
    runtime,  # noqa: E402
    task_of,
)
from mmconvnext.deploy import export as export_module  # noqa: E402
from mmconvnext.deploy import tasks as tasks_module  # noqa: E402

from ..conftest import ROOT  # noqa: E402

CLS_OPTIONS = {
    'model.backbone.arch': 'atto',
    'model.num_classes': 4,
    'test_dataloader.dataset.pipeline.1.scale': (100000, 73),
    'test_dataloader.dataset.pipeline.2.crop_size': 64,
}


def test_one_adapter_per_task_and_the_model_types_they_take():
    assert set(TASKS) == {'classification', 'segmentation', 'detection', 'detection_end2end', 'backbone'}
    assert all(isinstance(t, DeployTask) and t.name == n for n, t in TASKS.items())
    cfg = Config.fromfile(ROOT / 'configs/convnext_tiny_in1k.py')
    cfg.merge_from_dict(CLS_OPTIONS)
    assert task_of(load_model(cfg, None)) == 'classification'
    with pytest.raises(DeployError, match='Linear: export handles'):
        task_of(torch.nn.Linear(2, 2))
    with pytest.raises(DeployError, match=r"unknown deploy task 'depth'.*backbone"):
        get_task('depth')


def test_a_new_task_is_one_registered_class(monkeypatch):
    monkeypatch.setattr(tasks_module, 'TASKS', dict(TASKS))

    @tasks_module.register
    class Doubler(DeployTask):
        name = 'doubler'

        def matches(self, model):
            return isinstance(model, torch.nn.Identity)

        def parts(self, model, image, image_axes, dynamic):
            return [tasks_module.image_part('doubled', model, image, image_axes, 'out')]

    assert tasks_module.task_of(torch.nn.Identity()) == 'doubler'
    with pytest.raises(ValueError, match='taken'):
        tasks_module.register(Doubler)


def test_the_export_error_is_one_relative_measure():
    ref = (torch.tensor([1.0, -4.0]), torch.zeros(2))
    assert relative_error(ref, [torch.tensor([1.0, -3.0]).numpy(), torch.tensor([0.0, 0.5])]) == 0.5
    assert relative_error(ref[0], ref[0].to(torch.bfloat16)) == 0.0
    with pytest.raises(DeployError, match=r'output shape \(3,\) differs'):
        relative_error(ref[0], torch.zeros(3))
    with pytest.raises(DeployError, match='1 outputs where PyTorch gives 2'):
        relative_error(ref, [torch.zeros(2)])


def test_the_checkpoint_is_loaded_once_and_deploy_json_read_once(tmp_path, monkeypatch):
    cfg = Config.fromfile(ROOT / 'configs/convnext_tiny_in1k.py')
    cfg.merge_from_dict(CLS_OPTIONS)
    make_shapes_imagenet(str(tmp_path / 'data'), num_train=4, num_val=4, size=64)
    torch.manual_seed(0)
    model = load_model(copy.deepcopy(cfg), None)
    checkpoint = str(tmp_path / 'cls.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)

    def refuse(*args, **kwargs):
        raise AssertionError('loaded the checkpoint again')

    monkeypatch.setattr(export_module, 'load_model', refuse)
    monkeypatch.setattr('mmconvnext.deploy.check.load_model', refuse)
    out = str(tmp_path / 'export')
    export_model(cfg, checkpoint, out, model=model)  # what tools/deployment/export.py does with its one load
    assert check_export(cfg, checkpoint, out, backends=['onnxruntime'], model=model)

    reads = []
    read_export = runtime.read_export
    monkeypatch.setattr(runtime, 'read_export', lambda path: reads.append(path) or read_export(path))
    image = next((tmp_path / 'data').rglob('*.JPEG'))
    inference(out, [str(image)], 'onnxruntime', out_dir=str(tmp_path / 'vis'))
    assert len(reads) == 1
    (record,) = json.loads((tmp_path / 'vis' / 'predictions.json').read_text())
    assert record['image'] == str(image) and len(record['top5']) == 4
