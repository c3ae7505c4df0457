"""Datasets, classification transforms and data generators in the mmconvnext scope.

Every public name is importable from here (``from mmconvnext.datasets import
make_shapes_dataset``), but importing this package imports none of its modules: a
name's module is imported when the name is first asked for (PEP 562 ``__getattr__``).
That keeps classification free of mmdet and mmseg: ``ImageNetDataset``, the
transforms and the generators need neither, while ``ADE20KDataset`` (mmseg) and
``CocoDataset`` (mmdet) import their library only when they are used. The DATASETS
registry in :mod:`mmconvnext.registry` resolves ``type='mmconvnext.<name>'`` through
the same table.
"""

from importlib import import_module
from typing import Any

#: public name -> the module (of this package) that defines it
_MODULE_OF = {
    'ADE20KDataset': 'ade20k',
    'ShapesADE20KDataset': 'ade20k',
    'CocoDataset': 'coco',
    'ShapesCocoDataset': 'coco',
    'ImageNetDataset': 'imagenet',
    'PackClsInputs': 'cls_transforms',
    'RandomResizedCrop': 'cls_transforms',
    'SegFolderDataset': 'seg_folder',
    'make_glyphs_imagenet': 'generators',
    'make_photo_coco': 'photos',
    'make_photo_folders': 'photos',
    'make_photo_seg': 'photos',
    'make_shapes_coco': 'generators',
    'make_shapes_coco_panoptic': 'generators',
    'make_shapes_dataset': 'generators',
    'make_shapes_imagenet': 'generators',
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(import_module(f'{__name__}.{module}'), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))
