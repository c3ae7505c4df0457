"""INT8 post-training quantization of an export, calibrated on images drawn through the config's own test
pipeline.

onnxruntime's static quantization (``quantize_static``) writes each graph in the QDQ form: per-channel int8
weights and uint8 activations (the u8 x s8 products VNNI and AMX run) around the convolutions and matrix
products (``Conv``, ``MatMul``, ``Gemm``), activation ranges from the calibration images (min/max). With int8
activations (s8 x s8) onnxruntime ran ConvNeXt-T slower than its fp32 graph on the Intel Xeon here (0.88x at
batch 1); with uint8 it ran 1.6x faster. Everything else stays float: LayerNorm, GRN, GELU,
softmax, the resizes and the pyramid pooling's averaging. onnxruntime runs the QDQ graph with its int8 kernels
(VNNI / AMX where the CPU has them), and OpenVINO reads the same graph as int8 (its IR keeps the
quantize/dequantize pairs as FakeQuantize). Written by hand: only the calibration feed (the config's test
pipeline and data preprocessor, resized to the export size) and the bookkeeping; the quantizer is
onnxruntime's. NNCF, OpenVINO's own quantizer, is not a dependency here (it is not in the deploy extra).

The export keeps the float graph beside the quantized one (``<part>.fp32.onnx``), records the calibration in
``deploy.json`` (``int8``), and stores a few calibration inputs (``calibration.npz``) on which
:func:`mmconvnext.deploy.check_export` compares the int8 graphs with PyTorch.
"""

import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F

from .base import DeployError

__all__ = ['QUANTIZED_OPS', 'calibration_inputs', 'quantize_graph']

#: the operators whose inputs are quantized; the rest of each graph stays float
QUANTIZED_OPS = ('Conv', 'MatMul', 'Gemm')
#: calibration inputs kept in the export for its parity check
KEPT = 8


def calibration_inputs(cfg, model: torch.nn.Module, count: int, size: tuple) -> np.ndarray:
    """``count`` images of the config's test set as the model sees them (its test pipeline, then its data
    preprocessor: normalised, channel order), resized to the export size ``size`` (H, W), as one (N, 3, H, W)
    float32 array.

    Raises:
        DeployError: the test set cannot be built (no data at its root) or holds no image.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    loader_cfg = dict(cfg.test_dataloader, batch_size=1, num_workers=0, persistent_workers=False)
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
    try:
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
            loader = Runner.build_dataloader(loader_cfg)
    except (FileNotFoundError, OSError, ValueError) as e:
        raise DeployError(f"--int8: cannot read the calibration images of the config's test set ({e})") from None
    batches = []
    with torch.no_grad():
        for batch in loader:
            inputs = model.data_preprocessor(batch, False)['inputs']
            if tuple(inputs.shape[2:]) != tuple(size):
                inputs = F.interpolate(inputs, size=tuple(size), mode='bilinear', align_corners=False)
            batches.append(inputs.float().numpy())
            if len(batches) == count:
                break
    if not batches:
        raise DeployError("--int8: the config's test set holds no image to calibrate on")
    return np.concatenate(batches)


def quantize_graph(fp32_path: str, out_path: str, input_name: str, images: np.ndarray) -> None:
    """Write ``fp32_path``'s graph quantized to int8 (QDQ, per-channel weights) to ``out_path``, its activation
    ranges calibrated on ``images`` (N, 3, H, W) fed one at a time as ``input_name``."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError as e:
        raise DeployError('--int8 needs onnxruntime: pip install "mmconvnext[deploy]"') from e

    class Feed(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(range(len(images)))

        def get_next(self):
            i = next(self.items, None)
            return None if i is None else {input_name: images[i : i + 1]}

    if osp.abspath(fp32_path) == osp.abspath(out_path):
        raise ValueError('quantize_graph writes next to the float graph, not over it')
    quantize_static(
        fp32_path,
        out_path,
        Feed(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(QUANTIZED_OPS),
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
