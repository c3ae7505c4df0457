"""The registered training parts: the layer-decay optimizer constructor, the CPU autocast optimizer wrapper,
the raw + EMA validation loop, CPU DDP with gloo SyncBN, mmcv's NMS/RoIAlign under autocast, the
``torch.load`` allow-list of mmengine's checkpoints, atomic checkpoint writes and the runner whose runs
resume bit for bit.

``custom_imports=['mmconvnext']`` loads these; the tools' plumbing (config edits, runner building) lives in
:mod:`mmconvnext.apis`, which nothing here imports.
"""

from .checkpointing import AtomicCheckpointHook, ResumeError, find_resumable_checkpoint, register_atomic_local_backend
from .cpu_dist import CPUDistributedDataParallel, CPUSyncBatchNorm, convert_sync_batchnorm_for_cpu
from .loops import RawAndEMAValLoop
from .mmcv_ops_amp import patch_mmcv_ops_for_autocast
from .optimizers import AutocastOptimWrapper, LearningRateDecayOptimizerConstructor
from .reconstruction_hook import ReconstructionVisualizationHook
from .resumable import ReseedHook, ResumableRunner
from .safe_globals import MMENGINE_SAFE_GLOBALS, register_safe_globals

__all__ = [
    'AtomicCheckpointHook',
    'AutocastOptimWrapper',
    'CPUDistributedDataParallel',
    'CPUSyncBatchNorm',
    'LearningRateDecayOptimizerConstructor',
    'MMENGINE_SAFE_GLOBALS',
    'RawAndEMAValLoop',
    'ReconstructionVisualizationHook',
    'ReseedHook',
    'ResumableRunner',
    'ResumeError',
    'convert_sync_batchnorm_for_cpu',
    'find_resumable_checkpoint',
    'patch_mmcv_ops_for_autocast',
    'register_atomic_local_backend',
    'register_safe_globals',
]
