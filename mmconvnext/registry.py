"""Child registries of mmengine's root registries, all in the scope ``mmconvnext``.

``type='mmconvnext.ConvNeXt'`` resolves from an mmdet, mmseg or plain mmengine scope
once ``custom_imports=dict(imports=['mmconvnext'])`` ran (or even without it: mmengine
imports ``mmconvnext.registry`` for an unknown scope). Nothing is imported up front:
each registry imports the modules that fill it on its first lookup, and the
classification path (ImageNetDataset, its transforms, the classifier) never imports
mmdet or mmseg.
"""

from importlib import import_module
from typing import Optional

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'DATASETS',
    'HOOKS',
    'LOOPS',
    'METRICS',
    'MODELS',
    'MODEL_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'OPTIM_WRAPPERS',
    'RUNNERS',
    'TRANSFORMS',
    'WEIGHT_INITIALIZERS',
]


class PerNameRegistry(Registry):
    """A registry that imports, on a lookup of ``name``, only the module that defines it.

    mmengine's ``locations`` are all-or-nothing: the first lookup of any name imports
    every location. The datasets cannot share that: ``ADE20KDataset`` imports mmseg and
    ``CocoDataset`` mmdet, which a classification run must not pay for (nor pull in
    their registries and CUDA ops). So a lookup asks ``package`` for the attribute
    ``name``; the package's PEP 562 ``__getattr__`` (:mod:`mmconvnext.datasets`) imports
    the one module that defines it, whose ``@register_module()`` fills this registry.
    Names the package does not know (mmengine's ``ConcatDataset`` ...) fall through to
    the parent registries as usual.

    Args:
        name: the registry's name.
        parent: mmengine's root registry.
        package: the package whose attributes are the registered names.
    """

    def __init__(self, name: str, parent: Registry, package: str) -> None:
        super().__init__(name, parent=parent, scope='mmconvnext')
        self.package = package

    def get(self, key: str) -> Optional[type]:
        scope, name = self.split_scope_key(key)
        if (scope is None or scope == self.scope) and name not in self._module_dict:
            getattr(import_module(self.package), name, None)  # registers ``name`` if the package defines it
        return super().get(key)


# the classifier (and kornia, which its augmentations use) is imported only when looked up
MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    locations=['mmconvnext.models', 'mmconvnext.models.classifiers', 'mmconvnext.models.selfsup'],
)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmconvnext.engine.optimizers'],
)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['mmconvnext.engine.optimizers'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['mmconvnext.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['mmconvnext.engine'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['mmconvnext.evaluation'])
# ade20k.py imports mmseg and coco.py mmdet: each dataset's module is imported on its own lookup
DATASETS = PerNameRegistry('dataset', parent=MMENGINE_DATASETS, package='mmconvnext.datasets')
# only the classification transforms; mmcv registers its own (LoadImageFromFile, RandomFlip,
# Resize, CenterCrop ...) in mmengine's root TRANSFORMS, reached from this scope as the parent
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, locations=['mmconvnext.datasets.cls_transforms'])
# the runner that resumes bit for bit and writes checkpoints atomically, and its reseeding hook
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['mmconvnext.engine.resumable'])
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    locations=[
        'mmconvnext.engine.resumable',
        'mmconvnext.engine.checkpointing',
        'mmconvnext.engine.reconstruction_hook',
    ],
)
# Nothing is registered here, but it must exist: a config with default_scope='mmconvnext' (the
# classification ones) builds its init_cfg weight initializers in this scope, and mmengine's
# Registry.switch_scope_and_registry warns "Failed to search registry with scope "mmconvnext"" on
# every build in a registry tree without an mmconvnext node. Empty, it only hands the lookup on.
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS)
