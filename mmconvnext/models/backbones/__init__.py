from .base import StagedBackbone
from .convnext import ARCH_SETTINGS, ConvNeXt, ConvNeXtBlock
from .roadmap import ROADMAP_STEPS, RoadmapDesign, RoadmapNet, RoadmapStep, roadmap_design, scale_design

__all__ = [
    'ARCH_SETTINGS',
    'ConvNeXt',
    'ConvNeXtBlock',
    'ROADMAP_STEPS',
    'RoadmapDesign',
    'RoadmapNet',
    'RoadmapStep',
    'StagedBackbone',
    'roadmap_design',
    'scale_design',
]
