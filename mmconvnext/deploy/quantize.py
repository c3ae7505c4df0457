"""INT8 post-training quantization of an export, calibrated on images drawn through the config's own test
pipeline.

onnxruntime's static quantization (``quantize_static``, after its ``quant_pre_process``) writes each graph in
the QDQ form: per-channel int8 weights and uint8 activations (the u8 x s8 products VNNI and AMX run) around
the convolutions and matrix products (``Conv``, ``MatMul``, ``Gemm``), activation ranges from the calibration
images (min/max). With int8 activations (s8 x s8) onnxruntime ran ConvNeXt-T slower than its fp32 graph on
the Intel Xeon here (0.88x at batch 1); with uint8 it ran 1.6x faster. Everything else stays float: LayerNorm,
GRN, GELU, softmax, the resizes and the pyramid pooling's averaging. onnxruntime runs the QDQ graph with its
int8 kernels (VNNI / AMX where the CPU has them). For OpenVINO (``--format openvino``) the float graph is quantized by
NNCF, OpenVINO's own quantizer (:func:`quantize_openvino`: its default CPU scheme, FakeQuantize around the
convolutions and matrix products, LayerNorm's MVN, GELU and softmax left float, fast bias correction), on
the same calibration images; where NNCF is missing, the IR is converted from the QDQ graph (OpenVINO reads the
quantize/dequantize pairs as FakeQuantize) and ``deploy.json`` says so. Written by hand: only the calibration
feed (the config's test pipeline and data preprocessor, resized to the export size) and the bookkeeping; the
quantizers are onnxruntime's and NNCF's.

The export keeps the float graph beside the quantized one (``<part>.fp32.onnx``), records the calibration in
``deploy.json`` (``int8``), and stores a few calibration inputs (``calibration.npz``) on which
:func:`mmconvnext.deploy.check_export` compares the int8 graphs with PyTorch.
"""

import os.path as osp
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from .base import DeployError

__all__ = ['QUANTIZED_OPS', 'calibration_inputs', 'quantize_graph', 'quantize_openvino']

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


def quantize_graph(fp32_path: str, out_path: str, input_name: str, images: np.ndarray, fixed: dict = None) -> None:
    """Write ``fp32_path``'s graph quantized to int8 (QDQ, per-channel weights) to ``out_path``, its activation
    ranges calibrated on ``images`` (N, 3, H, W) fed one at a time as ``input_name``, with the ``fixed``
    inputs ({name: array}) beside each."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise DeployError('--int8 needs onnxruntime: pip install "mmconvnext[deploy]"') from e

    class Feed(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(range(len(images)))

        def get_next(self):
            i = next(self.items, None)
            return None if i is None else {input_name: images[i : i + 1], **(fixed or {})}

    if osp.abspath(fp32_path) == osp.abspath(out_path):
        raise ValueError('quantize_graph writes next to the float graph, not over it')
    # onnxruntime's own pre-processing first (graph optimisation: constant folding, fusions). Without it the
    # UperNet head's convolutions kept biases computed by nodes, the quantizer left them as float Conv behind
    # DequantizeLinear, and the int8 graph ran slower than the float one (2.29 s against 2.11 s at 512x512 on
    # the Intel Xeon with AMX; 0.82 s with it)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = osp.join(tmp, 'prepared.onnx')
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            out_path,
            Feed(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )


#: how each runtime's int8 graph was made (deploy.json's ``int8.method``)
METHOD_ONNX = 'onnxruntime quantize_static, QDQ, per-channel int8 weights, uint8 activations (min/max)'
METHOD_NNCF = 'NNCF {version} quantize (OpenVINO IR, default CPU preset, fast bias correction)'
METHOD_QDQ_IR = 'the QDQ graph converted to OpenVINO IR (FakeQuantize); NNCF is not installed'


def quantize_openvino(fp32_path: str, xml_path: str, images: np.ndarray, fixed: dict = None) -> str:
    """Write ``fp32_path``'s graph quantized by NNCF to the OpenVINO IR ``xml_path``, calibrated on ``images``
    (N, 3, H, W) fed one at a time (the ``fixed`` inputs, {name: array}, after it in the graph's order); return
    how (:data:`METHOD_NNCF`), or None where NNCF is not installed."""
    try:
        import nncf
        import openvino
    except ImportError:
        return None
    model = openvino.convert_model(fp32_path)
    extra = list((fixed or {}).values())
    dataset = nncf.Dataset([[images[i : i + 1], *extra] if extra else images[i : i + 1] for i in range(len(images))])
    quantized = nncf.quantize(model, dataset, subset_size=len(images))
    openvino.save_model(quantized, xml_path, compress_to_fp16=False)
    return METHOD_NNCF.format(version=nncf.__version__)
