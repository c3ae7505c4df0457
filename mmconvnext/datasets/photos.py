"""Small datasets of real photographs in the own-data layouts (docs/custom_data.md), labels made here.

The photographs are the ones scikit-image ships (``skimage.data``: astronaut, coffee, chelsea, rocket,
camera, coins), so nothing is downloaded; scikit-image is a development requirement, imported only here.
They give the tests and the custom-data walkthrough real pixels in the awkward forms users' folders hold:
odd sizes (301x451), grey JPEGs, RGBA and 16-bit PNGs, a CMYK JPEG, a JPEG whose EXIF orientation turns
it, grey and palette label PNGs, non-contiguous COCO category ids, polygons, RLE and crowd regions.

    make_photo_seg(ROOT)      ROOT/images/{train,val}/*.jpg|png + ROOT/annotations/{train,val}/*.png,
                              classes ('shadow', 'midtone', 'highlight'): grey-level terciles, 255 at the border
    make_photo_coco(ROOT)     ROOT/images/*.jpg + ROOT/annotations/{train,val}.json,
                              categories coin (id 7) and glare (id 3): coins and bright regions
    make_photo_folders(ROOT)  ROOT/{train,val}/{kitten,mug,portrait}/*: crops of chelsea, coffee, astronaut
"""

import json
import os
import os.path as osp

import cv2
import numpy as np

__all__ = ['SEG_CLASSES', 'make_photo_coco', 'make_photo_folders', 'make_photo_seg']

SEG_CLASSES = ('shadow', 'midtone', 'highlight')
DET_CATEGORIES = [dict(id=7, name='coin'), dict(id=3, name='glare')]  # not contiguous, not from 1, unsorted
CLS_SOURCES = {'kitten': 'chelsea', 'mug': 'coffee', 'portrait': 'astronaut'}


def _photo(name: str) -> np.ndarray:
    """A scikit-image photograph as RGB uint8 (grey ones stay 2-D)."""
    try:
        from skimage import data
    except ImportError as e:
        raise ImportError(
            'the photograph datasets need scikit-image (pip install scikit-image; a development requirement)'
        ) from e
    return np.ascontiguousarray(getattr(data, name)())


def _save(path: str, rgb: np.ndarray, form: str = 'jpg') -> str:
    """Write ``rgb`` (RGB or grey uint8) as ``form``: jpg, png, rgba (PNG with alpha), cmyk (CMYK JPEG),
    png16 (16-bit PNG) or exif6 (a JPEG stored turned, with EXIF orientation 6 turning it back)."""
    from PIL import Image

    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(rgb)
    if form == 'rgba':
        img = img.convert('RGBA')
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
        alpha[: rgb.shape[0] // 4] = 128
        img.putalpha(Image.fromarray(alpha))
        img.save(path)
    elif form == 'cmyk':
        img.convert('CMYK').save(path, quality=92)
    elif form == 'png16':
        wide = rgb.astype(np.uint16) * 257
        cv2.imwrite(path, wide[..., ::-1] if wide.ndim == 3 else wide)
    elif form == 'exif6':
        # stored turned 90 degrees anticlockwise; orientation 6 tells a viewer (and cv2) to turn it clockwise
        stored = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, 1)))
        exif = Image.Exif()
        exif[0x0112] = 6
        stored.save(path, quality=92, exif=exif.tobytes())
    else:
        img.save(path, quality=92) if form == 'jpg' else img.save(path)
    return path


def _terciles(rgb: np.ndarray) -> np.ndarray:
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lo, hi = np.quantile(grey, [1 / 3, 2 / 3])
    labels = np.where(grey <= lo, 0, np.where(grey <= hi, 1, 2)).astype(np.uint8)
    labels[:2], labels[-2:], labels[:, :2], labels[:, -2:] = 255, 255, 255, 255  # an ignored border
    return labels


def _save_labels(path: str, labels: np.ndarray, palette: bool) -> None:
    from PIL import Image

    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(labels, mode='L')
    if palette:  # colours unlike the dataset's palette: the indices are what counts
        img = img.convert('P')
        flat = [0] * 768
        for i, c in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
            flat[3 * i : 3 * i + 3] = c
        flat[765:768] = (255, 255, 255)
        img.putpalette(flat)
    img.save(path)


# (name, photo, crop or None, resize (h, w) or None, image form) -- what each split holds
_SEG_SPLITS = {
    'train': [
        ('astronaut_301x451', 'astronaut', (0, 301, 30, 481), None, 'jpg'),
        ('coffee', 'coffee', None, (200, 300), 'png'),
        ('camera_grey', 'camera', None, (255, 255), 'jpg'),
        ('rocket_rgba', 'rocket', None, (213, 320), 'rgba'),
        ('chelsea_exif', 'chelsea', None, (150, 226), 'exif6'),
        ('coins_grey', 'coins', None, None, 'png'),
    ],
    'val': [
        ('astronaut_val', 'astronaut', (200, 480, 100, 330), None, 'jpg'),
        ('chelsea_val', 'chelsea', None, (151, 225), 'png'),
        ('coffee_val', 'coffee', (100, 400, 0, 333), None, 'jpg'),
    ],
}


