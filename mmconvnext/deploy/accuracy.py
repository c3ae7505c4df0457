"""What an export keeps of its model's accuracy: the config's own test loop (its dataset, metrics) run on
PyTorch and on each export on each runtime (``tools/deployment/accuracy.py``, the deployment tests)."""

import copy
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config

from .base import DeployError

__all__ = ['METRICS', 'PATHS', 'accuracy_rows', 'evaluate']

#: the ways a model runs, in the order the accuracy and speed tables show them
PATHS = (
    'pytorch',
    'onnxruntime',
    'openvino',
    'onnxruntime int8',
    'openvino int8',
    'onnxruntime one graph',
    'openvino one graph',
)
#: the metrics a task's table reports, as the config's evaluator names them
METRICS = {
    'classification': ('accuracy/top1',),
    'segmentation': ('mIoU',),
    'detection': ('coco/bbox_mAP', 'coco/segm_mAP'),
}


def evaluate(
    cfg: Config, work_dir: str, checkpoint: str, directory: Optional[str] = None, backend: Optional[str] = None
) -> tuple:
    """The config's test loop with ``checkpoint``: (metrics, the predictions of the first batch). With
    ``backend``, the export in ``directory`` runs on it and every PyTorch parameter is NaN, so nothing of
    PyTorch's model can leak into the numbers."""
    from mmconvnext.apis import build_runner

    from .runtime import attach_backend

    cfg = copy.deepcopy(cfg)
    cfg.work_dir, cfg.load_from = str(work_dir), checkpoint
    runner = build_runner(cfg)
    if backend:
        attach_backend(runner.model, directory, backend, model_cfg=cfg.model)
        for param in runner.model.parameters():
            param.data.fill_(float('nan'))
    metrics = runner.test()
    with torch.no_grad():
        return metrics, runner.model.test_step(next(iter(runner.test_dataloader)))


def accuracy_rows(cfg: Config, checkpoint: str, work_dir: str, int8: bool = True, calib: int = 64) -> tuple:
    """Export ``cfg``'s model with ``checkpoint`` in fp32 (and int8, calibrated on ``calib`` test images; a
    detector also as one graph), evaluate PyTorch and every export on every installed runtime with the config's
    test loop, and return ``(task, {path: {metric: value}})``; a path that cannot run maps to the reason.

    Raises:
        DeployError: as :func:`mmconvnext.deploy.export_model` (a checkpoint of another config, no data).
    """
    from .check import available_backends
    from .export import export_model, load_model
    from .tasks import task_of

    model = load_model(copy.deepcopy(cfg), checkpoint)
    task = task_of(model)
    if task not in METRICS:
        raise DeployError(f'{task!r} models have no accuracy table (classification, segmentation, detection)')
    exports = {'': dict()}
    if task == 'detection':
        exports[' one graph'] = dict(end2end=True)
    if int8:  # a detector is quantized as one graph
        exports[' int8'] = dict(int8=True, calib=calib, end2end=task == 'detection')
    results = {'pytorch': evaluate(cfg, osp.join(work_dir, 'pytorch'), checkpoint)[0]}
    for suffix, options in exports.items():
        directory = osp.join(work_dir, 'export' + suffix.replace(' ', '_'))
        try:
            export_model(copy.deepcopy(cfg), checkpoint, directory, 'openvino', model=model, **options)
        except DeployError as e:
            if not options.get('int8'):
                raise
            for backend in available_backends():  # the reason, up to its first ';'
                results[backend + suffix] = f'- ({str(e).split(";")[0].removeprefix("--int8: ")})'
            continue
        for backend in available_backends():
            name = backend + suffix
            results[name] = evaluate(cfg, osp.join(work_dir, name.replace(' ', '_')), checkpoint, directory, backend)[0]
    picked = {
        path: got if isinstance(got, str) else {m: float(got[m]) for m in METRICS[task] if m in got}
        for path, got in results.items()
    }
    return task, picked
