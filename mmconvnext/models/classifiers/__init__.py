from .augment import MixupCutmix, RandAugment, RandomErasing, one_hot_smooth
from .classifier import ConvNeXtClassifier, LinearClsHead, soft_target_cross_entropy
from .data_preprocessor import ClsDataPreprocessor

__all__ = ['ClsDataPreprocessor', 'ConvNeXtClassifier', 'LinearClsHead', 'MixupCutmix', 'RandAugment',
           'RandomErasing', 'one_hot_smooth', 'soft_target_cross_entropy']
