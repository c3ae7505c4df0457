"""COCO 2017 instance segmentation in its standard layout, with errors that say what
is missing or malformed and where the data comes from.

    data/coco/annotations/instances_{train,val}2017.json
    data/coco/{train,val}2017/*.jpg
"""

import json
import numbers
import os.path as osp
from typing import Optional, Union

from mmdet.datasets import CocoDataset as _MMDetCocoDataset
from mmdet.datasets.api_wrappers import COCO as _MMDetCOCO

from mmconvnext.registry import DATASETS

from .errors import SampleFileErrorsMixin
from .generators import SHAPE_CLASSES, SHAPE_PALETTE

__all__ = ['CocoDataset', 'ShapesCocoDataset', 'coco_annotation_problem']

COCO_URL = 'https://cocodataset.org/#download'


def coco_annotation_problem(path: str) -> Optional[str]:
    """The first thing wrong with COCO annotation file ``path`` (None when nothing is
    found): invalid JSON, missing lists, or an image / annotation / category entry
    without its required fields, with a bad box, or pointing at an unknown id."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        return f'not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})'
    except (OSError, UnicodeDecodeError) as e:
        return f'cannot be read ({e})'
    if not isinstance(data, dict):
        return f'the top level is a {type(data).__name__}, expected an object with images/annotations/categories'
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            return f"no '{key}' list at the top level"
    required = {
        'images': ('id', 'file_name', 'width', 'height'),
        'categories': ('id', 'name'),
        'annotations': ('id', 'image_id', 'category_id', 'bbox'),
    }
    for key, fields in required.items():
        for i, entry in enumerate(data[key]):
            missing = [f for f in fields if not isinstance(entry, dict) or f not in entry]
            if missing:
                return f'{key}[{i}] lacks {missing}'
    image_ids = {img['id'] for img in data['images']}
    category_ids = {cat['id'] for cat in data['categories']}
    for i, ann in enumerate(data['annotations']):
        where = f'annotations[{i}] (id {ann["id"]})'
        bbox = ann['bbox']
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, numbers.Number) for v in bbox)):
            return f'{where}: bbox {bbox!r} is not [x, y, width, height]'
        if bbox[2] < 0 or bbox[3] < 0:
            return f'{where}: bbox {bbox!r} has a negative width or height'
        if ann['image_id'] not in image_ids:
            return f'{where}: image_id {ann["image_id"]!r} is not among the images'
        if ann['category_id'] not in category_ids:
            return f'{where}: category_id {ann["category_id"]!r} is not among the categories'
        seg = ann.get('segmentation')
        if seg is not None and not isinstance(seg, (list, dict)):
            return f'{where}: segmentation is a {type(seg).__name__}, expected polygons (list) or RLE (dict)'
    return None


class _CheckedCOCO(_MMDetCOCO):
    """mmdet's COCO API that refuses annotations of images the file does not list: pycocotools indexes them
    under their unknown image id and the dataset never asks for that id, so they would be dropped without a
    word. The ``ValueError`` becomes :class:`CocoDataset`'s error naming the file and the annotation."""

    def createIndex(self) -> None:  # pycocotools' name
        super().createIndex()
        orphans = [ann for ann in self.anns.values() if ann.get('image_id') not in self.imgs]
        if orphans:
            raise ValueError(
                f'{len(orphans)} annotation(s) refer to an image id that is not among the images, '
                f'e.g. annotation id {orphans[0].get("id")!r}: image_id {orphans[0].get("image_id")!r}'
            )


@DATASETS.register_module()
class CocoDataset(SampleFileErrorsMixin, _MMDetCocoDataset):
    """mmdet's ``CocoDataset`` (80 classes) that checks its files.

    A missing annotation file or image directory raises a ``FileNotFoundError`` naming
    the path expected and where COCO comes from; an annotation file that cannot be
    parsed raises a ``ValueError`` naming the file and its first problem (an annotation of an image or a
    category the file does not list included); a file that lists no images, or none left after
    ``filter_cfg``, raises a ``ValueError`` saying so; a sample whose image cannot be decoded raises an
    error naming the image.
    """

    COCOAPI = _CheckedCOCO

    SOURCE_HINT = (
        f'COCO 2017 comes from {COCO_URL} ("2017 Train images", "2017 Val images", '
        '"2017 Train/Val annotations"): unzip them into data/coco/ so that '
        'data/coco/annotations/instances_{train,val}2017.json, data/coco/train2017/ and '
        'data/coco/val2017/ exist, or point the config at your copy with --data-root DIR'
    )

    def load_data_list(self) -> list[dict]:
        name = type(self).__name__
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{name}: annotation file {self.ann_file!r} not found '
                f'(data_root={self.data_root!r}). {self.SOURCE_HINT}'
            )
        img_dir = self.data_prefix.get('img')
        if img_dir and not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'{name}: image directory {img_dir!r} not found (data_root={self.data_root!r}). {self.SOURCE_HINT}'
            )
        try:
            data_list = super().load_data_list()
        except Exception as e:
            problem = coco_annotation_problem(self.ann_file) or f'{type(e).__name__}: {e}'
            raise ValueError(f'{name}: malformed COCO annotation file {self.ann_file!r}: {problem}') from e
        if not data_list:  # else mmengine fails later with "need at least one array to concatenate"
            problem = coco_annotation_problem(self.ann_file) or "its 'images' list is empty"
            raise ValueError(f'{name}: COCO annotation file {self.ann_file!r} lists no images ({problem})')
        return data_list

    def filter_data(self) -> list[dict]:
        kept = super().filter_data()
        if self.data_list and not kept:
            classes = tuple(self.metainfo.get('classes', ()))
            why = (
                f'none of the classes {classes} is a category name of the file'
                if not self.cat_ids
                else 'filter_empty_gt drops images without annotations of the classes, min_size smaller images'
            )
            raise ValueError(
                f'{type(self).__name__}: none of the {len(self.data_list)} images of {self.ann_file!r} is left '
                f'after filter_cfg={self.filter_cfg} ({why})'
            )
        return kept

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, list[dict]]:
        # mmdet skips annotations of unknown categories without a word; they are errors
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('category_id') not in self.coco.cats:
                raise ValueError(
                    f'annotation id {ann.get("id")}: category_id {ann.get("category_id")!r} is not among the categories'
                )
        return super().parse_data_info(raw_data_info)


@DATASETS.register_module()
class ShapesCocoDataset(CocoDataset):
    """The generated shapes (:func:`~mmconvnext.datasets.make_shapes_coco`) as COCO
    instance segmentation: four categories."""

    METAINFO = dict(classes=SHAPE_CLASSES[1:], palette=[tuple(c) for c in SHAPE_PALETTE[1:]])
    SOURCE_HINT = (
        'This is the generated demo dataset: write it with '
        'mmconvnext.datasets.make_shapes_coco(ROOT) (tools/demo.py --task det does so).'
    )
