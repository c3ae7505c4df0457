"""Datasets in the mmconvnext scope. Importing this package imports mmseg and mmdet;
the package root does not import it (the DATASETS registry reaches it lazily by its
location)."""
from .ade20k import ADE20KDataset
from .cls_transforms import PackClsInputs, RandomResizedCrop
from .coco import CocoDataset
from .imagenet import ImageNetDataset, make_glyphs_imagenet, make_shapes_imagenet
from .synthetic import ShapesADE20KDataset, ShapesCocoDataset, make_shapes_coco, make_shapes_dataset

__all__ = ['ADE20KDataset', 'CocoDataset', 'ImageNetDataset', 'PackClsInputs', 'RandomResizedCrop',
           'ShapesADE20KDataset', 'ShapesCocoDataset', 'make_shapes_coco', 'make_shapes_dataset',
           'make_glyphs_imagenet', 'make_shapes_imagenet']
