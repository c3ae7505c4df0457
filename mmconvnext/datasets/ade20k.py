"""ADE20K (SceneParsing, ADEChallengeData2016) in its standard on-disk layout, with
errors that say what is missing and where the data comes from.

    data/ade/ADEChallengeData2016/images/{training,validation}/*.jpg
    data/ade/ADEChallengeData2016/annotations/{training,validation}/*.png   (0 = unlabelled)
"""

import os.path as osp

from mmseg.datasets import ADE20KDataset as _MMSegADE20KDataset

from mmconvnext.registry import DATASETS

from .errors import SampleFileErrorsMixin, SegLabelValuesMixin
from .generators import SHAPE_CLASSES, SHAPE_PALETTE

__all__ = ['ADE20KDataset', 'ShapesADE20KDataset']

ADE20K_URL = 'http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip'


@DATASETS.register_module()
class ADE20KDataset(SegLabelValuesMixin, SampleFileErrorsMixin, _MMSegADE20KDataset):
    """mmseg's ``ADE20KDataset`` (150 classes, ``reduce_zero_label``) that checks its layout.

    A missing directory, an empty image directory or images without annotations raise a
    ``FileNotFoundError`` naming the paths expected; a sample whose image or label map
    cannot be decoded raises an error naming that file; a label map with values outside the
    classes (after ``reduce_zero_label``) raises a ``ValueError`` naming the file and the values,
    where the loss would fail on an unnamed "Target 8 is out of bounds" (a device-side assert on
    a GPU) and the IoU metric would count nothing for them.
    """

    #: how to obtain the data, appended to the missing-dataset message
    SOURCE_HINT = (
        f'ADE20K comes from {ADE20K_URL} (the MIT Scene Parsing benchmark): unzip it into data/ade/ '
        'so that data/ade/ADEChallengeData2016/{images,annotations}/{training,validation} exist, '
        'or point the config at your copy with --data-root DIR (tools/train.py, tools/test.py)'
    )

    def load_data_list(self) -> list[dict]:
        img_dir = self.data_prefix.get('img_path')
        ann_dir = self.data_prefix.get('seg_map_path')
        missing = [d for d in (img_dir, ann_dir) if d and not osp.isdir(d)]
        if missing:
            raise FileNotFoundError(
                f'{type(self).__name__}: dataset not found, missing directory '
                f'{" and ".join(map(repr, missing))} (data_root={self.data_root!r}). '
                f'{self.SOURCE_HINT}'
            )
        data_list = super().load_data_list()
        if not data_list:
            raise FileNotFoundError(
                f'{type(self).__name__}: no *{self.img_suffix} images in {img_dir!r}. {self.SOURCE_HINT}'
            )
        unpaired = [d['seg_map_path'] for d in data_list if 'seg_map_path' in d and not osp.isfile(d['seg_map_path'])]
        if unpaired:
            raise FileNotFoundError(
                f'{type(self).__name__}: {len(unpaired)} of {len(data_list)} images have no '
                f'label map, e.g. {unpaired[:3]} (each image <name>{self.img_suffix} needs '
                f'{ann_dir}/<name>{self.seg_map_suffix})'
            )
        return data_list


@DATASETS.register_module()
class ShapesADE20KDataset(ADE20KDataset):
    """The generated shapes data (:func:`~mmconvnext.datasets.make_shapes_dataset`):
    ADE20K's layout and label convention, five classes."""

    METAINFO = dict(classes=SHAPE_CLASSES, palette=SHAPE_PALETTE)
    SOURCE_HINT = (
        'This is the generated demo dataset: write it with '
        'mmconvnext.datasets.make_shapes_dataset(ROOT) (tools/demo.py does so).'
    )
