"""A small, deterministic segmentation dataset of shapes, written in the ADE20K layout.

The embedded demo data: no download, the same images for the same arguments (numpy's
seeded generator; label PNGs are byte-identical, JPEGs as identical as the encoder).
Each image is a noisy gradient background with one to three shapes (disc, box,
triangle, ring) of random size, rotation and colour that stand out from it. A class is
a shape and a fill (boxes are striped, triangles checked, discs and rings plain), never
a colour. Label maps follow ADE20K's convention: 0 is "unlabelled" (here a one-pixel
band along every shape's outline, ignored by ``reduce_zero_label``), class k is k+1.

    make_shapes_dataset('data/shapes_ade')   # -> data/shapes_ade/ADEChallengeData2016/...
    make_shapes_coco('data/shapes_coco')     # -> data/shapes_coco/coco/...  (instances)
"""
import json
import os
import os.path as osp

import cv2
import numpy as np

from mmconvnext.registry import DATASETS

from .ade20k import ADE20KDataset
from .coco import CocoDataset

__all__ = ['SHAPE_CLASSES', 'ShapesADE20KDataset', 'ShapesCocoDataset', 'make_shapes_coco', 'make_shapes_dataset']

SHAPE_CLASSES = ('background', 'disc', 'box', 'triangle', 'ring')
_PALETTE = [[120, 120, 120], [220, 20, 60], [0, 130, 255], [250, 170, 30], [60, 200, 90]]
_FILL = {1: 0, 2: 1, 3: 2, 4: 0}  # disc: plain, box: striped, triangle: checked, ring: plain
_FORMAT_VERSION = 6


@DATASETS.register_module()
class ShapesADE20KDataset(ADE20KDataset):
    """The generated shapes data: ADE20K's layout and label convention, five classes."""

    METAINFO = dict(classes=SHAPE_CLASSES, palette=_PALETTE)
    SOURCE_HINT = ('This is the generated demo dataset: write it with '
                   'mmconvnext.datasets.make_shapes_dataset(ROOT) (tools/demo.py does so).')


@DATASETS.register_module()
class ShapesCocoDataset(CocoDataset):
    """The generated shapes as COCO instance segmentation: four categories."""

    METAINFO = dict(classes=SHAPE_CLASSES[1:], palette=[tuple(c) for c in _PALETTE[1:]])
    SOURCE_HINT = ('This is the generated demo dataset: write it with '
                   'mmconvnext.datasets.make_shapes_coco(ROOT) (tools/demo.py --task det does so).')


