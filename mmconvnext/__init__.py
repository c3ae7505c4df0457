"""mmconvnext: ConvNeXt for classification, detection and segmentation on OpenMMLab 2.x.

Importing the package registers its modules in the ``mmconvnext`` scope (the backbone
as ``mmconvnext.ConvNeXt``) and allow-lists mmengine's checkpoint state for
``torch.load(weights_only=True)``. It does not import mmdet or mmseg.
"""
from . import engine, models  # noqa: F401  (registers modules)
from .engine import register_safe_globals
from .models import ConvNeXt
from .version import __version__

register_safe_globals()

__all__ = ['ConvNeXt', '__version__']
