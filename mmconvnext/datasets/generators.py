"""Every data generator of the project: small, deterministic datasets written to disk.

The embedded demo and test data: no download, the same files for the same arguments
(numpy's seeded generator; PNGs and JSON byte-identical, JPEGs as identical as the
encoder). Only numpy, cv2 and json are used (pycocotools for a ring's RLE), so writing
data never imports mmdet or mmseg: the dataset classes that read it live in
ade20k.py, coco.py and imagenet.py.

Shapes: a noisy gradient background with shapes (disc, box, triangle, ring) of random
size, rotation and colour that stand out from it. A class is a shape and a fill
(boxes are striped, triangles checked, discs and rings plain), never a colour.
Glyphs: the ten digits rendered large in random fonts.

    make_shapes_dataset('data/shapes_ade')     # -> data/shapes_ade/ADEChallengeData2016/...  (segmentation)
    make_shapes_coco('data/shapes_coco')       # -> data/shapes_coco/coco/...  (instances)
    make_shapes_coco_panoptic('data/shapes_pan')  # -> data/shapes_pan/coco/...  (instances + panoptic)
    make_shapes_imagenet('data/shapes_cls')    # -> data/shapes_cls/imagenet/{train,val,meta}  (classification)
    make_glyphs_imagenet('data/glyphs_cls')    # -> data/glyphs_cls/glyphs/{train,val,meta}  (classification)

Each output directory holds a ``shapes.json`` stamp, the spec of the generator and
arguments that wrote it (:func:`_generate_once`): a call with the same spec keeps the
directory, any other rewrites it.
"""

import json
import os
import os.path as osp
import shutil
from typing import Callable, Sequence, Union

import cv2
import numpy as np

__all__ = [
    'GLYPH_CLASSES',
    'SHAPES_IMAGENET_CLASSES',
    'SHAPE_CLASSES',
    'SHAPE_PALETTE',
    'make_glyphs_imagenet',
    'make_shapes_coco',
    'make_shapes_coco_panoptic',
    'make_shapes_dataset',
    'make_shapes_imagenet',
]

#: the classes of the segmentation / detection shapes (class k is ADE label value k + 1; COCO drops 'background')
SHAPE_CLASSES = ('background', 'disc', 'box', 'triangle', 'ring')
#: one colour per class of :data:`SHAPE_CLASSES`, for the datasets' metainfo
SHAPE_PALETTE = [[120, 120, 120], [220, 20, 60], [0, 130, 255], [250, 170, 30], [60, 200, 90]]
#: the shape kinds of :func:`make_shapes_imagenet`, one class each (class ids 1..4 of :data:`SHAPE_CLASSES`)
SHAPES_IMAGENET_CLASSES = SHAPE_CLASSES[1:]
#: the classes of :func:`make_glyphs_imagenet`: the ten digits
GLYPH_CLASSES = tuple('0123456789')

_FILL = {1: 0, 2: 1, 3: 2, 4: 0}  # texture kind per shape: disc plain, box striped, triangle checked, ring plain
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)
# Stamped into shapes.json: bumping one rewrites every existing copy of that layout on its next call.
_SHAPES_FORMAT_VERSION = 6  # make_shapes_dataset, make_shapes_coco
_IMAGE_FOLDER_FORMAT_VERSION = 1  # make_shapes_imagenet, make_glyphs_imagenet
_STAMP = 'shapes.json'
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 95]


# ---------------------------------------------------------------------- the stamp
def _generate_once(data_root: str, spec: dict, dirs: Sequence[str], write: Callable[[], None]) -> str:
    """Return ``data_root`` after making sure it holds the data of ``spec``.

    When ``data_root/shapes.json`` equals ``spec`` the directory is kept as it is (a
    second call costs nothing); otherwise the stale stamp goes, every directory of
    ``dirs`` is emptied (created as needed), ``write()`` fills them and the stamp is
    written last, so an interrupted run is redone on the next call.
    """
    stamp = osp.join(data_root, _STAMP)
    if osp.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == spec:
                return data_root
        os.remove(stamp)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    write()
    with open(stamp, 'w') as f:
        json.dump(spec, f)
    return data_root


