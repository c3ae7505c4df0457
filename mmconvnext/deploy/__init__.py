"""Deployment: a config's model exported to ONNX / OpenVINO (:mod:`.export`) and run on onnxruntime or OpenVINO
with the config's own pre- and post-processing (:mod:`.runtime`). onnx, onnxruntime and openvino are optional
(``pip install "mmconvnext[deploy]"``); they are imported only when an export or a runtime needs them. What each
task exports, how its graphs are attached and what its prediction records hold: :mod:`.tasks`, one module per
task; the one export-error measure: :func:`.base.relative_error`."""

from .base import TOLERANCE, DeployError, relative_error
from .check import available_backends, check_export
from .export import FORMATS, OPSET, export_model, export_onnx, export_parts, load_model
from .runtime import BACKENDS, BackendGraph, attach_backend, build_deployed, inference, open_graph, read_export
from .tasks import TASKS, DeployTask, get_task, task_of

__all__ = [
    'BACKENDS',
    'FORMATS',
    'OPSET',
    'TOLERANCE',
    'TASKS',
    'BackendGraph',
    'DeployError',
    'DeployTask',
    'attach_backend',
    'available_backends',
    'build_deployed',
    'check_export',
    'export_model',
    'export_onnx',
    'export_parts',
    'get_task',
    'inference',
    'load_model',
    'open_graph',
    'read_export',
    'relative_error',
    'task_of',
]
