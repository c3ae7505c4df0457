"""Child registries of mmengine's root registries.

Every registry here has the scope ``mmconvnext`` and lazily imports its ``locations``
on first lookup, so ``type='mmconvnext.ConvNeXt'`` resolves from an mmdet, mmseg or
plain mmengine scope once ``custom_imports=dict(imports=['mmconvnext'])`` ran (or even
without it: mmengine imports ``mmconvnext.registry`` for an unknown scope).
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = ['DATASETS', 'MODELS', 'MODEL_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'WEIGHT_INITIALIZERS']

MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['mmconvnext.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmconvnext.engine.optimizers'],
)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['mmconvnext.models']
)
# the datasets import mmseg/mmdet, so they are reached only through this lazy location
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['mmconvnext.datasets'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['mmconvnext.engine'])
