"""What the analysis tools (get_flops, benchmark, gpu_check, roadmap, erf, cam) and the tests share: timing, synthetic
batches shaped like each task's real ones, the peers' backbones, and the parameter and FLOP count of a config's
model. Tools import these from here, never from one another. (The ONNX export is :mod:`mmconvnext.deploy`'s.)"""

from .backbones import PEERS, pyramid_backbone
from .batches import dummy_batch, fit_heads
from .cam import grad_cam, segmentation_class_maps
from .complexity import DEFAULT_SHAPES, default_shape, model_complexity
from .erf import StageOutputs, accumulate_erf, mass_areas
from .timing import median_time, synchronize

__all__ = [
    'DEFAULT_SHAPES',
    'PEERS',
    'StageOutputs',
    'accumulate_erf',
    'default_shape',
    'dummy_batch',
    'fit_heads',
    'grad_cam',
    'mass_areas',
    'median_time',
    'model_complexity',
    'pyramid_backbone',
    'segmentation_class_maps',
    'synchronize',
]
