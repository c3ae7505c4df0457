"""The registered training parts: the layer-decay optimizer constructor, the mixed-precision optimizer
wrappers (which also let mmcv's NMS/RoIAlign run under autocast), the hook that chooses the CPU kernels
before a run and records them, the raw + EMA validation loop, CPU DDP with
gloo SyncBN, the atomic checkpoint hook and the runner whose runs resume bit for bit. Importing them changes
nothing outside the package; each acts when a config (or the tools' runner) builds it.

``custom_imports=['mmconvnext']`` loads these; the tools' plumbing (config edits, runner building) lives in
:mod:`mmconvnext.apis`, which nothing here imports.
"""

from .checkpointing import AtomicCheckpointHook, ResumeError, atomic_backend_args, find_resumable_checkpoint
from .compute_path_hook import ComputePathHook
from .cpu_dist import CPUDistributedDataParallel, CPUSyncBatchNorm, convert_sync_batchnorm_for_cpu
from .loops import RawAndEMAValLoop
from .mmcv_ops_amp import patch_mmcv_ops_for_autocast
from .optimizers import AmpOptimWrapper, AutocastOptimWrapper, LearningRateDecayOptimizerConstructor
from .reconstruction_hook import ReconstructionVisualizationHook
from .resumable import ReseedHook, ResumableRunner

__all__ = [
    'AmpOptimWrapper',
    'AtomicCheckpointHook',
    'AutocastOptimWrapper',
    'ComputePathHook',
    'CPUDistributedDataParallel',
    'CPUSyncBatchNorm',
    'LearningRateDecayOptimizerConstructor',
    'RawAndEMAValLoop',
    'ReconstructionVisualizationHook',
    'ReseedHook',
    'ResumableRunner',
    'ResumeError',
    'atomic_backend_args',
    'convert_sync_batchnorm_for_cpu',
    'find_resumable_checkpoint',
    'patch_mmcv_ops_for_autocast',
]
