"""mmconvnext: ConvNeXt for classification, detection and segmentation on OpenMMLab 2.x.

Importing the package registers its modules in the ``mmconvnext`` scope (the backbone
as ``mmconvnext.ConvNeXt``), allow-lists mmengine's checkpoint state for
``torch.load(weights_only=True)``, lets mmcv's NMS and RoIAlign run under bf16
autocast (:func:`mmconvnext.engine.patch_mmcv_ops_for_autocast`) and makes mmengine's
local file writes atomic (:func:`mmconvnext.engine.register_atomic_local_backend`).
It does not import mmdet or mmseg.
"""

from . import engine, models  # noqa: F401  (registers modules)
from .engine import patch_mmcv_ops_for_autocast, register_atomic_local_backend, register_safe_globals
from .models import ConvNeXt
from .version import __version__

register_safe_globals()
patch_mmcv_ops_for_autocast()
register_atomic_local_backend()

__all__ = ['ConvNeXt', '__version__']