def _texture(rng: np.random.Generator, size: int, base: np.ndarray, contrast: float, kind: int) -> np.ndarray:
    """A float32 (size, size, 3) pattern in [0, 1] around colour ``base``: a gradient
    (kind 0), stripes (1) or checks (2) of the given contrast, plus noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    step = rng.uniform(0.6, 1.0, 3) * contrast
    alt = np.where(base > 0.5, base - step, base + step).astype(np.float32)  # never clipped flat
    if kind == 0:  # linear gradient in a random direction
        a = rng.uniform(0, np.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy)[..., None]
        img = base * (1 - t) + alt * t
    else:
        freq = rng.uniform(8, 16)  # cycles per image side: several stripes or checks on every shape
        a = rng.uniform(0, np.pi)
        u, v = np.cos(a) * xx + np.sin(a) * yy, -np.sin(a) * xx + np.cos(a) * yy
        if kind == 1:  # stripes
            m = (np.sin(2 * np.pi * freq * u) > 0)[..., None]
        else:  # checks
            m = ((np.floor(freq * u) + np.floor(freq * v)) % 2 == 0)[..., None]
        img = np.where(m, base, alt)
    img = img + rng.normal(0, 0.04, (size, size, 3)).astype(np.float32)
    return np.clip(img, 0, 1)


def _shape_mask(rng: np.random.Generator, cls: int, size: int) -> np.ndarray:
    """A uint8 mask of one shape of class ``cls`` (1..4) at a random place, size and angle."""
    mask = np.zeros((size, size), np.uint8)
    r = rng.uniform(0.12, 0.26) * size
    cx, cy = rng.uniform(r, size - r, 2)
    angle = rng.uniform(0, 2 * np.pi)
    center = (int(round(cx)), int(round(cy)))
    if cls == 1:  # disc
        cv2.circle(mask, center, int(round(r)), 1, -1)
    elif cls == 4:  # ring
        cv2.circle(mask, center, int(round(r)), 1, max(2, int(round(r * 0.35))))
    else:
        n = 4 if cls == 2 else 3
        aspect = rng.uniform(0.6, 1.0) if cls == 2 else 1.0
        t = angle + np.arange(n) * 2 * np.pi / n + (np.pi / 4 if n == 4 else 0)
        pts = np.stack([cx + r * np.cos(t) * (aspect if n == 4 else 1), cy + r * np.sin(t)], 1)
        if n == 4:  # rotate the (possibly non-square) box as a whole
            c, s = np.cos(angle), np.sin(angle)
            d = pts - [cx, cy]
            pts = np.stack([cx + c * d[:, 0] - s * d[:, 1], cy + s * d[:, 0] + c * d[:, 1]], 1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask


def _sample(rng: np.random.Generator, size: int) -> tuple:
    """One image: (BGR uint8 image, uint8 ADE-style label map, [(class, visible mask)])."""
    background = rng.uniform(0.15, 0.85, 3).astype(np.float32)
    img = _texture(rng, size, background, contrast=0.3, kind=0)
    label = np.ones((size, size), np.uint8)  # class 0 'background' -> value 1
    outline = np.zeros((size, size), np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    instances = []
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.integers(1, len(SHAPE_CLASSES)))
        mask = _shape_mask(rng, cls, size)
        if not mask.any():
            continue
        colour = rng.uniform(0, 1, 3).astype(np.float32)
        while np.abs(colour - background).max() < 0.35:  # stands out from the background
            colour = rng.uniform(0, 1, 3).astype(np.float32)
        fill = _texture(rng, size, colour, contrast=0.6, kind=_FILL[cls])
        img = np.where(mask[..., None].astype(bool), fill, img)
        label[mask > 0] = cls + 1
        outline = np.maximum(outline, cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, kernel))
        for _, earlier in instances:  # what this shape covers is no longer visible below it
            earlier[mask > 0] = 0
        instances.append((cls, mask))
    label[outline > 0] = 0  # ADE20K's "unlabelled"
    return (img[..., ::-1] * 255).round().astype(np.uint8), label, instances


def _fresh_dirs(data_root: str, spec: dict, dirs: list) -> bool:
    """True when ``data_root`` already holds the data of ``spec`` (its stamp says so);
    otherwise empties ``dirs`` (created as needed) for a rewrite and returns False."""
    stamp = osp.join(data_root, 'shapes.json')
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == spec:
                return True
        os.remove(stamp)
    for d in dirs:
        os.makedirs(d, exist_ok=True)
        for stale in os.listdir(d):
            os.remove(osp.join(d, stale))
    return False


def _write_stamp(data_root: str, spec: dict) -> None:
    with open(osp.join(data_root, 'shapes.json'), 'w') as f:
        json.dump(spec, f)


def _splits(seed: int, num_train: int, num_val: int) -> tuple:
    return (('train', num_train, seed), ('val', num_val, seed + 1_000_003))


def make_shapes_dataset(root: str, num_train: int = 240, num_val: int = 40, size: int = 128,
                        seed: int = 0) -> str:
    """Write the dataset in the ADE20K layout under ``root/ADEChallengeData2016`` and
    return that path.

    Deterministic in its arguments; an existing copy made with the same arguments is
    kept (a ``shapes.json`` stamp records them), any other is rewritten.
    """
    data_root = osp.join(root, 'ADEChallengeData2016')
    spec = dict(layout='ade20k', version=_FORMAT_VERSION, num_train=num_train, num_val=num_val, size=size,
                seed=seed)
    folders = {'train': 'training', 'val': 'validation'}
    dirs = [osp.join(data_root, kind, folders[s]) for kind in ('images', 'annotations') for s in folders]
    if _fresh_dirs(data_root, spec, dirs):
        return data_root
    for split, n, split_seed in _splits(seed, num_train, num_val):
        rng = np.random.default_rng(split_seed)
        for i in range(n):
            img, label, _ = _sample(rng, size)
            name = f'shapes_{folders[split]}_{i:05d}'
            cv2.imwrite(osp.join(data_root, 'images', folders[split], name + '.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(osp.join(data_root, 'annotations', folders[split], name + '.png'), label)
    _write_stamp(data_root, spec)
    return data_root


def _coco_segmentation(mask: np.ndarray) -> object:
    """Polygons for a mask without holes, compressed RLE for one with (a ring)."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    has_hole = hierarchy is not None and (hierarchy[0][:, 3] >= 0).any()
    polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    if has_hole or not polygons:
        from pycocotools import mask as mask_utils
        rle = mask_utils.encode(np.asfortranarray(mask))
        return dict(size=list(rle['size']), counts=rle['counts'].decode('ascii'))
    return [[v + 0.5 for v in poly] for poly in polygons]  # pixel centres


def make_shapes_coco(root: str, num_train: int = 160, num_val: int = 24, size: int = 128, seed: int = 0) -> str:
    """Write the same kind of images as instance segmentation in the COCO layout
    (``annotations/instances_{train,val}2017.json``, ``{train,val}2017/``) under
    ``root/coco`` and return that path. Every visible shape is an instance of one of
    four categories (disc, box, triangle, ring); masks are polygons, or RLE where a
    mask has a hole. Deterministic and stamped like :func:`make_shapes_dataset`."""
    data_root = osp.join(root, 'coco')
    spec = dict(layout='coco', version=_FORMAT_VERSION, num_train=num_train, num_val=num_val, size=size, seed=seed)
    dirs = [osp.join(data_root, d) for d in ('annotations', 'train2017', 'val2017')]
    if _fresh_dirs(data_root, spec, dirs):
        return data_root
    categories = [dict(id=k, name=name) for k, name in enumerate(SHAPE_CLASSES[1:], start=1)]
    ann_id = 1
    for split, n, split_seed in _splits(seed, num_train, num_val):
        rng = np.random.default_rng(split_seed)
        images, annotations = [], []
        for i in range(n):
            img, _, instances = _sample(rng, size)
            file_name = f'shapes_{split}_{i:05d}.jpg'
            cv2.imwrite(osp.join(data_root, f'{split}2017', file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            images.append(dict(id=i + 1, file_name=file_name, width=size, height=size))
            for cls, mask in instances:
                area = int(mask.sum())
                if area < 16:  # (almost) entirely covered by later shapes
                    continue
                x, y, w, h = cv2.boundingRect(mask)
                annotations.append(dict(id=ann_id, image_id=i + 1, category_id=cls, iscrowd=0, area=area,
                                        bbox=[x, y, w, h], segmentation=_coco_segmentation(mask)))
                ann_id += 1
        with open(osp.join(data_root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    _write_stamp(data_root, spec)
    return data_root
