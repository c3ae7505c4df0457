"""ImageNet-style classification data in its two usual on-disk layouts, with errors
that say what is missing or malformed and where.

Written here because mmpretrain (whose ``CustomDataset``/``ImageNet`` this follows)
cannot be imported in this environment; nothing here depends on it or torchvision.

    folder layout:           data/imagenet/train/<class>/<image>      (classes = sorted folders)
    annotation-file layout:  data/imagenet/meta/train.txt  with lines  ``<relative/path> <int label>``
                             (paths relative to data/imagenet/<data_prefix>)

Tiny datasets in this layout come from generators.py (``make_shapes_imagenet``,
``make_glyphs_imagenet``).
"""

import os
import os.path as osp
from typing import Any, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from mmconvnext.registry import DATASETS

from .errors import SampleFileErrorsMixin

__all__ = ['IMG_EXTENSIONS', 'ImageNetDataset']

#: image file extensions of the folder layout (compared case-insensitively)
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')

IMAGENET_URL = 'https://image-net.org/download-images.php'


def _read_class_file(path: str) -> list[str]:
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


@DATASETS.register_module()
class ImageNetDataset(SampleFileErrorsMixin, BaseDataset):
    """An image classification dataset in the ImageNet folder or annotation-file layout.

    Args:
        data_root: the dataset directory, e.g. ``data/imagenet``.
        data_prefix: the image directory relative to ``data_root`` (``'train'``), or
            ``dict(img_path='train')`` as mmengine's ``BaseDataset`` takes it.
        ann_file: an annotation file relative to ``data_root`` (``'meta/train.txt'``)
            whose lines are ``<path relative to the image directory> <int label>``;
            empty (default) for the folder layout ``<image dir>/<class>/<image>``.
        classes: the class names: a list, or the path of a text file with one name a
            line (absolute, or relative to ``data_root``, else to the working
            directory). In the folder layout, names that are all folder names select
            those folders in that order (a subset); otherwise there must be one name
            per folder, given to the sorted folders in order. Default: the sorted
            folder names (folder layout), ``metainfo['classes']`` when given, else
            ``'0'``, ``'1'``, ... up to ``num_classes`` or the largest label.
        num_classes: the expected number of classes: labels must lie in
            ``[0, num_classes)``, and the folder layout must have that many classes.
            Default: ``len(classes)`` when classes are given, else labels are only
            checked to be non-negative.
        **kwargs: ``BaseDataset``'s other arguments (pipeline, test_mode, lazy_init,
            indices, metainfo, ...).

    Each data info is ``dict(img_path=<absolute or data_root-joined path>, gt_label=<int>)``
    (plus ``sample_idx``); ``metainfo['classes']`` is a tuple of names. A missing
    directory, annotation file or annotated image, an empty class folder, a malformed
    annotation line or a label out of range raise ``FileNotFoundError``/``ValueError``
    naming the path (and line); a sample whose image cannot be decoded raises an error
    naming that image.
    """

    METAINFO: dict = dict()
    SOURCE_HINT = (
        f'ImageNet-1k (ILSVRC2012) comes from {IMAGENET_URL}; lay it out as '
        'data/imagenet/train/<class>/<image> and data/imagenet/val/<class>/<image> '
        '(e.g. train/n01440764/n01440764_10026.JPEG), '
        'or give ann_file=meta/train.txt with lines "<relative/path> <label>", '
        'or point the config at your copy with --data-root DIR (tools/train.py, tools/test.py)'
    )

    def __init__(
        self,
        data_root: str = '',
        data_prefix: Union[str, dict] = '',
        ann_file: str = '',
        classes: Union[None, str, Sequence[str]] = None,
        num_classes: Optional[int] = None,
        metainfo: Optional[dict] = None,
        lazy_init: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        elif isinstance(data_prefix, dict):
            data_prefix = dict(data_prefix)
            if 'img_path' not in data_prefix:
                if 'img' not in data_prefix and data_prefix:
                    raise ValueError(
                        f'{type(self).__name__}: data_prefix={data_prefix!r} has no "img_path" key '
                        "(expected a directory string or dict(img_path='train'))"
                    )
                data_prefix['img_path'] = data_prefix.pop('img', '')
        else:
            raise TypeError(
                f'{type(self).__name__}: data_prefix must be a str or dict(img_path=...), '
                f'got {type(data_prefix).__name__}'
            )
        if num_classes is not None and (not isinstance(num_classes, (int, np.integer)) or num_classes <= 0):
            raise ValueError(f'{type(self).__name__}: num_classes must be a positive int, got {num_classes!r}')
        self.num_classes = None if num_classes is None else int(num_classes)
        self._given_classes = self._resolve_classes(classes, data_root)
        if self._given_classes is None and metainfo and metainfo.get('classes') is not None:
            given = metainfo['classes']
            self._given_classes = self._resolve_classes(given, data_root) if isinstance(given, str) else list(given)
        if self._given_classes is not None:
            if len(set(self._given_classes)) != len(self._given_classes):
                raise ValueError(f'{type(self).__name__}: classes contain duplicates: {self._given_classes!r}')
            if self.num_classes is not None and self.num_classes != len(self._given_classes):
                raise ValueError(
                    f'{type(self).__name__}: num_classes={self.num_classes} but '
                    f'{len(self._given_classes)} classes were given'
                )
            metainfo = dict(metainfo or {}, classes=tuple(self._given_classes))
        super().__init__(
            ann_file=ann_file, metainfo=metainfo, data_root=data_root, data_prefix=data_prefix, lazy_init=True, **kwargs
        )
        if self._given_classes is None and self.num_classes is not None and self.ann_file:
            self._metainfo['classes'] = tuple(str(i) for i in range(self.num_classes))
        if not lazy_init:
            self.full_init()
        elif not self.ann_file and 'classes' not in self._metainfo:
            try:  # cheap: the class names without scanning the images
                self._metainfo['classes'] = tuple(name for name, _ in self._class_folders())
            except (FileNotFoundError, ValueError):
                pass  # raised again by full_init

    # ------------------------------------------------------------------ helpers
    def _resolve_classes(self, classes: Union[None, str, Sequence[str]], data_root: str) -> Optional[list[str]]:
        if classes is None:
            return None
        if isinstance(classes, str):
            tried = (
                [classes] if osp.isabs(classes) else ([osp.join(data_root, classes)] if data_root else []) + [classes]
            )
            for path in tried:
                if osp.isfile(path):
                    names = _read_class_file(path)
                    if not names:
                        raise ValueError(
                            f'{type(self).__name__}: class file {path!r} is empty (expected one class name a line)'
                        )
                    return names
            raise FileNotFoundError(
                f'{type(self).__name__}: class file {classes!r} not found (tried '
                f'{" and ".join(map(repr, tried))}; expected a text file with one class name '
                'a line, or pass classes as a list)'
            )
        names = [str(c) for c in classes]
        if not names:
            raise ValueError(f'{type(self).__name__}: classes is empty')
        return names

    @property
    def img_dir(self) -> str:
        """The image directory (``data_root`` joined with the image prefix)."""
        return self.data_prefix.get('img_path', '') or self.data_root or '.'

    def _missing(self, what: str, path: str) -> FileNotFoundError:
        return FileNotFoundError(
            f'{type(self).__name__}: dataset not found, missing {what} {path!r} '
            f'(data_root={self.data_root!r}). {self.SOURCE_HINT}'
        )

    def _class_folders(self) -> list[tuple[str, str]]:
        """``[(class name, folder path)]`` of the folder layout, in label order."""
        name = type(self).__name__
        img_dir = self.img_dir
        if not osp.isdir(img_dir):
            raise self._missing('image directory', img_dir)
        folders = sorted(d for d in os.listdir(img_dir) if not d.startswith('.') and osp.isdir(osp.join(img_dir, d)))
        if not folders:
            raise FileNotFoundError(
                f'{name}: no class folders in {img_dir!r} (expected {img_dir}/<class>/<image>, '
                'e.g. train/n01440764/n01440764_10026.JPEG; for a flat folder of images give '
                f'an annotation file with ann_file). {self.SOURCE_HINT}'
            )
        given = self._given_classes
        if given is None:
            pairs = [(f, f) for f in folders]
        elif all(c in folders for c in given):
            pairs = [(c, c) for c in given]  # a selection of folders, in the order given
        elif len(given) == len(folders):
            pairs = list(zip(given, folders))  # names for the sorted folders
        else:
            raise ValueError(
                f'{name}: {len(given)} classes were given but {img_dir!r} has {len(folders)} class '
                f'folders and not all given names are among them (e.g. '
                f'{[c for c in given if c not in folders][:3]}); give one name per folder or '
                'folder names'
            )
        if self.num_classes is not None and self.num_classes != len(pairs):
            raise ValueError(
                f'{name}: num_classes={self.num_classes} but {img_dir!r} has {len(pairs)} class '
                f'folders{" selected by classes" if given is not None else ""}'
            )
        return [(cls, osp.join(img_dir, folder)) for cls, folder in pairs]

    # ------------------------------------------------------------------ loading
    def load_data_list(self) -> list[dict]:
        if self.ann_file:
            return self._load_annotation_file()
        return self._load_folders()

    def _load_folders(self) -> list[dict]:
        pairs = self._class_folders()
        data_list = []
        for label, (_, folder) in enumerate(pairs):
            files = []
            for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
                files.extend(osp.join(dirpath, f) for f in filenames if f.lower().endswith(IMG_EXTENSIONS))
            if not files:
                raise FileNotFoundError(
                    f'{type(self).__name__}: class folder {folder!r} holds no images (expected '
                    f'files with one of the extensions {", ".join(IMG_EXTENSIONS)}, '
                    'in it or its subfolders)'
                )
            data_list.extend(dict(img_path=f, gt_label=label) for f in sorted(files))
        if self._given_classes is None:
            self._metainfo['classes'] = tuple(cls for cls, _ in pairs)
        return data_list

    def _load_annotation_file(self) -> list[dict]:
        name = type(self).__name__
        ann_file = self.ann_file
        if not osp.isfile(ann_file):
            raise self._missing('annotation file', ann_file)
        img_dir = self.data_prefix.get('img_path', '')
        if img_dir and not osp.isdir(img_dir):
            raise self._missing('image directory', img_dir)
        upper = (
            self.num_classes
            if self.num_classes is not None
            else (len(self._given_classes) if self._given_classes is not None else None)
        )
        expected = f'[0, {upper})' if upper is not None else 'a non-negative int'
        data_list, missing = [], []
        with open(ann_file, encoding='utf-8') as f:
            for lineno, line in enumerate(f, start=1):
                line = line.strip()
                if not line:
                    continue
                parts = line.rsplit(maxsplit=1)
                try:
                    if len(parts) != 2:
                        raise ValueError
                    label = int(parts[1])
                except ValueError:
                    raise ValueError(
                        f'{name}: {ann_file!r}, line {lineno}: expected "<relative/image/path> <int '
                        f'label>", got {line!r}'
                    ) from None
                if label < 0 or (upper is not None and label >= upper):
                    source = (
                        ''
                        if upper is None
                        else f' (num_classes={upper})'
                        if self.num_classes is not None
                        else f' ({upper} classes given)'
                    )
                    raise ValueError(
                        f'{name}: {ann_file!r}, line {lineno}: label {label} is out of range, expected '
                        f'{expected}{source}'
                    )
                path = osp.join(img_dir, parts[0])
                if not osp.isfile(path):
                    missing.append((lineno, path))
                data_list.append(dict(img_path=path, gt_label=label))
        if missing:
            where = ', '.join(f'{p!r} (line {n})' for n, p in missing[:3])
            raise FileNotFoundError(
                f'{name}: {len(missing)} image(s) listed in {ann_file!r} do not exist, e.g. '
                f'{where} (paths are relative to the image directory {img_dir!r})'
            )
        if not data_list:
            raise ValueError(
                f'{name}: annotation file {ann_file!r} lists no images (expected lines '
                '"<relative/image/path> <int label>")'
            )
        if 'classes' not in self._metainfo:
            count = max(d['gt_label'] for d in data_list) + 1
            self._metainfo['classes'] = tuple(str(i) for i in range(count))
        return data_list

    # ------------------------------------------------------------------ queries
    def get_gt_labels(self) -> np.ndarray:
        """The labels of all samples, an int64 array."""
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))], dtype=np.int64)

    def get_cat_ids(self, idx: int) -> list[int]:
        """The class of sample ``idx`` as a list (mmengine's ``ClassBalancedDataset`` uses it)."""
        return [int(self.get_data_info(idx)['gt_label'])]