def _make(photo: str, crop, size) -> np.ndarray:
    rgb = _photo(photo)
    if crop is not None:
        y0, y1, x0, x1 = crop
        rgb = rgb[y0:y1, x0:x1]
    if size is not None:
        rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def make_photo_seg(root: str) -> str:
    """A segmentation dataset in the own-data layout under ``root`` (returned), classes :data:`SEG_CLASSES`
    in ``root/classes.txt`` too. Label maps match the images as decoded (the EXIF-turned one included)."""
    for split, items in _SEG_SPLITS.items():
        for i, (name, photo, crop, size, form) in enumerate(items):
            rgb = _make(photo, crop, size)
            suffix = '.png' if form in ('png', 'rgba', 'png16') else '.jpg'
            _save(osp.join(root, 'images', split, name + suffix), rgb, form)
            _save_labels(osp.join(root, 'annotations', split, name + '.png'), _terciles(rgb), palette=i % 2 == 1)
    with open(osp.join(root, 'classes.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(SEG_CLASSES) + '\n')
    return root


def _instances(mask: np.ndarray, min_area: int, keep: int) -> list:
    """The ``keep`` largest connected components of ``mask`` of at least ``min_area`` pixels: (box, polygon, area)."""
    count, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    found = []
    for k in sorted(range(1, count), key=lambda k: -stats[k, cv2.CC_STAT_AREA])[:keep]:
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < min_area:
            continue
        contours, _ = cv2.findContours((comp == k).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        polygon = max(contours, key=cv2.contourArea).reshape(-1).astype(float).tolist()
        if len(polygon) >= 6:
            found.append(([float(x), float(y), float(w), float(h)], polygon, float(area), comp == k))
    return found


_DET_SPLITS = {
    'train': [
        ('coins_a', 'coins', (0, 303, 0, 200), None, 'jpg'),
        ('coins_b', 'coins', (0, 303, 184, 384), None, 'png'),
        ('astronaut', 'astronaut', (0, 301, 30, 481), None, 'jpg'),
        ('coffee', 'coffee', None, (200, 300), 'jpg'),
        ('chelsea', 'chelsea', None, (150, 226), 'jpg'),
    ],
    'val': [
        ('coins_c', 'coins', (100, 303, 60, 320), None, 'jpg'),
        ('rocket', 'rocket', None, (213, 320), 'jpg'),
    ],
}


def make_photo_coco(root: str) -> str:
    """A detection / instance segmentation dataset in the own-data COCO layout under ``root`` (returned):
    coins (id 7, from Otsu's threshold of the coins photograph) and glare (id 3, the brightest regions),
    as polygons, one as RLE, one crowd region a split."""
    from pycocotools import mask as mask_utils

    ann_id = 1
    for split, items in _DET_SPLITS.items():
        images, annotations = [], []
        for img_id, (name, photo, crop, size, form) in enumerate(items, start=1):
            rgb = _make(photo, crop, size)
            _save(osp.join(root, 'images', f'{name}.{"png" if form == "png" else "jpg"}'), rgb, form)
            h, w = rgb.shape[:2]
            images.append(dict(id=img_id, file_name=f'{name}.{"png" if form == "png" else "jpg"}', height=h, width=w))
            grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            if photo == 'coins':
                _, mask = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
                mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
                found = [(7, *f) for f in _instances(mask, 80, 12)]
            else:
                mask = cv2.morphologyEx(
                    (grey >= np.quantile(grey, 0.93)).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)
                )
                found = [(3, *f) for f in _instances(mask, 60, 3)]
            for k, (cat, box, polygon, area, region) in enumerate(found):
                ann = dict(id=ann_id, image_id=img_id, category_id=cat, bbox=box, area=area, iscrowd=0)
                if k == 1 and img_id == 1:  # one RLE (compressed, as COCO writes it) a split
                    rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
                    ann['segmentation'] = dict(size=rle['size'], counts=rle['counts'].decode('ascii'))
                elif k == 2 and img_id == 1:  # and one crowd region
                    rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
                    ann.update(iscrowd=1, segmentation=dict(size=rle['size'], counts=rle['counts'].decode('ascii')))
                else:
                    ann['segmentation'] = [polygon]
                annotations.append(ann)
                ann_id += 1
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
        with open(osp.join(root, 'annotations', f'{split}.json'), 'w', encoding='utf-8') as f:
            json.dump(dict(images=images, annotations=annotations, categories=DET_CATEGORIES), f)
    return root


# image forms of the classification folders, one after the other: the awkward ones among plain JPEGs
_CLS_FORMS = ('jpg', 'grey', 'rgba', 'cmyk', 'png16', 'exif6', 'jpg', 'jpg')


def make_photo_folders(root: str, per_class: int = 8, val_per_class: int = 3, size: int = 72) -> str:
    """A classification dataset in the folder layout under ``root`` (returned): classes kitten, mug and
    portrait, each image a random square crop (fixed seed) of its photograph, resized to ``size``."""
    rng = np.random.default_rng(0)
    for cls, photo in CLS_SOURCES.items():
        rgb = _photo(photo)
        h, w = rgb.shape[:2]
        for split, count in (('train', per_class), ('val', val_per_class)):
            for i in range(count):
                side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
                y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
                crop = cv2.resize(rgb[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
                form = _CLS_FORMS[i % len(_CLS_FORMS)] if split == 'train' else 'jpg'
                if form == 'grey':
                    crop, form = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), 'jpg'
                suffix = '.png' if form in ('rgba', 'png16') else '.jpg'
                _save(osp.join(root, split, cls, f'{photo}_{i:02d}{suffix}'), crop, form)
    return root
