"""Run an export (:mod:`mmconvnext.deploy.export`) on onnxruntime or OpenVINO with the config's own pre- and
post-processing.

The config's model is built in PyTorch and every learned part is then replaced by the exported graph on the
chosen runtime (:func:`attach_backend`); what is left in PyTorch has no weights: the data preprocessor
(normalisation, padding), mmseg's whole/slide inference and resizing, and for the detectors mmdet's anchors, box
decoding, NMS, mmcv's RoIAlign and mask pasting. So ``tools/test.py --backend`` evaluates through the config's
own test loop, metrics and visualization hook, and :func:`inference` reads image files through the config's test
pipeline and draws with its visualizer, exactly as the PyTorch model would.
"""

import json
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from .base import DeployError
from .tasks import DeployTask, get_task

__all__ = ['BACKENDS', 'BackendGraph', 'attach_backend', 'build_deployed', 'inference', 'open_graph', 'read_export']

BACKENDS = ('onnxruntime', 'openvino')


def read_export(path: str) -> tuple:
    """``(directory, deploy.json as a dict)`` of an export given as its directory or any file in it.

    Raises:
        DeployError: no ``deploy.json`` there (not an export of :mod:`mmconvnext.deploy`), or an unreadable one.
    """
    directory = path if osp.isdir(path) else osp.dirname(osp.abspath(path))
    meta_path = osp.join(directory, 'deploy.json')
    if not osp.isfile(meta_path):
        raise DeployError(
            f'{path}: no deploy.json beside it; give the directory tools/deployment/export.py wrote (--out)'
        )
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        meta['parts']  # noqa: B018 - the key every export has
    except (ValueError, KeyError) as e:
        raise DeployError(f'{meta_path}: not a readable export description ({e})') from None
    return directory, meta


