"""The ImageNet classifier, its data preprocessor and the batch augmentations of the ConvNeXt recipe.

ConvNeXt ("A ConvNet for the 2020s", Liu et al., CVPR 2022, Appendix A.1) trains on ImageNet with timm's
``rand-m9-mstd0.5-inc1`` RandAugment, random erasing (probability 0.25, ``pixel`` mode), Mixup 0.8 / CutMix 1.0
switched with probability 0.5, and label smoothing 0.1. Those run on whole batches inside
:class:`ClsDataPreprocessor` (on the GPU when there is one) while keeping timm's per-image semantics, one module
each: rand_augment.py, random_erasing.py, mixup_cutmix.py (with :func:`one_hot_smooth`); _checks.py holds their
argument checks.
"""

from .classifier import ConvNeXtClassifier, LinearClsHead, soft_target_cross_entropy
from .data_preprocessor import ClsDataPreprocessor
from .mixup_cutmix import MixupCutmix, one_hot_smooth
from .rand_augment import RandAugment
from .random_erasing import RandomErasing

__all__ = [
    'ClsDataPreprocessor',
    'ConvNeXtClassifier',
    'LinearClsHead',
    'MixupCutmix',
    'RandAugment',
    'RandomErasing',
    'one_hot_smooth',
    'soft_target_cross_entropy',
]
