from .cpu_dist import CPUDistributedDataParallel, CPUSyncBatchNorm, prepare_cpu_distributed
from .launch import build_model, build_runner, distributed_teardown, load_config, set_data_root
from .loops import RawAndEMAValLoop
from .optimizers import LearningRateDecayOptimizerConstructor
from .safe_globals import MMENGINE_SAFE_GLOBALS, register_safe_globals

__all__ = ['CPUDistributedDataParallel', 'CPUSyncBatchNorm', 'LearningRateDecayOptimizerConstructor',
           'MMENGINE_SAFE_GLOBALS', 'RawAndEMAValLoop', 'build_model', 'build_runner', 'distributed_teardown',
           'load_config',
           'prepare_cpu_distributed', 'register_safe_globals', 'set_data_root']
