"""A config's model exported to ONNX (and OpenVINO IR), in the parts a runtime can run faithfully.

What is exported is the task adapter's decision (:mod:`mmconvnext.deploy.tasks`, one module per task:
classification, segmentation, detection, and the backbone alone with ``part='backbone'``); this module traces
its parts, writes them and describes them.

Beside the graphs: ``deploy.json`` (task, parts, input shape, preprocessing, class names, versions) and
``config.py`` (the config, so the directory alone is enough to run it). The exporter is torch's TorchScript
ONNX exporter (opset 17, which has LayerNormalization); the oneDNN kernels step aside while tracing
(:func:`mmconvnext.models.layers.onednn.available`), so the graphs hold the plain ops, the same function.

``fp16``: weights and activations in float16, with float32 inputs and outputs, and the LayerNorms computed in
float32 (their eps, 1e-6, is below float16's normal range; the exported LayerNormalization nodes keep it as a
float32 attribute on float32 data). GRN already computes its L2 norms in float32
(:class:`mmconvnext.models.layers.GRN`), so its sum of squares cannot overflow float16's 65504.
"""

import contextlib
import copy
import json
import os
import os.path as osp
import shutil
import warnings
from collections.abc import Iterator
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from .base import DeployError, ExportPart
from .tasks import TASKS, get_task, task_of

__all__ = [
    'FORMATS',
    'OPSET',
    'TASKS',
    'DeployError',
    'ExportPart',
    'export_model',
    'export_onnx',
    'export_parts',
    'load_model',
    'task_of',
]

#: the lowest opset used: 17 has LayerNormalization, which keeps the block's norm one node
OPSET = 17
FORMATS = ('onnx', 'openvino')
#: ConvNeXt's total stride: dense heads (FPN, UPerHead) need each side to be a multiple of it
STRIDE = 32


# ---------------------------------------------------------------------------- the model
def load_model(cfg: Config, checkpoint: Optional[str]) -> nn.Module:
    """``cfg.model`` in eval mode on the CPU (SyncBN as BN), with ``checkpoint``'s weights loaded strictly.

    Raises:
        DeployError: the checkpoint is unreadable, or it does not fit the model (its missing and unexpected keys
            or mismatched shapes are named), e.g. a checkpoint of another config.
    """
    from mmengine.model import revert_sync_batchnorm

    from mmconvnext.apis import build_model
    from mmconvnext.checkpoint import CheckpointError, extract_state_dict, read_checkpoint

    model = revert_sync_batchnorm(build_model(cfg))
    if checkpoint is not None:
        try:
            state = extract_state_dict(read_checkpoint(checkpoint), checkpoint)
        except CheckpointError as e:
            raise DeployError(str(e)) from None
        own = model.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        shapes = [
            f'{k} {tuple(state[k].shape)} != {tuple(v.shape)}'
            for k, v in own.items()
            if k in state and state[k].shape != v.shape
        ]
        # the classifier converts official/timm/mmpretrain layouts on load: let load_state_dict judge those
        from mmconvnext.models.classifiers import ConvNeXtClassifier

        foreign = isinstance(model, ConvNeXtClassifier) and not any(k.startswith('backbone.') for k in state)
        if (missing or unexpected or shapes) and not foreign:
            name = cfg.get('filename') or 'the config'
            raise DeployError(
                f'{checkpoint}: does not fit the model of {name} ({len(missing)} missing keys, e.g. {missing[:3]}; '
                f'{len(unexpected)} unexpected, e.g. {unexpected[:3]}; shape mismatches: {shapes[:3]}): '
                'is it a checkpoint of another config?'
            )
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise DeployError(f'{checkpoint}: does not fit the model: {str(e).splitlines()[0]}') from None
    return model.eval()


def export_parts(
    model: nn.Module, shape: tuple, batch: int = 1, dynamic: bool = False, part: str = 'model', task: str = None
) -> list:
    """The graphs that make up ``model`` (see the module docstring), with example inputs of ``shape`` (H, W).

    Args:
        model: the loaded model, eval mode.
        shape: (H, W) of the example image.
        batch: the example batch size.
        dynamic: height and width as dynamic axes too (the batch always is; detection graphs always are).
        part: ``'model'`` (the task's graphs) or ``'backbone'``.
        task: the deploy task by name (``'detection_end2end'``: the detector as one graph); default: the
            model's own (:func:`task_of`), or ``'backbone'`` with ``part='backbone'``.
    """
    image = torch.randn(batch, 3, *shape)
    # the batch is always dynamic (a test loader's batches, the last one shorter); height and width on request
    image_axes = {0: 'batch', 2: 'height', 3: 'width'} if dynamic else {0: 'batch'}
    task = task or ('backbone' if part == 'backbone' else task_of(model))
    return get_task(task).parts(model, image, image_axes, dynamic)


