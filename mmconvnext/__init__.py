"""mmconvnext: ConvNeXt for classification, detection and segmentation on OpenMMLab 2.x.

Importing the package registers its modules in the ``mmconvnext`` scope (the backbone as
``mmconvnext.ConvNeXt``) and does nothing else: no other library's state changes. What used to be done
at import is now done by the parts that need it, which a config names:

- atomic checkpoint writes: :class:`mmconvnext.engine.AtomicCheckpointHook` (the tools' runner,
  :class:`mmconvnext.engine.ResumableRunner`, makes one of every config's ``CheckpointHook``; a config of
  your own names it as ``default_hooks.checkpoint.type='mmconvnext.AtomicCheckpointHook'``);
- mmcv's NMS and RoIAlign under bf16 autocast: the mixed-precision optimizer wrappers
  (``mmconvnext.AutocastOptimWrapper``, ``mmconvnext.AmpOptimWrapper``, what ``--amp`` picks) when built;
- ``torch.load(weights_only=True)`` of mmengine's checkpoints: the checkpoint reader and the runner pass
  their allow-list at load time (:func:`mmconvnext.engine.safe_loading`).

It does not import mmdet or mmseg.
"""

from . import engine, models  # noqa: F401  (registers modules)
from .models import ConvNeXt
from .version import __version__

__all__ = ['ConvNeXt', '__version__']
