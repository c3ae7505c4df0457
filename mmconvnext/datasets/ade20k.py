"""ADE20K (SceneParsing, ADEChallengeData2016) in its standard on-disk layout, with
errors that say what is missing and where the data comes from.

    data/ade/ADEChallengeData2016/images/{training,validation}/*.jpg
    data/ade/ADEChallengeData2016/annotations/{training,validation}/*.png   (0 = unlabelled)
"""

import os.path as osp
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from mmseg.datasets import ADE20KDataset as _MMSegADE20KDataset

from mmconvnext.registry import DATASETS

from .errors import SampleFileErrorsMixin
from .generators import SHAPE_CLASSES, SHAPE_PALETTE

__all__ = ['ADE20KDataset', 'ShapesADE20KDataset']

ADE20K_URL = 'http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip'


@DATASETS.register_module()
class ADE20KDataset(SampleFileErrorsMixin, _MMSegADE20KDataset):
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

    def prepare_data(self, idx: int) -> Any:
        results = super().prepare_data(idx)
        for label_map in _label_maps(results):
            self._check_label_values(idx, label_map)
        return results

    def _check_label_values(self, idx: int, label_map: Any) -> None:
        """A ``ValueError`` naming the label map file when ``label_map`` (as the pipeline loaded it: after
        ``reduce_zero_label`` and the class subset's ``label_map``) holds a value that is neither a class
        index nor the ignore index."""
        num_classes = len(self.metainfo['classes'])
        values = torch.as_tensor(label_map)
        outside = values[(values >= num_classes) & (values != self.ignore_index)]
        if outside.numel() == 0:  # values < 0 cannot occur: label maps are read as uint8
            return
        found = sorted(int(v) for v in torch.unique(outside)[:10])
        path = self.get_data_info(idx).get('seg_map_path')
        valid = f'0..{num_classes - 1} (the {num_classes} classes) or {self.ignore_index} (ignored)'
        if self.reduce_zero_label:
            how = (
                f'with reduce_zero_label=True the file value 0 means "unlabelled" and a value v is class v-1, '
                f'so the file may hold 0..{num_classes} (and {self.ignore_index}); it holds '
                f'{[v + 1 for v in found]}'
            )
        else:
            how = (
                'with reduce_zero_label=False the file values are the class indices; if 0 means "unlabelled" '
                'in these label maps and the classes start at 1, set reduce_zero_label=True'
            )
        raise ValueError(
            f'{type(self).__name__}: label map {path!r} holds class index(es) {found} outside {valid}: {how}'
        )


def _label_maps(results: Any) -> Iterator[Any]:
    """The label maps of a prepared sample: packed (``data_samples.gt_sem_seg``, one sample or the list of
    a test-time augmentation) or not (``gt_seg_map``)."""
    if not isinstance(results, dict):
        return
    if isinstance(results.get('gt_seg_map'), np.ndarray):
        yield results['gt_seg_map']
    samples = results.get('data_samples')
    for sample in samples if isinstance(samples, (list, tuple)) else [samples]:
        seg = getattr(sample, 'gt_sem_seg', None) if sample is not None else None
        if seg is not None and 'data' in seg:
            yield seg.data


@DATASETS.register_module()
class ShapesADE20KDataset(ADE20KDataset):
    """The generated shapes data (:func:`~mmconvnext.datasets.make_shapes_dataset`):
    ADE20K's layout and label convention, five classes."""

    METAINFO = dict(classes=SHAPE_CLASSES, palette=SHAPE_PALETTE)
    SOURCE_HINT = (
        'This is the generated demo dataset: write it with '
        'mmconvnext.datasets.make_shapes_dataset(ROOT) (tools/demo.py does so).'
    )