# ---------------------------------------------------------------------------- adaptive pooling
class _AdaptiveAvgPoolMatrix(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two matrix products whose bins are computed from the input's size inside the
    graph, for the ONNX export at a fixed size or with ``--dynamic`` at any.

    Written here because torch's TorchScript ONNX exporter refuses adaptive average pooling whose output size does
    not divide the input (UperNet's pyramid pooling: 3x3 and 6x6 bins of a 16x16 map at 512x512), and the dynamo
    exporter that takes it needed ~20 s for ConvNeXt-atto UperNet where this takes ~3 s, and its graph failed at a
    second size. The bins are PyTorch's: output ``i`` of ``o`` averages inputs ``floor(i*n/o)`` to
    ``ceil((i+1)*n/o) - 1``, built from ``arange`` and integer division of the traced size (ONNX ``Range``,
    ``Div``, comparisons), so the graph holds the rule, not one size's matrix.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)

    @staticmethod
    def _bins(n, o: int, like: torch.Tensor) -> torch.Tensor:
        """The (o, n) averaging matrix; ``n`` an int or a traced size."""
        i = torch.arange(o, device=like.device)
        j = torch.arange(n, device=like.device)
        start = torch.div(i * n, o, rounding_mode='floor')
        end = torch.div((i + 1) * n + o - 1, o, rounding_mode='floor')
        inside = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
        return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        oh, ow = self.output_size
        rows = torch.eye(h, dtype=x.dtype, device=x.device) if oh is None else self._bins(h, oh, x)
        cols = torch.eye(w, dtype=x.dtype, device=x.device) if ow is None else self._bins(w, ow, x)
        return torch.matmul(rows, torch.matmul(x, cols.t()))


@contextlib.contextmanager
def _exportable_pooling(model: nn.Module) -> Iterator[None]:
    """Within the block, ``model``'s adaptive average pools with an output other than 1x1 are
    :class:`_AdaptiveAvgPoolMatrix`; restored after."""
    swapped = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size not in (1, (1, 1)):
                swapped.append((parent, name, child))
                setattr(parent, name, _AdaptiveAvgPoolMatrix(child.output_size))
    try:
        with warnings.catch_warnings():  # the bins are computed from the (fixed) traced sizes, on purpose
            warnings.filterwarnings('ignore', 'Converting a tensor to a Python integer', torch.jit.TracerWarning)
            yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


# ---------------------------------------------------------------------------- fp16
class _Half(nn.Module):
    """``module`` in float16 with float32 inputs and outputs; LayerNorms stay float32 (see the module docstring)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.half()
        for norm in self.module.modules():
            if isinstance(norm, nn.LayerNorm):
                norm.float()
                norm.register_forward_pre_hook(_to_float32, with_kwargs=True)
                norm.register_forward_hook(_to_float16)

    def forward(self, *inputs: torch.Tensor):
        out = self.module(*(x.half() for x in inputs))
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


def _to_float32(module, args, kwargs):
    return tuple(a.float() if torch.is_tensor(a) else a for a in args), kwargs


def _to_float16(module, args, out):
    return out.half()


# ---------------------------------------------------------------------------- writing
def export_onnx(
    module: nn.Module,
    inputs: Union[torch.Tensor, tuple],
    path: Union[str, os.PathLike],
    input_names: Optional[list] = None,
    output_names: Optional[list] = None,
    dynamic_axes: Optional[dict] = None,
) -> str:
    """Write ``module`` (eval mode, traced on ``inputs``) to ``path`` as ONNX (opset :data:`OPSET`); return it.

    The TorchScript exporter (``dynamo=False``) first: it needs only ``onnx`` and took ~1 s for ConvNeXt-atto on
    torch 2.13 CPU where the dynamo exporter took ~9 s and also needs ``onnxscript``; dynamo is the fallback where
    the TorchScript one is gone or fails. Outputs default to ``out0``, ``out1``, ...
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    module.eval()
    with torch.no_grad():
        outs = module(*inputs)
    n_out = len(outs) if isinstance(outs, (tuple, list)) else 1
    path = os.fspath(path)
    options = dict(
        input_names=input_names or (['input'] if len(inputs) == 1 else [f'in{i}' for i in range(len(inputs))]),
        output_names=output_names or [f'out{i}' for i in range(n_out)],
        opset_version=OPSET,
        dynamic_axes=dynamic_axes or None,
    )
    with torch.no_grad():
        try:
            torch.onnx.export(module, inputs, path, do_constant_folding=True, dynamo=False, **options)
        except Exception as error:  # the TorchScript exporter removed or failing (e.g. UperNet's pyramid pooling)
            print(f'[export_onnx] TorchScript exporter: {type(error).__name__}: {str(error).splitlines()[0][:200]}')
            print('[export_onnx] exporting with the dynamo exporter instead (opset 18, its own)')
            options['opset_version'] = max(OPSET, 18)  # dynamo's lowest: converting down fails on some graphs
            if dynamic_axes:  # dynamo names dynamic dimensions itself
                options['dynamic_shapes'] = None
            torch.onnx.export(module, inputs, path, dynamo=True, **options)
    return path


def _default_shape(cfg: Config, task: str) -> tuple:
    """The example input size a config's test pipeline implies: the classifier's crop, the segmentor's slide
    crop or batch size, the detector's resize scale (H, W) rounded up to a multiple of 32."""
    test_cfg = cfg.model.get('test_cfg') or {}
    if task == 'segmentation' and test_cfg.get('mode') == 'slide':
        return tuple(test_cfg['crop_size'])
    if task == 'segmentation' and cfg.model.get('data_preprocessor', {}).get('size'):
        return tuple(cfg.model.data_preprocessor.size)
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') or []
    # a crop (the classifier's CenterCrop) fixes the size whatever resize precedes it
    for key, step in [('crop_size', s) for s in pipeline] + [('scale', s) for s in pipeline]:
        value = step.get(key)
        if value is None:
            continue
        if isinstance(value, int):
            return (value, value)
        w, h = value  # mmcv/mmdet scales are (w, h)
        if task.startswith('detection') or step.get('keep_ratio'):
            h, w = min(w, h), max(w, h)
        return tuple(-(-s // STRIDE) * STRIDE for s in (h, w))
    raise DeployError(
        f'{cfg.get("filename") or "the config"}: its test pipeline fixes no input size (no crop, no resize scale), '
        'so the export cannot choose one: give --shape H W (the size of the images it will see), or --dynamic'
    )


def _check_shape(shape: tuple, task: str, part: str) -> tuple:
    if len(shape) != 2 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise DeployError(f'--shape must be two positive integers H W, got {shape!r}')
    if (task != 'classification' or part == 'backbone') and any(s % STRIDE for s in shape):
        fixed = ' '.join(str(-(-s // STRIDE) * STRIDE) for s in shape)
        raise DeployError(
            f'--shape {shape[0]} {shape[1]}: the {task if part == "model" else "backbone"} model downsamples by '
            f'{STRIDE}, so each side must be a multiple of {STRIDE} (e.g. --shape {fixed})'
        )
    return shape


def _preprocessing(cfg: Config, shape: tuple) -> dict:
    pre = cfg.model.get('data_preprocessor') or {}
    return {
        'mean': list(pre.get('mean') or [0.0, 0.0, 0.0]),
        'std': list(pre.get('std') or [1.0, 1.0, 1.0]),
        'to_rgb': bool(pre.get('bgr_to_rgb', pre.get('to_rgb', False))),
        'size': list(shape),
        'size_divisor': pre.get('pad_size_divisor', pre.get('size_divisor')),
        'pad_value': pre.get('pad_val', pre.get('pad_value', 0)),
        'test_pipeline': [
            dict(step) for step in (cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') or [])
        ],
    }


def _postprocessing(cfg: Config) -> dict:
    """What a runner does with the one-graph detector's outputs (deploy.json's ``postprocess``)."""
    rcnn = (cfg.model.get('test_cfg') or {}).get('rcnn') or {}
    return {
        'inputs': 'input: (1, 3, H, W) preprocessed and padded; image_hw: (2,) float32, its height and width '
        'before padding',
        'outputs': 'boxes (N, 4) x1 y1 x2 y2 in the resized image, scores (N,), labels (N,) int64, masks (N, M, M) '
        "probabilities in each box (M: the mask head's resolution), highest score first",
        'boxes': 'divide by the resize factor (w, h, w, h) for the original image',
        'masks': 'resample bilinearly into the box (half-pixel centres, zeros outside) and keep >= mask_thr_binary',
        'mask_thr_binary': rcnn.get('mask_thr_binary', 0.5),
        'score_thr': rcnn.get('score_thr'),
        'max_per_img': rcnn.get('max_per_img'),
    }


def _json_ready(value):
    """``value`` (config dicts, tuples) as plain JSON types."""
    return json.loads(json.dumps(value, default=str))


def _dataset_meta(cfg: Config) -> dict:
    """The test dataset's class names and palette: its ``metainfo`` in the config, else its class's METAINFO."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    meta = dict(dataset.get('metainfo') or {})
    if not meta.get('classes'):
        from mmengine.registry import DATASETS, DefaultScope

        try:
            with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
                cls = DATASETS.get(dataset.get('type'))
            meta = dict(getattr(cls, 'METAINFO', {}) or {})
        except (KeyError, TypeError):
            meta = {}
    return {
        k: [list(v) if isinstance(v, (tuple, list)) else v for v in meta[k]] if meta.get(k) else None
        for k in ('classes', 'palette')
    }


def export_model(
    cfg: Config,
    checkpoint: Optional[str],
    out_dir: str,
    fmt: str = 'onnx',
    shape: Optional[tuple] = None,
    dynamic: bool = False,
    fp16: bool = False,
    part: str = 'model',
    batch: int = 1,
    model: Optional[nn.Module] = None,
    int8: bool = False,
    calib: int = 64,
    calibration: Optional[np.ndarray] = None,
    end2end: bool = False,
) -> dict:
    """Export ``cfg``'s model with ``checkpoint``'s weights to ``out_dir``; return what ``deploy.json`` says.

    Args:
        cfg: the config (its ``filename`` is named in errors).
        checkpoint: a checkpoint of this config; None exports the initial weights (tests, benchmarks).
        out_dir: created if missing; ``deploy.json``, ``config.py`` and one ``<part>.onnx`` per graph
            (``fmt='openvino'``: also ``<part>.xml``/``.bin``).
        fmt: ``'onnx'`` or ``'openvino'``.
        shape: (H, W) of the example input; default from the config (:func:`_default_shape`).
        dynamic: dynamic height/width (the batch always is; detection graphs always are).
        fp16: float16 graphs with float32 inputs/outputs and float32 LayerNorms.
        part: ``'model'`` (the task's graphs) or ``'backbone'``.
        batch: the example's batch size (any batch runs).
        model: ``cfg``'s model with ``checkpoint``'s weights, already loaded (:func:`load_model` of a copy of
            ``cfg``: building a detector writes into its config), so that a caller which also checks the export
            loads the checkpoint once; default: loaded here.
        int8: quantize every graph to int8 (:mod:`mmconvnext.deploy.quantize`), calibrated on ``calib`` images
            of the config's test set; the float graphs stay beside them as ``<part>.fp32.onnx``.
        calib: the number of calibration images.
        calibration: with ``int8``, these (N, 3, H, W) inputs instead of the test set's (speed measurements
            of a model without data; its accuracy then means nothing).
        end2end: a detector as one graph, ``detector``, from the image to boxes, scores, labels and RoI masks
            (:mod:`mmconvnext.deploy.detector_graph`; task ``detection_end2end``) instead of its split graphs.

    Raises:
        DeployError: an unknown format or part, a shape the model cannot take, a checkpoint that does not fit,
            int8 asked with fp16 or of a split detector (a detector is quantized with ``end2end``), calibration
            images that cannot be read, ``end2end`` of a model that is not a two-stage detector or with fp16, a
            detector the one graph does not reproduce (named).
    """
    if fmt not in FORMATS:
        raise DeployError(f'--format must be one of {FORMATS}, got {fmt!r}')
    if part not in ('model', 'backbone'):
        raise DeployError(f"part must be 'model' or 'backbone', got {part!r}")
    pristine = copy.deepcopy(cfg)  # mmdet's detectors write train_cfg/test_cfg into cfg.model's heads when built
    model = model if model is not None else load_model(cfg, checkpoint)
    task = 'backbone' if part == 'backbone' else task_of(model)
    if end2end:
        if task != 'detection' or fp16:
            raise DeployError(
                '--end2end writes a two-stage detector (Mask R-CNN, Cascade Mask R-CNN) as one fp32 or int8 graph: '
                f'not a {task!r} export' + (', nor with --fp16' if fp16 else '')
            )
        task, batch, dynamic = 'detection_end2end', 1, True  # one image a run, any size
    if int8 and fp16:
        raise DeployError('--int8 and --fp16 exclude each other: give one')
    if int8 and task == 'detection':
        raise DeployError(
            '--int8: a detector is quantized as one graph: add --end2end (the split export, with mmdet/mmcv between '
            'its graphs, is not quantized)'
        )
    if int8 and calib < 1:
        raise DeployError(f'--calib must be >= 1, got {calib}')
    shape = _check_shape(tuple(shape) if shape else _default_shape(cfg, task), task, part)
    os.makedirs(out_dir, exist_ok=True)
    parts = export_parts(model, shape, batch=batch, dynamic=dynamic, part=part, task=task)
    images = None
    if int8:
        from .quantize import KEPT, METHOD_ONNX, QUANTIZED_OPS, calibration_inputs

        images = calibration if calibration is not None else calibration_inputs(pristine, model, calib, shape)
        np.savez_compressed(osp.join(out_dir, 'calibration.npz'), input=images[:KEPT])
    meta = {
        'task': task,
        'format': fmt,
        'config': 'config.py',
        'source_config': cfg.get('filename'),
        'checkpoint': checkpoint,
        'input_shape': [batch, 3, *shape],
        'dynamic': dynamic or task.startswith('detection'),
        'fp16': fp16,
        'int8': None
        if images is None
        else {
            'calibration_images': len(images),
            'method': {'onnxruntime': METHOD_ONNX},
            'quantized_ops': list(QUANTIZED_OPS),
            'check_inputs': 'calibration.npz',
        },
        'opset': OPSET,
        'preprocess': _preprocessing(cfg, shape),
        'test_cfg': _json_ready(cfg.model.get('test_cfg') or {}) if task != 'classification' else None,
        'postprocess': _postprocessing(cfg) if task == 'detection_end2end' else None,
        **_dataset_meta(cfg),
        'parts': {},
        'versions': _versions(),
    }
    for p in parts:
        with torch.no_grad():
            outs = p.module(*p.inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        module = _Half(copy.deepcopy(p.module)) if fp16 else p.module
        onnx_path = osp.join(out_dir, f'{p.name}.onnx')
        with _exportable_pooling(module):
            export_onnx(module, p.inputs, onnx_path, p.input_names, p.output_names, p.dynamic_axes)
        entry = {'onnx': osp.basename(onnx_path), 'inputs': p.input_names, 'outputs': p.output_names}
        if images is not None:
            from .quantize import quantize_graph

            fp32_path = osp.join(out_dir, f'{p.name}.fp32.onnx')
            os.replace(onnx_path, fp32_path)
            quantize_graph(fp32_path, onnx_path, p.input_names[0], images, _fixed_inputs(p, shape))
            entry['fp32_onnx'] = osp.basename(fp32_path)
        entry['input_shapes'] = [
            [-1 if d in p.dynamic_axes.get(n, {}) else s for d, s in enumerate(x.shape)]
            for n, x in zip(p.input_names, p.inputs)
        ]
        entry['output_shapes'] = [
            [-1 if d in p.dynamic_axes.get(n, {}) else s for d, s in enumerate(o.shape)]
            for n, o in zip(p.output_names, outs)
        ]
        if fmt == 'openvino' and images is not None:  # int8: NNCF's IR from the float graph where it is installed
            from .quantize import METHOD_QDQ_IR, quantize_openvino

            xml = onnx_path[: -len('.onnx')] + '.xml'
            method = quantize_openvino(osp.join(out_dir, entry['fp32_onnx']), xml, images, _fixed_inputs(p, shape))
            entry['openvino'] = osp.basename(xml) if method else _to_openvino(onnx_path)
            meta['int8']['method']['openvino'] = method or METHOD_QDQ_IR
        elif fmt == 'openvino':
            entry['openvino'] = _to_openvino(onnx_path)
        meta['parts'][p.name] = entry
    pristine.dump(osp.join(out_dir, 'config.py'))
    # the runner that needs only numpy, OpenCV and a runtime: the directory alone is a deployable model
    shutil.copyfile(osp.join(osp.dirname(osp.abspath(__file__)), 'standalone.py'), osp.join(out_dir, 'run.py'))
    with open(osp.join(out_dir, 'deploy.json'), 'w') as f:
        json.dump(meta, f, indent=2, default=str)
    return meta


def _fixed_inputs(part: ExportPart, shape: tuple) -> dict:
    """The inputs beside the image that calibration feeds unchanged: the one-graph detector's ``image_hw``
    (calibration images fill the export size)."""
    return {'image_hw': np.asarray(shape, np.float32)} if 'image_hw' in part.input_names else {}


def _to_openvino(onnx_path: str) -> str:
    try:
        import openvino
    except ImportError as e:
        raise DeployError('--format openvino needs OpenVINO: pip install "mmconvnext[deploy]"') from e
    xml = onnx_path[: -len('.onnx')] + '.xml'
    # compress_to_fp16=False: the IR keeps the ONNX graph's precision (fp32 unless --fp16 made it fp16)
    openvino.save_model(openvino.convert_model(onnx_path), xml, compress_to_fp16=False)
    return osp.basename(xml)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ('mmconvnext', 'torch', 'onnx', 'onnxruntime', 'openvino'):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found