def _splits(seed: int, num_train: int, num_val: int) -> tuple[tuple[str, int, int], ...]:
    """``(split, number of images, seed of its generator)`` for train and val."""
    return (('train', num_train, seed), ('val', num_val, seed + 1_000_003))


# ---------------------------------------------------------------------- drawing
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


def _shape_mask(
    rng: np.random.Generator, cls: int, size: int, radius: tuple[float, float] = (0.12, 0.26)
) -> np.ndarray:
    """A uint8 mask of one shape of class ``cls`` (1..4) at a random place, angle and size
    (radius a fraction ``~ U(radius)`` of the image side)."""
    mask = np.zeros((size, size), np.uint8)
    r = rng.uniform(*radius) * size
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


def _shape_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random RGB colour in [0, 1] that stands out from ``background``."""
    colour = rng.uniform(0, 1, 3).astype(np.float32)
    while np.abs(colour - background).max() < 0.35:
        colour = rng.uniform(0, 1, 3).astype(np.float32)
    return colour


def _to_bgr_uint8(img: np.ndarray) -> np.ndarray:
    """A float RGB image in [0, 1] as the BGR uint8 image cv2 writes."""
    return (img[..., ::-1] * 255).round().astype(np.uint8)


def _scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
    """One segmentation / detection image: (BGR uint8 image, uint8 ADE-style label map,
    ``[(class, visible mask)]``) with one to three shapes."""
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
        fill = _texture(rng, size, _shape_colour(rng, background), contrast=0.6, kind=_FILL[cls])
        img = np.where(mask[..., None].astype(bool), fill, img)
        label[mask > 0] = cls + 1
        outline = np.maximum(outline, cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, kernel))
        for _, earlier in instances:  # what this shape covers is no longer visible below it
            earlier[mask > 0] = 0
        instances.append((cls, mask))
    label[outline > 0] = 0  # ADE20K's "unlabelled"
    return _to_bgr_uint8(img), label, instances


def _shape_image(
    rng: np.random.Generator, cls: int, size: int, radius: tuple[float, float] = (0.12, 0.26)
) -> np.ndarray:
    """A BGR uint8 image of one shape of class ``cls`` (1..4) on a random gradient
    background; random size, place, angle and colour."""
    background = rng.uniform(0.15, 0.85, 3).astype(np.float32)
    img = _texture(rng, size, background, contrast=0.3, kind=0)
    mask = _shape_mask(rng, cls, size, radius).astype(bool)
    fill = _texture(rng, size, _shape_colour(rng, background), contrast=0.6, kind=_FILL[cls])
    return _to_bgr_uint8(np.where(mask[..., None], fill, img))


def _glyph_image(rng: np.random.Generator, text: str, size: int) -> np.ndarray:
    """A BGR uint8 image of the character ``text`` drawn large: a random font (italic or not),
    stroke, scale, rotation and place, light on a dark gradient background, plus noise."""
    background = rng.uniform(0.0, 0.35, 3).astype(np.float32)  # dark, the digit light: like MNIST
    img = _texture(rng, size, background, contrast=0.15, kind=0)
    canvas = 96  # drawn large, then rotated and shrunk to ``size`` (anti-aliased)
    mask = np.zeros((canvas, canvas), np.uint8)
    font = int(_FONTS[rng.integers(0, len(_FONTS))]) | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    thickness = int(rng.integers(3, 9))
    (w, h), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = rng.uniform(0.55, 0.8) * canvas / max(w, h)
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    x = (canvas - w) / 2 + rng.uniform(-0.12, 0.12) * canvas
    y = (canvas + h) / 2 + rng.uniform(-0.12, 0.12) * canvas
    cv2.putText(mask, text, (int(x), int(y)), font, scale, 255, thickness, cv2.LINE_AA)
    rot = cv2.getRotationMatrix2D((canvas / 2, canvas / 2), rng.uniform(-20, 20), 1.0)
    mask = cv2.warpAffine(mask, rot, (canvas, canvas))
    alpha = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255
    colour = rng.uniform(0.65, 1.0, 3).astype(np.float32)
    img = img * (1 - alpha) + colour * alpha + rng.normal(0, 0.03, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1)[..., ::-1] * 255).round().astype(np.uint8)


def _coco_segmentation(mask: np.ndarray) -> Union[list[list[float]], dict]:
    """Polygons for a mask without holes, compressed RLE for one with (a ring)."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    has_hole = hierarchy is not None and (hierarchy[0][:, 3] >= 0).any()
    polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    if has_hole or not polygons:
        from pycocotools import mask as mask_utils

        rle = mask_utils.encode(np.asfortranarray(mask))
        return dict(size=list(rle['size']), counts=rle['counts'].decode('ascii'))
    return [[v + 0.5 for v in poly] for poly in polygons]  # pixel centres


