from .autocast_optim_wrapper import AutocastOptimWrapper
from .layer_decay_optim_wrapper_constructor import LearningRateDecayOptimizerConstructor

__all__ = ['AutocastOptimWrapper', 'LearningRateDecayOptimizerConstructor']
