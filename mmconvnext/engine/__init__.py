from .cpu_dist import CPUDistributedDataParallel, CPUSyncBatchNorm, prepare_cpu_distributed
from .launch import build_model, build_runner, distributed_teardown, enable_amp, load_config, set_data_root
from .loops import RawAndEMAValLoop
from .mmcv_ops_amp import patch_mmcv_ops_for_autocast
from .optimizers import AutocastOptimWrapper, LearningRateDecayOptimizerConstructor
from .safe_globals import MMENGINE_SAFE_GLOBALS, register_safe_globals

__all__ = ['AutocastOptimWrapper', 'CPUDistributedDataParallel', 'CPUSyncBatchNorm',
           'LearningRateDecayOptimizerConstructor', 'MMENGINE_SAFE_GLOBALS', 'RawAndEMAValLoop', 'build_model',
           'build_runner', 'distributed_teardown', 'enable_amp', 'load_config', 'patch_mmcv_ops_for_autocast',
           'prepare_cpu_distributed',
           'register_safe_globals', 'set_data_root']
