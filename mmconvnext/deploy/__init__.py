"""Deployment: a config's model exported to ONNX / OpenVINO (:mod:`.export`) and run on onnxruntime or OpenVINO
with the config's own pre- and post-processing (:mod:`.runtime`). onnx, onnxruntime and openvino are optional
(``pip install "mmconvnext[deploy]"``); they are imported only when an export or a runtime needs them."""

from .check import TOLERANCE, available_backends, check_export, relative_error
from .export import (
    FORMATS,
    OPSET,
    TASKS,
    DeployError,
    export_model,
    export_onnx,
    export_parts,
    load_model,
    onnx_max_abs_diff,
    task_of,
)
from .runtime import BACKENDS, BackendGraph, attach_backend, build_deployed, inference, read_export

__all__ = [
    'BACKENDS',
    'FORMATS',
    'OPSET',
    'TOLERANCE',
    'TASKS',
    'BackendGraph',
    'DeployError',
    'attach_backend',
    'available_backends',
    'build_deployed',
    'check_export',
    'export_model',
    'export_onnx',
    'export_parts',
    'inference',
    'load_model',
    'onnx_max_abs_diff',
    'read_export',
    'relative_error',
    'task_of',
]
