"""Semantic segmentation on a user's own images and label maps: the common folder layout.

    DIR/images/{train,val}/<name>.jpg|png|...      any image format cv2 reads, mixed suffixes allowed
    DIR/annotations/{train,val}/<name>.png         class indices 0..K-1 (grey or palette PNG), 255 ignored

The label maps are read as indices (mmseg's ``LoadAnnotations`` with PIL), never as colours, so a palette
PNG whose colours differ from the dataset's palette still holds the right classes. ``reduce_zero_label=True``
takes ADE20K's convention instead (0 unlabelled, value v is class v-1).
"""

import os
import os.path as osp

from mmseg.datasets import BaseSegDataset

from mmconvnext.registry import DATASETS

from .errors import SampleFileErrorsMixin, SegLabelValuesMixin
from .imagenet import IMG_EXTENSIONS

__all__ = ['SegFolderDataset']


@DATASETS.register_module()
class SegFolderDataset(SegLabelValuesMixin, SampleFileErrorsMixin, BaseSegDataset):
    """mmseg's ``BaseSegDataset`` over the own-data layout above, with errors that name the paths.

    The classes come from ``metainfo=dict(classes=(...))`` (``tools/train.py --classes`` sets them); each
    image ``<name>.<any image suffix>`` pairs with ``<name>.png`` in the annotation directory. A missing
    directory, no images, or images without a label map raise a ``FileNotFoundError`` naming them; label
    values outside the classes and label maps of another size than their image raise errors naming the file.
    """

    METAINFO: dict = dict()

    def __init__(self, *args, seg_map_suffix: str = '.png', **kwargs) -> None:
        super().__init__(*args, seg_map_suffix=seg_map_suffix, **kwargs)

    def load_data_list(self) -> list[dict]:
        name = type(self).__name__
        if not self.metainfo.get('classes'):
            raise ValueError(
                f'{name}: no classes: give metainfo=dict(classes=(...)) (tools/train.py --classes NAME ... '
                'or --classes-file FILE), the names of the label indices 0..K-1 in order'
            )
        img_dir = self.data_prefix.get('img_path', '')
        ann_dir = self.data_prefix.get('seg_map_path', '')
        missing = [d for d in (img_dir, ann_dir) if not osp.isdir(d)]
        if missing:
            raise FileNotFoundError(
                f'{name}: missing directory {" and ".join(map(repr, missing))} (data_root={self.data_root!r}; '
                'expected DIR/images/{train,val}/ and DIR/annotations/{train,val}/)'
            )
        images = sorted(f for f in os.listdir(img_dir) if f.lower().endswith(IMG_EXTENSIONS))
        if not images:
            raise FileNotFoundError(
                f'{name}: no images in {img_dir!r} (expected files ending {", ".join(IMG_EXTENSIONS)})'
            )
        data_list, unpaired = [], []
        for f in images:
            seg = osp.join(ann_dir, osp.splitext(f)[0] + self.seg_map_suffix)
            if not osp.isfile(seg):
                unpaired.append(f)
                continue
            data_list.append(
                dict(
                    img_path=osp.join(img_dir, f),
                    seg_map_path=seg,
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[],
                )
            )
        if unpaired:
            raise FileNotFoundError(
                f'{name}: {len(unpaired)} of {len(images)} images in {img_dir!r} have no label map, e.g. '
                f'{unpaired[:3]} (each image <name>.<suffix> needs {ann_dir}/<name>{self.seg_map_suffix})'
            )
        return data_list