class BackendGraph:
    """One exported graph on a runtime: torch tensors in, a list of torch tensors out (fp32, CPU).

    Args:
        path: the ``.onnx`` file (OpenVINO also reads the ``.xml`` IR).
        backend: ``'onnxruntime'`` or ``'openvino'`` (CPU, fp32 inference precision).
        output_shapes: per output, its shape with -1 for dynamic axes; an empty batch (no RoIs) returns
            zero-row tensors of these shapes without calling the runtime, which may not take one.
        threads: intra-op threads (default: PyTorch's, ``torch.get_num_threads()``, which follows
            ``OMP_NUM_THREADS``; left to themselves both runtimes take every core and ignore it).
        input_shapes: per input, its shape with -1 for dynamic axes; an input of another shape is refused with
            a :class:`DeployError` naming the export size, before the runtime sees it.
    """

    def __init__(
        self, path: str, backend: str, output_shapes: list, threads: Optional[int] = None, input_shapes: list = ()
    ) -> None:
        self.input_shapes = list(input_shapes)
        if backend not in BACKENDS:
            raise DeployError(f'--backend must be one of {BACKENDS}, got {backend!r}')
        if not osp.isfile(path):
            raise DeployError(f'{path}: exported graph not found')
        self.path, self.backend, self.output_shapes = path, backend, output_shapes
        threads = threads or torch.get_num_threads()
        try:
            if backend == 'onnxruntime':
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1  # one chain of ops: a second pool would only compete
                self._session = onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
                self._names = [i.name for i in self._session.get_inputs()]
            else:
                config = {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_PRECISION_HINT': 'f32'}
                config['INFERENCE_NUM_THREADS'] = threads
                # f32 precision: on CPUs with bf16 units OpenVINO would otherwise compute in bf16
                self._compiled = _openvino_core().compile_model(path, 'CPU', config)
                self._request = self._compiled.create_infer_request()
        except ImportError as e:
            raise DeployError(f'--backend {backend} needs {backend}: pip install "mmconvnext[deploy]"') from e

    def __call__(self, *inputs: torch.Tensor) -> list:
        if inputs and inputs[0].shape[0] == 0:
            return [torch.zeros(0, *shape[1:]) for shape in self.output_shapes]
        for x, want in zip(inputs, self.input_shapes):
            if len(want) != x.dim() or any(w not in (-1, g) for w, g in zip(want, x.shape)):
                fixed = ' '.join(str(g) for w, g in zip(want[2:], x.shape[2:]))
                raise DeployError(
                    f'{self.path}: exported for inputs of shape {want} (-1: any), got {list(x.shape)}; export again '
                    f'with --shape {fixed} (or --dynamic)'
                )
        arrays = [np.ascontiguousarray(x.detach().cpu().float().numpy()) for x in inputs]
        if self.backend == 'onnxruntime':
            outs = self._session.run(None, dict(zip(self._names, arrays)))
        else:
            self._request.infer({i: a for i, a in enumerate(arrays)})
            outs = [self._request.get_output_tensor(i).data.copy() for i in range(len(self._compiled.outputs))]
        return [torch.from_numpy(np.asarray(o, dtype=np.float32)) for o in outs]


_OPENVINO_CORE = None


def _openvino_core():
    """The process's one OpenVINO ``Core``, created on first use and never released.

    OpenVINO's CPU plugin (2026.4) gives the thread that creates a ``Core`` an alternate signal stack of its own
    and puts the previous one back when that ``Core`` is destroyed. Two Cores released in another order than they
    were created (two exported graphs garbage-collected) leave the thread with a freed alternate stack, and the
    next signal with a Python handler -- a DataLoader's SIGCHLD when any child process exits -- kills the process
    with SIGSEGV. One Core for the whole process keeps the stacks in order.
    """
    global _OPENVINO_CORE
    if _OPENVINO_CORE is None:
        import openvino

        _OPENVINO_CORE = openvino.Core()
    return _OPENVINO_CORE


def open_graph(directory: str, meta: dict, name: str, backend: str, threads: Optional[int]) -> BackendGraph:
    """The graph ``name`` of the export in ``directory`` (``meta``: its deploy.json) on ``backend``.

    Raises:
        DeployError: the export has no such graph (its graphs are named), or the runtime is missing.
    """
    entry = meta['parts'].get(name)
    if entry is None:
        raise DeployError(f'{directory}: the export has no {name!r} graph (it has {sorted(meta["parts"])})')
    file = entry.get('openvino') if backend == 'openvino' and entry.get('openvino') else entry['onnx']
    return BackendGraph(
        osp.join(directory, file), backend, entry['output_shapes'], threads, entry.get('input_shapes', ())
    )


def _check_same_model(model_cfg: dict, exported_cfg: dict, directory: str) -> None:
    """The config being run and the exported one must build the same network (heads, classes, backbone)."""
    keep = ('type', 'backbone', 'neck', 'decode_head', 'rpn_head', 'roi_head', 'num_classes')

    ignore = ('init_cfg', 'pretrained', 'with_cp', 'train_cfg', 'test_cfg')  # mmdet copies the last two into heads

    def core(d: dict) -> dict:
        parts = {k: d[k] for k in keep if k in d}
        return {
            k: {n: v for n, v in p.items() if n not in ignore} if isinstance(p, dict) else p for k, p in parts.items()
        }

    if core(model_cfg) != core(exported_cfg):
        raise DeployError(
            f'{directory}: exported from a different model than this config builds (compare model.backbone / heads '
            f'with {osp.join(directory, "config.py")}); export this config, or test with that config'
        )


def attach_backend(
    model: nn.Module, path: str, backend: str, threads: Optional[int] = None, model_cfg: Optional[dict] = None
) -> nn.Module:
    """Replace ``model``'s learned parts by the graphs of the export at ``path`` on ``backend`` (in place).

    Args:
        model: the config's model (built, weights irrelevant; a wrapper's ``.module`` is used).
        path: the export directory (or a file in it).
        backend: ``'onnxruntime'`` or ``'openvino'``.
        threads: intra-op threads of each graph.
        model_cfg: the config's ``model`` dict, checked against the exported config's.

    Returns:
        nn.Module: ``model``.

    Raises:
        DeployError: not an export, a backbone-only export, another model's export, a missing graph or runtime.
    """
    directory, meta = read_export(path)
    model = getattr(model, 'module', model)
    if model_cfg is not None:
        exported = Config.fromfile(osp.join(directory, meta.get('config', 'config.py'))).model
        model_cfg = model_cfg.get('module', model_cfg)  # --tta: the test-time-augmentation wrapper's model
        _check_same_model(dict(model_cfg), dict(exported), directory)
    _attach(model, directory, meta, backend, threads)
    return model


def _attach(model: nn.Module, directory: str, meta: dict, backend: str, threads: Optional[int]) -> None:
    """The export's task adapter puts its graphs in place of ``model``'s learned parts."""
    task = get_task(meta.get('task'))
    if type(task).attach is DeployTask.attach:  # a part that runs on its own (the backbone alone)
        raise DeployError(
            f'{directory}: a {task.name!r} export runs on its own (its graphs {sorted(meta["parts"])}); '
            'tools/test.py and inference need an export of the whole model'
        )
    task.attach(model, lambda name: open_graph(directory, meta, name, backend, threads))


def build_deployed(path: str, backend: str, threads: Optional[int] = None) -> tuple:
    """``(config, model)``: the export's own config and its model with the graphs attached (eval mode)."""
    return _build(*read_export(path), backend, threads)[:2]


def _build(directory: str, meta: dict, backend: str, threads: Optional[int]) -> tuple:
    """``(config, model, meta)`` of the export in ``directory`` whose deploy.json is ``meta``."""
    from mmengine.model import revert_sync_batchnorm

    from mmconvnext.apis import build_model

    cfg = Config.fromfile(osp.join(directory, meta.get('config', 'config.py')))
    model = revert_sync_batchnorm(build_model(cfg))
    _attach(model, directory, meta, backend, threads)
    return cfg, model.eval(), meta


def inference(path: str, images: list, backend: str, out_dir: Optional[str] = None, threads: Optional[int] = None):
    """Predict ``images`` (file paths) with the export at ``path`` on ``backend``, through the export's config: its
    test pipeline (without annotation loading), its model's test step, its visualizer.

    Returns the data samples, one per image; with ``out_dir``, each image's drawing (segmentation / detection, as
    ``tools/test.py --show-dir`` draws) or, for a classifier, the top-5 classes go there, plus ``predictions.json``.
    """
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import VISUALIZERS, DefaultScope

    cfg, model, meta = _build(*read_export(path), backend, threads)  # deploy.json read once
    task = get_task(meta['task'])
    for image in images:
        if not osp.isfile(image):
            raise DeployError(f'{image}: image file not found')
    steps = [s for s in cfg.test_dataloader.dataset.pipeline if 'LoadAnnotations' not in s['type']]
    scope = cfg.get('default_scope') or 'mmengine'
    with DefaultScope.overwrite_default_scope(scope):
        pipeline = Compose(steps)
    visualizer = None
    if out_dir and meta['task'] != 'classification' and cfg.get('visualizer'):
        os.makedirs(out_dir, exist_ok=True)
        with DefaultScope.overwrite_default_scope(scope):
            vis_cfg = dict(cfg.visualizer, name=f'deploy_{id(model)}', save_dir=out_dir)
            visualizer = VISUALIZERS.build(vis_cfg)
        visualizer.dataset_meta = {k: meta[k] for k in ('classes', 'palette') if meta.get(k)}
        if meta.get('palette'):  # JSON gave lists; mmdet's visualizer takes a colour as a tuple (a list is several)
            visualizer.dataset_meta['palette'] = [tuple(c) for c in meta['palette']]

    samples, records = [], []
    for index, image in enumerate(images):
        with DefaultScope.overwrite_default_scope(scope):
            data = pipeline(dict(img_path=image, img_id=index))
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([data]))[0]
        samples.append(sample)
        records.append({'image': image, **task.record(sample, _class_name(meta))})
        if visualizer is not None:
            import mmcv

            rgb = mmcv.imread(image, channel_order='rgb')
            out_file = osp.join(out_dir, osp.splitext(osp.basename(image))[0] + '.png')
            visualizer.add_datasample(
                osp.basename(image), rgb, data_sample=sample, draw_gt=False, show=False, out_file=out_file
            )
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, 'predictions.json'), 'w') as f:
            json.dump(records, f, indent=1)
    return samples


def _class_name(meta: dict):
    """A label's class name from the export's ``classes``, else the label itself."""
    classes = meta.get('classes') or []
    return lambda i: classes[i] if i < len(classes) else i