# ---------------------------------------------------------------------- generators
def make_shapes_dataset(root: str, num_train: int = 240, num_val: int = 40, size: int = 128, seed: int = 0) -> str:
    """Write the shapes as semantic segmentation in the ADE20K layout under
    ``root/ADEChallengeData2016`` and return that path.

    Label maps follow ADE20K's convention: 0 is "unlabelled" (here a one-pixel band
    along every shape's outline, ignored by ``reduce_zero_label``), class k is k+1.
    Deterministic in its arguments; an existing copy made with the same arguments is
    kept (a ``shapes.json`` stamp records them), any other is rewritten.
    """
    data_root = osp.join(root, 'ADEChallengeData2016')
    spec = dict(
        layout='ade20k', version=_SHAPES_FORMAT_VERSION, num_train=num_train, num_val=num_val, size=size, seed=seed
    )
    folders = {'train': 'training', 'val': 'validation'}

    def write() -> None:
        for split, n, split_seed in _splits(seed, num_train, num_val):
            rng = np.random.default_rng(split_seed)
            for i in range(n):
                img, label, _ = _scene(rng, size)
                name = f'shapes_{folders[split]}_{i:05d}'
                cv2.imwrite(osp.join(data_root, 'images', folders[split], name + '.jpg'), img, _JPEG)
                cv2.imwrite(osp.join(data_root, 'annotations', folders[split], name + '.png'), label)

    dirs = [osp.join(data_root, kind, folders[s]) for kind in ('images', 'annotations') for s in folders]
    return _generate_once(data_root, spec, dirs, write)


def make_shapes_coco(root: str, num_train: int = 160, num_val: int = 24, size: int = 128, seed: int = 0) -> str:
    """Write the same kind of images as instance segmentation in the COCO layout
    (``annotations/instances_{train,val}2017.json``, ``{train,val}2017/``) under
    ``root/coco`` and return that path. Every visible shape is an instance of one of
    four categories (disc, box, triangle, ring); masks are polygons, or RLE where a
    mask has a hole. Deterministic and stamped like :func:`make_shapes_dataset`."""
    return _write_coco(osp.join(root, 'coco'), num_train, num_val, size, seed, panoptic=False)


def make_shapes_coco_panoptic(
    root: str, num_train: int = 160, num_val: int = 24, size: int = 128, seed: int = 0
) -> str:
    """:func:`make_shapes_coco`'s images and instances, plus the COCO panoptic layout under ``root/coco``
    (which it returns): ``annotations/panoptic_{train,val}2017.json`` and the PNGs of
    ``annotations/panoptic_{train,val}2017/``, whose pixels hold segment ids as COCO encodes them
    (``R + 256 G + 256^2 B``; 0: void). Categories: the four shapes as things (ids 1-4, their visible
    pixels) and ``background`` as stuff (id 5); the one-pixel outline band of the segmentation
    layout is void. Same arguments, same images as :func:`make_shapes_coco`."""
    return _write_coco(osp.join(root, 'coco'), num_train, num_val, size, seed, panoptic=True)


