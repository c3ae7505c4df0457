from .optimizers import LearningRateDecayOptimizerConstructor
from .safe_globals import MMENGINE_SAFE_GLOBALS, register_safe_globals

__all__ = ['LearningRateDecayOptimizerConstructor', 'MMENGINE_SAFE_GLOBALS', 'register_safe_globals']
