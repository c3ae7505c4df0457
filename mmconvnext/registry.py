"""Child registries of mmengine's root registries.

Every registry here has the scope ``mmconvnext`` and lazily imports its ``locations``
on first lookup, so ``type='mmconvnext.ConvNeXt'`` resolves from an mmdet, mmseg or
plain mmengine scope once ``custom_imports=dict(imports=['mmconvnext'])`` ran (or even
without it: mmengine imports ``mmconvnext.registry`` for an unknown scope).
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = ['DATASETS', 'HOOKS', 'LOOPS', 'METRICS', 'MODELS', 'MODEL_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
           'OPTIM_WRAPPERS', 'TRANSFORMS', 'WEIGHT_INITIALIZERS']

# the classifier (and kornia, which its augmentations use) is imported only when looked up
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['mmconvnext.models', 'mmconvnext.models.classifiers'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmconvnext.engine.optimizers'],
)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['mmconvnext.engine.optimizers'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['mmconvnext.models']
)
# the datasets import mmseg/mmdet, so they are reached only through this lazy location
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['mmconvnext.datasets'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['mmconvnext.engine'])
# mmcv registers its transforms (LoadImageFromFile, RandomFlip, Resize, CenterCrop ...)
# in mmengine's root TRANSFORMS, so the classification configs reach them from this scope
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, locations=['mmconvnext.datasets'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['mmconvnext.evaluation'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['mmconvnext.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['mmconvnext.engine'])
