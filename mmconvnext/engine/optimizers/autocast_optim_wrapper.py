"""Mixed-precision training on any device, CPUs included: autocast without a loss scaler.

mmengine's ``AmpOptimWrapper`` asserts an accelerator (CUDA/NPU/MLU/MUSA) and scales
the loss with ``torch.cuda.amp.GradScaler``. bf16 has fp32's exponent range, so its
gradients need no scaling; what is left of AMP is running the forward pass (model and
losses: mmengine's ``train_step`` runs both inside ``optim_context``) under
``torch.autocast`` on the model's device. mmengine has no such wrapper, so this is
written here; everything else (gradient accumulation, clipping, the optimizer step,
state dicts) is mmengine's ``OptimWrapper``. ``tools/train.py --amp`` picks it on a
CPU and :class:`AmpOptimWrapper` (mmengine's, fp16 with dynamic loss scaling) on a GPU
(:func:`mmconvnext.apis.enable_amp`); a config can name it directly:
``optim_wrapper = dict(type='mmconvnext.AutocastOptimWrapper', dtype='bfloat16', ...)``.

Both let mmcv's NMS and RoIAlign take the half-precision tensors autocast hands them
(:func:`mmconvnext.engine.patch_mmcv_ops_for_autocast`), from the moment a config builds one: importing
mmconvnext leaves mmcv as it is, a run that trains in mixed precision gets the wrappers.
"""

from contextlib import contextmanager
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper as MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper

from mmconvnext.device import cpu_has_native_bf16, cpu_name
from mmconvnext.registry import OPTIM_WRAPPERS

from ..mmcv_ops_amp import patch_mmcv_ops_for_autocast

__all__ = ['AmpOptimWrapper', 'AutocastOptimWrapper']


def _device_type(model: nn.Module) -> str:
    for tensor in model.parameters():
        return tensor.device.type
    return 'cpu'


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass runs under ``torch.autocast(dtype)`` on the
    model's device; no loss scaling, so ``dtype`` is bf16 (fp16 gradients underflow
    without a scaler: use mmengine's ``AmpOptimWrapper`` for fp16, on a GPU).

    Args:
        dtype: ``'bfloat16'`` (or ``torch.bfloat16``).
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs) -> None:
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None) if dtype in ('bfloat16', 'float16') else None
        if dtype != torch.bfloat16:
            raise ValueError(
                f'AutocastOptimWrapper: dtype must be bfloat16 (it has no loss scaler, and fp16 gradients '
                f"underflow without one; fp16 is mmengine's AmpOptimWrapper on a GPU), got {dtype!r}"
            )
        super().__init__(**kwargs)
        self.cast_dtype = dtype
        self._announced = False
        patch_mmcv_ops_for_autocast()  # mixed precision asked for: mmcv's NMS/RoIAlign must take bf16

    def _announce(self, device_type: str) -> None:
        """Say once, in the log, what runs in which precision (and when it will be slow)."""
        self._announced = True
        logger = MMLogger.get_current_instance()
        logger.info(
            f'mixed precision: the forward pass runs under {device_type} autocast to {self.cast_dtype} '
            '(no loss scaling); parameters, gradients and the optimizer stay fp32'
        )
        if device_type == 'cpu' and not cpu_has_native_bf16():
            logger.warning(
                f'mixed precision: this CPU ({cpu_name()}) has no native bf16 instructions '
                '(AVX512-BF16 or AMX-BF16); bf16 products are emulated, so training may be slower '
                'than fp32 here (it still saves activation memory)'
            )

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        device_type = _device_type(model)
        if not self._announced:
            self._announce(device_type)
        with super().optim_context(model), torch.autocast(device_type, dtype=self.cast_dtype):
            yield


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(MMEngineAmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` (same arguments: fp16 with a loss scaler, or ``dtype='bfloat16'``) that
    also lets mmcv's NMS and RoIAlign take the half-precision tensors autocast hands them, as
    :class:`AutocastOptimWrapper` does: mmcv's kernels have no bf16 (and on a CPU no fp16). What
    ``tools/train.py --amp`` picks on a GPU."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        patch_mmcv_ops_for_autocast()
