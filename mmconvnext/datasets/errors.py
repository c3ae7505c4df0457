"""Errors that name the file at fault, for every dataset of the project.

:class:`SampleFileErrorsMixin` turns a failure while a sample is prepared into one error that names the
sample's files and the remedy (or, with ``skip_bad_samples=True`` in the dataset's config, skips the
sample in training and counts it in the log); it also checks, right after the pipeline loads them, that
a sample's label map and masks have their image's size. :class:`SegLabelValuesMixin` refuses label map
values outside the classes. mmengine and the OpenMMLab datasets raise whatever cv2/PIL raised, from
inside a dataloader worker, without a file name: that is what these add.
"""

import os.path as osp
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

__all__ = ['BadSampleError', 'SampleFileErrorsMixin', 'SegLabelValuesMixin', 'exif_orientation', 'unreadable_image']

#: what to do about a bad sample, appended to its error
REMEDY = (
    'fix or remove the file (tools/dataset_check.py CONFIG --data-root DIR lists every such problem), or set '
    'skip_bad_samples=True in the dataset config to skip such samples in training'
)


class BadSampleError(RuntimeError):
    """A sample that cannot be prepared; the message names its files."""


def exif_orientation(path: str) -> int:
    """The EXIF orientation tag of image ``path`` (1, the default, when there is none or it is unreadable).
    cv2, which loads the images for training, applies it; label maps read with PIL are not rotated."""
    try:
        from PIL import Image

        with Image.open(path) as img:
            return int(img.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, TypeError):
        return 1


def unreadable_image(path: str) -> str:
    """Why ``path`` cannot be read as an image ('' when it can)."""
    if not osp.isfile(path):
        return 'file not found'
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        return f'cannot read the file ({e.strerror})'
    if data.size == 0:
        return 'empty file'
    if cv2.imdecode(data, cv2.IMREAD_UNCHANGED) is None:
        return 'not a decodable image (corrupt or truncated?)'
    return ''


class _SizeCheck:
    """A step put after each ``Load*`` transform of a dataset's pipeline: a label map of another size than its
    image as decoded (``ori_shape``, before any resize or crop) is refused, naming both files and the EXIF
    orientation when that is the cause, instead of failing later inside a crop or the loss without a name,
    or training on labels that do not line up. (mmdet draws instance masks at the decoded size itself.)"""

    def __call__(self, results: dict) -> dict:
        labels = results.get('gt_seg_map')
        shape = results.get('ori_shape')
        if not isinstance(labels, np.ndarray) or shape is None:
            return results
        seg = results.get('seg_map_path', 'its label map')
        if labels.ndim != 2:
            raise ValueError(
                f'label map {seg} has shape {labels.shape}: label PNGs hold one class index per pixel '
                '(a grey or palette PNG), not colours'
            )
        img = tuple(int(v) for v in shape[:2])
        if labels.shape != img:
            path = results.get('img_path', '?')
            turned = exif_orientation(path) if isinstance(path, str) else 1
            why = (
                f' (its EXIF orientation {turned} rotates the image when it is decoded: save the image '
                'without the orientation tag, or turn its labels with it)'
                if turned in (5, 6, 7, 8)
                else ''
            )
            raise ValueError(
                f'image {path} is {img[0]}x{img[1]} but its label map {seg} is {labels.shape[0]}x{labels.shape[1]}{why}'
            )
        return results

    def __repr__(self) -> str:
        return 'SizeCheck()'


class SampleFileErrorsMixin:
    """Put before an mmengine ``BaseDataset`` subclass: an exception while a sample is
    prepared becomes one :class:`BadSampleError` naming the sample's unreadable file(s) (the keys of its
    data info that end with ``_path``), the original exception and the remedy.

    Args:
        skip_bad_samples: in training (not ``test_mode``), skip such a sample instead: it is logged with
            the count so far, and mmengine's ``BaseDataset`` draws another sample in its place. Default
            False: the first bad sample stops the run.
    """

    def __init__(self, *args: Any, skip_bad_samples: bool = False, **kwargs: Any) -> None:
        self.skip_bad_samples = bool(skip_bad_samples)
        self.bad_samples_skipped = 0
        super().__init__(*args, **kwargs)

    def _add_size_checks(self) -> None:
        """Once per pipeline (a hook may swap the pipeline mid-run: mmdet's PipelineSwitchHook)."""
        pipeline = getattr(self, 'pipeline', None)
        if getattr(self, '_size_checked', None) is pipeline:
            return
        self._size_checked = pipeline
        transforms = getattr(pipeline, 'transforms', None)
        if not isinstance(transforms, list) or any(isinstance(t, _SizeCheck) for t in transforms):
            return
        for i in range(len(transforms) - 1, -1, -1):
            if type(transforms[i]).__name__.startswith('Load'):
                transforms.insert(i + 1, _SizeCheck())

    def prepare_data(self, idx: int) -> Any:
        self._add_size_checks()
        try:
            return super().prepare_data(idx)
        except Exception as e:
            info = self.get_data_info(idx)
            files = {k: v for k, v in info.items() if k.endswith('_path') and isinstance(v, str)}
            bad = {f: why for f in files.values() if (why := unreadable_image(f))}
            where = '; '.join(f'{f}: {why}' for f, why in bad.items()) if bad else 'files ' + ', '.join(files.values())
            message = f'{type(self).__name__}: sample {idx} failed ({where}): {type(e).__name__}: {e}'
            if self.skip_bad_samples and not getattr(self, 'test_mode', False):
                from mmengine.logging import MMLogger

                self.bad_samples_skipped += 1
                MMLogger.get_current_instance().warning(
                    f'skip_bad_samples: skipped {message} ({self.bad_samples_skipped} skipped so far in this process)'
                )
                return None  # BaseDataset.__getitem__ draws another sample
            raise BadSampleError(f'{message}. To go on: {REMEDY}') from e


class SegLabelValuesMixin:
    """Put before :class:`SampleFileErrorsMixin` on a segmentation dataset: a label map (as the pipeline
    loaded it: after ``reduce_zero_label`` and a class subset's ``label_map``) with a value that is neither
    a class index nor the ignore index raises a ``ValueError`` naming the file, where the loss would fail on
    an unnamed "Target 8 is out of bounds" (a device-side assert on a GPU) and the IoU metric would count
    nothing for them."""

    def prepare_data(self, idx: int) -> Any:
        results = super().prepare_data(idx)
        for label_map in _label_maps(results):
            self._check_label_values(idx, label_map)
        return results

    def _check_label_values(self, idx: int, label_map: Any) -> None:
        import torch

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
