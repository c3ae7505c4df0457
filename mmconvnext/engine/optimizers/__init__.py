from .autocast_optim_wrapper import AmpOptimWrapper, AutocastOptimWrapper
from .layer_decay_optim_wrapper_constructor import LearningRateDecayOptimizerConstructor

__all__ = ['AmpOptimWrapper', 'AutocastOptimWrapper', 'LearningRateDecayOptimizerConstructor']
