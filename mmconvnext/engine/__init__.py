"""The registered training parts: the layer-decay optimizer constructor, the CPU autocast optimizer wrapper,
the raw + EMA validation loop, CPU DDP with gloo SyncBN, mmcv's NMS/RoIAlign under autocast, and the
``torch.load`` allow-list of mmengine's checkpoints.

``custom_imports=['mmconvnext']`` loads these; the tools' plumbing (config edits, runner building) lives in
:mod:`mmconvnext.apis`, which nothing here imports.
"""

from .cpu_dist import CPUDistributedDataParallel, CPUSyncBatchNorm, convert_sync_batchnorm_for_cpu
from .loops import RawAndEMAValLoop
from .mmcv_ops_amp import patch_mmcv_ops_for_autocast
from .optimizers import AutocastOptimWrapper, LearningRateDecayOptimizerConstructor
from .safe_globals import MMENGINE_SAFE_GLOBALS, register_safe_globals

__all__ = [
    'AutocastOptimWrapper',
    'CPUDistributedDataParallel',
    'CPUSyncBatchNorm',
    'LearningRateDecayOptimizerConstructor',
    'MMENGINE_SAFE_GLOBALS',
    'RawAndEMAValLoop',
    'convert_sync_batchnorm_for_cpu',
    'patch_mmcv_ops_for_autocast',
    'register_safe_globals',
]