def _write_coco(data_root: str, num_train: int, num_val: int, size: int, seed: int, panoptic: bool) -> str:
    layout = 'coco_panoptic' if panoptic else 'coco'
    spec = dict(
        layout=layout, version=_SHAPES_FORMAT_VERSION, num_train=num_train, num_val=num_val, size=size, seed=seed
    )
    stuff_id = len(SHAPE_CLASSES)  # 'background', after the four things

    def write() -> None:
        categories = [dict(id=k, name=name) for k, name in enumerate(SHAPE_CLASSES[1:], start=1)]
        ann_id = 1
        for split, n, split_seed in _splits(seed, num_train, num_val):
            rng = np.random.default_rng(split_seed)
            images, annotations, panoptic_anns = [], [], []
            for i in range(n):
                img, label, instances = _scene(rng, size)
                file_name = f'shapes_{split}_{i:05d}.jpg'
                cv2.imwrite(osp.join(data_root, f'{split}2017', file_name), img, _JPEG)
                images.append(dict(id=i + 1, file_name=file_name, width=size, height=size))
                kept = [(cls, mask) for cls, mask in instances if int(mask.sum()) >= 16]  # not (almost) covered
                for cls, mask in kept:
                    annotations.append(
                        dict(
                            id=ann_id,
                            image_id=i + 1,
                            category_id=cls,
                            **_box_and_area(mask),
                            segmentation=_coco_segmentation(mask),
                        )
                    )
                    ann_id += 1
                if panoptic:
                    png = file_name.replace('.jpg', '.png')
                    segments = _write_panoptic_png(
                        osp.join(data_root, 'annotations', f'panoptic_{split}2017', png), label, kept, stuff_id
                    )
                    panoptic_anns.append(dict(image_id=i + 1, file_name=png, segments_info=segments))
            with open(osp.join(data_root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
                json.dump(dict(images=images, annotations=annotations, categories=categories), f)
            if panoptic:
                things = [dict(c, isthing=1, supercategory='shape') for c in categories]
                stuff = [dict(id=stuff_id, name=SHAPE_CLASSES[0], isthing=0, supercategory='background')]
                with open(osp.join(data_root, 'annotations', f'panoptic_{split}2017.json'), 'w') as f:
                    json.dump(dict(images=images, annotations=panoptic_anns, categories=things + stuff), f)

    dirs = [osp.join(data_root, d) for d in ('annotations', 'train2017', 'val2017')]
    if panoptic:
        dirs += [osp.join(data_root, 'annotations', f'panoptic_{s}2017') for s in ('train', 'val')]
    return _generate_once(data_root, spec, dirs, write)


def _box_and_area(mask: np.ndarray) -> dict:
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    return dict(iscrowd=0, area=int(mask.sum()), bbox=[x, y, w, h])


def _write_panoptic_png(path: str, label: np.ndarray, instances: list, stuff_id: int) -> list[dict]:
    """One panoptic PNG (segment ids in the red channel, up to 255 segments) and its ``segments_info``: the
    instances' pixels outside the outline band (label 0), then the background (label value 1) as one stuff
    segment."""
    ids = np.zeros(label.shape, np.int32)
    segments = []
    for cls, mask in instances:
        pixels = (mask > 0) & (label != 0)
        if pixels.any():
            ids[pixels] = len(segments) + 1
            segments.append(dict(id=len(segments) + 1, category_id=cls, **_box_and_area(pixels)))
    background = label == 1
    if background.any():
        ids[background] = len(segments) + 1
        segments.append(dict(id=len(segments) + 1, category_id=stuff_id, **_box_and_area(background)))
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
    cv2.imwrite(path, rgb[..., ::-1])  # OpenCV writes BGR
    return segments


def make_shapes_imagenet(
    root: str,
    num_classes: int = 4,
    num_train: int = 160,
    num_val: int = 40,
    size: int = 64,
    seed: int = 0,
    radius: tuple[float, float] = (0.12, 0.26),
) -> str:
    """Write a tiny classification dataset under ``root/imagenet`` and return that path.

    One class per shape kind (disc, box, triangle, ring: the first ``num_classes``),
    folders ``n0000000_disc`` ...; ``num_train``/``num_val`` images in all, classes
    taken in turn (balanced). Layout::

        train/<class>/<class>_<i>.JPEG, val/<class>/<class>_<i>.JPEG   (folder layout)
        meta/train.txt, meta/val.txt   ("<class>/<file> <label>", relative to train/ or val/)
        meta/classes.txt               (one folder name a line, label order)

    Deterministic in its arguments; an existing copy made with the same arguments is
    kept (a ``shapes.json`` stamp records them), any other is rewritten.
    """
    if not 2 <= num_classes <= len(SHAPES_IMAGENET_CLASSES):
        raise ValueError(
            f'make_shapes_imagenet: num_classes must be in [2, {len(SHAPES_IMAGENET_CLASSES)}] '
            f'(one class per shape kind {SHAPES_IMAGENET_CLASSES}), got {num_classes}'
        )
    return _write_image_folder(
        osp.join(root, 'imagenet'),
        'imagenet',
        SHAPES_IMAGENET_CLASSES[:num_classes],
        lambda rng, label: _shape_image(rng, label + 1, size, radius),
        num_train,
        num_val,
        dict(size=size, seed=seed, **({} if tuple(radius) == (0.12, 0.26) else dict(radius=list(radius)))),
        seed,
        'make_shapes_imagenet',
    )


def make_glyphs_imagenet(
    root: str,
    num_train: int = 2000,
    num_val: int = 500,
    size: int = 32,
    seed: int = 0,
    classes: str = ''.join(GLYPH_CLASSES),
) -> str:
    """Write a dataset of rendered characters (see :func:`_glyph_image`), one class per
    character of ``classes`` (default the 10 digits), under ``root/glyphs`` in the ImageNet
    folder layout of :func:`make_shapes_imagenet`, and return that path. The glyphs fill
    most of the image, so networks that downsample by 4 at the stem can read them at 32x32
    (the shapes' fine textures do not survive it). More classes make a harder set: with
    ``classes='0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'`` pairs such as 0/O, 1/I, 5/S, 2/Z and
    8/B differ only in details. Deterministic in its arguments; an existing copy made with
    the same arguments is kept."""
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(c.isalnum() and c.isascii() for c in classes):
        raise ValueError(
            f'make_glyphs_imagenet: classes={classes!r} must be at least 2 distinct ASCII letters or digits'
        )
    params = dict(size=size, seed=seed)
    if classes != ''.join(GLYPH_CLASSES):  # the digits' stamp stays as it was
        params['classes'] = classes
    return _write_image_folder(
        osp.join(root, 'glyphs'),
        'glyphs',
        tuple(classes),
        lambda rng, label: _glyph_image(rng, classes[label], size),
        num_train,
        num_val,
        params,
        seed,
        'make_glyphs_imagenet',
    )


def _write_image_folder(
    data_root: str,
    layout: str,
    names: Sequence[str],
    draw: Callable[[np.random.Generator, int], np.ndarray],
    num_train: int,
    num_val: int,
    params: dict,
    seed: int,
    caller: str,
) -> str:
    """The train/val/meta folder layout of ``len(names)`` balanced classes, images from
    ``draw(rng, label)``, stamped by :func:`_generate_once`."""
    num_classes = len(names)
    if num_train < num_classes or num_val < num_classes:
        raise ValueError(
            f'{caller}: num_train={num_train} and num_val={num_val} must be at least '
            f'num_classes={num_classes} (every class folder needs an image)'
        )
    spec = dict(
        layout=layout,
        version=_IMAGE_FOLDER_FORMAT_VERSION,
        num_classes=num_classes,
        num_train=num_train,
        num_val=num_val,
        **params,
    )
    folders = [f'n{k:07d}_{name}' for k, name in enumerate(names)]

    def write() -> None:
        with open(osp.join(data_root, 'meta', 'classes.txt'), 'w') as f:
            f.write(''.join(c + '\n' for c in folders))
        for split, n, split_seed in _splits(seed, num_train, num_val):
            for folder in folders:
                os.makedirs(osp.join(data_root, split, folder))
            rng = np.random.default_rng(split_seed)
            lines = []
            for i in range(n):
                label = i % num_classes
                rel = f'{folders[label]}/{folders[label]}_{i:05d}.JPEG'
                cv2.imwrite(osp.join(data_root, split, rel), draw(rng, label), _JPEG)
                lines.append(f'{rel} {label}\n')
            with open(osp.join(data_root, 'meta', f'{split}.txt'), 'w') as f:
                f.write(''.join(lines))

    return _generate_once(data_root, spec, [osp.join(data_root, sub) for sub in ('train', 'val', 'meta')], write)
