from . import compute_path, onednn, path_select
from .grn import GRN
from .norm import LayerNorm2d, build_norm_layer

__all__ = ['GRN', 'LayerNorm2d', 'build_norm_layer', 'compute_path', 'onednn', 'path_select']
