from .backbones import ConvNeXt
from .layers import GRN, LayerNorm2d

__all__ = ['ConvNeXt', 'GRN', 'LayerNorm2d']
