"""Errors that name the file at fault, for every dataset of the project."""

import os.path as osp
from typing import Any

import cv2
import numpy as np

__all__ = ['SampleFileErrorsMixin', 'unreadable_image']


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


class SampleFileErrorsMixin:
    """Put before an mmengine ``BaseDataset`` subclass: an exception while a sample is
    prepared becomes one error naming the sample's unreadable file(s) (the keys of its
    data info that end with ``_path``) and the original exception."""

    def prepare_data(self, idx: int) -> Any:
        try:
            return super().prepare_data(idx)
        except Exception as e:
            info = self.get_data_info(idx)
            files = {k: v for k, v in info.items() if k.endswith('_path') and isinstance(v, str)}
            bad = {f: why for f in files.values() if (why := unreadable_image(f))}
            where = '; '.join(f'{f}: {why}' for f, why in bad.items()) if bad else 'files ' + ', '.join(files.values())
            raise RuntimeError(f'{type(self).__name__}: sample {idx} failed ({where}): {type(e).__name__}: {e}') from e
