"""The model wrapper of multi-process training without a GPU (gloo).

mmengine 0.10.7 wraps the model with ``device_ids=[rank]``, which DistributedDataParallel
rejects for CPU modules, and torch's ``SyncBatchNorm`` (what mmdet/mmseg configs call
``SyncBN``) refuses CPU tensors once a process group is up. mmengine has no switch for
either, so a config run by a distributed launcher without CUDA asks for
:class:`CPUDistributedDataParallel` (the tools do so through
:func:`mmconvnext.apis.use_cpu_distributed`, and initialise gloo with
:func:`mmconvnext.apis.setup_cpu_distributed`): mmengine's wrapper without
``device_ids`` whose SyncBN layers all-reduce their statistics over gloo.
"""

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from torch import nn

from mmconvnext.registry import MODEL_WRAPPERS

__all__ = ['CPUDistributedDataParallel', 'CPUSyncBatchNorm', 'convert_sync_batchnorm_for_cpu']


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are reduced over the default process group.

    Written by hand because ``torch.nn.SyncBatchNorm`` (and mmcv's) accept only
    accelerator tensors. Two differentiable all-reduces per call (sum and count, then
    the centred sum of squares), so gradients flow across processes exactly as in
    ``SyncBatchNorm``. Outside training, or without a process group of more than one
    process, it is plain batch norm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f'expected at least a 2D input (N, C, ...), got {input.dim()}D')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        # statistics in fp32 whatever the input (bf16 under --amp): as torch's SyncBatchNorm,
        # whose CUDA kernels accumulate half inputs in fp32; the output keeps x's dtype
        in_dtype, x = x.dtype, x.float()
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = (1, c) + (1,) * (x.dim() - 2)
        count = x.new_full((1,), x.numel() // c)
        total = dist_fn.all_reduce(torch.cat([x.sum(dims), count]))
        n = total[c]
        mean = total[:c] / n
        centred = x - mean.view(shape)
        var = dist_fn.all_reduce((centred * centred).sum(dims)) / n  # biased, as batch norm normalises
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1).clamp(min=1)), alpha=m)
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(in_dtype)


def convert_sync_batchnorm_for_cpu(module: nn.Module) -> nn.Module:
    """Replace every ``torch.nn.SyncBatchNorm`` under ``module`` (in place) by a
    :class:`CPUSyncBatchNorm` sharing its parameters and buffers; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, nn.SyncBatchNorm):
            new = CPUSyncBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            if child.track_running_stats:
                new.running_mean, new.running_var = child.running_mean, child.running_var
                new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_sync_batchnorm_for_cpu(child)
    return module


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper for CPU modules: no ``device_ids``, and SyncBN that works
    over gloo (see :class:`CPUSyncBatchNorm`)."""

    def __init__(self, module: nn.Module, **kwargs):
        kwargs['device_ids'] = None
        num_sync = sum(isinstance(m, nn.SyncBatchNorm) for m in module.modules())
        super().__init__(module=convert_sync_batchnorm_for_cpu(module), **kwargs)
        if num_sync:
            print_log(
                f'CPU DDP: {num_sync} SyncBatchNorm layers synchronise over gloo (CPUSyncBatchNorm)', logger='current'
            )
