from .backbones import ROADMAP_STEPS, ConvNeXt, RoadmapNet
from .layers import GRN, LayerNorm2d

__all__ = ['ConvNeXt', 'GRN', 'LayerNorm2d', 'ROADMAP_STEPS', 'RoadmapNet']
