"""Datasets in the mmconvnext scope. Importing this package imports mmseg; the package
root does not import it (the DATASETS registry reaches it lazily by its location)."""
from .ade20k import ADE20KDataset
from .synthetic import ShapesADE20KDataset, make_shapes_dataset

__all__ = ['ADE20KDataset', 'ShapesADE20KDataset', 'make_shapes_dataset']
