"""Read every sample of a config's datasets once, before a long run, and name every problem with its file.

Used by ``tools/dataset_check.py``. Each split of the config (train, val and, when it differs, test) is read
from the files themselves, not through the dataset classes, so that one bad file does not hide the others:

- an image that is missing, unreadable or truncated, or whose EXIF orientation turns it away from its labels;
- segmentation: an image without a label map, a label map of another size than its image, a colour (RGB)
  label map, label values outside the classes other than the ignore index, no labelled pixel at all;
- detection (COCO json): annotations of unknown categories or images, boxes outside the image or of zero
  area, an image whose size differs from the json's, images without annotations;
- classification: class folders that are not classes, labels out of range, empty classes;
- the same image (same bytes) in train and val.

Errors are what would crash a run or silently corrupt training; warnings are worth a look. mmdet's
``browse_dataset`` and mmseg's ``browse_dataset`` draw samples but check nothing; nothing in the OpenMMLab
libraries checks files, so this is written here.
"""

import hashlib
import io
import json
import os
import os.path as osp
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

import cv2
import numpy as np

from mmconvnext.datasets.errors import exif_orientation
from mmconvnext.datasets.imagenet import IMG_EXTENSIONS

from .custom_data import config_task, leaf_datasets

__all__ = ['Problem', 'SplitReport', 'check_config_data', 'format_reports', 'show_samples']

_LOADERS = {'train': 'train_dataloader', 'val': 'val_dataloader', 'test': 'test_dataloader'}


@dataclass
class Problem:
    level: str  # 'error' or 'warning'
    path: str
    message: str


@dataclass
class SplitReport:
    split: str
    where: str
    unit: str  # what the class counts count: pixels, instances, images
    images: int = 0
    min_hw: Optional[tuple] = None
    max_hw: Optional[tuple] = None
    counts: Counter = field(default_factory=Counter)
    classes: tuple = ()
    problems: list = field(default_factory=list)
    hashes: dict = field(default_factory=dict)  # md5 -> path

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem('error', path, message))

    def warn(self, path: str, message: str) -> None:
        self.problems.append(Problem('warning', path, message))

    def add_size(self, hw: tuple) -> None:
        self.images += 1
        area = hw[0] * hw[1]
        if self.min_hw is None or area < self.min_hw[0] * self.min_hw[1]:
            self.min_hw = hw
        if self.max_hw is None or area > self.max_hw[0] * self.max_hw[1]:
            self.max_hw = hw


def _read_image(report: SplitReport, path: str) -> Optional[tuple]:
    """Read ``path`` as training will (cv2, colour, EXIF orientation applied); record problems and the
    file's hash. Returns the decoded (height, width), or None when it cannot be used."""
    if not osp.isfile(path):
        report.error(path, 'listed but missing')
        return None
    with open(path, 'rb') as f:
        data = f.read()
    report.hashes.setdefault(hashlib.md5(data).hexdigest(), path)
    if not data:
        report.error(path, 'empty file')
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    pil_error = ''
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as pil:
            pil.load()  # names a cut-short file, which cv2 refuses (or decodes with a grey band) without a word
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError ... on bad files
        pil_error = str(e)
    if 'truncated' in pil_error:
        report.error(path, f'truncated image, the file ends early ({pil_error})')
        return None
    if img is None:
        report.error(path, 'not a decodable image (cv2 cannot read it)')
        return None
    hw = tuple(img.shape[:2])
    report.add_size(hw)
    return hw


def _track(items: list, label: str) -> Iterable:
    from mmengine.utils import ProgressBar

    if not items:
        return items
    print(f'[dataset_check] {label}: {len(items)} files', file=sys.stderr)
    bar = ProgressBar(len(items), file=sys.stderr)

    def gen():
        for item in items:
            yield item
            bar.update()
        sys.stderr.write('\n')

    return gen()


# --------------------------------------------------------------------------- segmentation
def _check_seg(report: SplitReport, dataset: Any) -> None:
    img_dir = dataset.data_prefix.get('img_path', '')
    ann_dir = dataset.data_prefix.get('seg_map_path', '')
    suffix = getattr(dataset, 'seg_map_suffix', '.png')
    zero = bool(getattr(dataset, 'reduce_zero_label', False))
    ignore = int(getattr(dataset, 'ignore_index', 255))
    num = len(report.classes)
    for d in (img_dir, ann_dir):
        if not osp.isdir(d):
            report.error(d, 'directory not found')
    if report.problems:
        return
    images = sorted(f for f in os.listdir(img_dir) if f.lower().endswith(IMG_EXTENSIONS))
    stems = {osp.splitext(f)[0] for f in images}
    if not images:
        report.error(img_dir, 'no images')
    for f in sorted(os.listdir(ann_dir)):
        if f.endswith(suffix) and f[: -len(suffix)] not in stems:
            report.warn(osp.join(ann_dir, f), 'label map without an image (not used)')
    from PIL import Image

    for f in _track(images, f'{report.split} images + label maps'):
        img_path = osp.join(img_dir, f)
        seg_path = osp.join(ann_dir, osp.splitext(f)[0] + suffix)
        hw = _read_image(report, img_path)
        if not osp.isfile(seg_path):
            report.error(img_path, f'no label map (expected {seg_path})')
            continue
        try:
            with Image.open(seg_path) as seg_img:
                mode = seg_img.mode
                seg = np.array(seg_img)
        except OSError as e:
            report.error(seg_path, f'unreadable label map ({e})')
            continue
        if seg.ndim != 2:
            report.error(
                seg_path,
                f'a {mode} label map of shape {seg.shape}: label PNGs hold one class index per pixel (grey or '
                'palette PNG), not colours',
            )
            continue
        if hw is not None:
            turned = exif_orientation(img_path)
            if tuple(seg.shape) != hw:
                why = (
                    f'; its EXIF orientation {turned} turns the image when it is decoded, not the label map'
                    if turned in (5, 6, 7, 8) and tuple(seg.shape) == hw[::-1]
                    else ''
                )
                report.error(
                    seg_path,
                    f'label map is {seg.shape[0]}x{seg.shape[1]} but its image {f} is {hw[0]}x{hw[1]} as decoded{why}',
                )
                continue
            if turned in (2, 3, 4) or (turned != 1 and hw[0] == hw[1]):  # a turn that keeps the size
                report.warn(
                    img_path,
                    f'EXIF orientation {turned}: the image is turned when decoded but its label map is not; '
                    'check that they line up',
                )
        values = seg.astype(np.int64)
        if zero:
            values = np.where(values == 0, ignore, values - 1)
            values = np.where(values == ignore - 1, ignore, values)  # 255 stays ignored, as mmseg does
        found = np.bincount(values[values != ignore].ravel(), minlength=num) if (values != ignore).any() else None
        if found is None:
            report.warn(seg_path, 'no labelled pixel (every pixel is the ignore index)')
            continue
        outside = [int(v) for v in np.nonzero(found[num:])[0] + num]
        if outside:
            shown = [v + 1 for v in outside] if zero else outside
            report.error(
                seg_path,
                f'label values {shown[:10]} are outside the {num} classes (0..{num - 1}'
                f'{", after reduce_zero_label" if zero else ""}) and are not the ignore index {ignore}',
            )
        for i, n in enumerate(found[:num]):
            report.counts[report.classes[i]] += int(n)


# --------------------------------------------------------------------------- detection
def _check_det(report: SplitReport, dataset: Any) -> None:
    ann_file = dataset.ann_file
    img_dir = dataset.data_prefix.get('img', '') or dataset.data_root
    try:
        with open(ann_file, encoding='utf-8') as f:
            data = json.load(f)
    except OSError as e:
        report.error(ann_file, f'annotation file cannot be read ({e.strerror or e})')
        return
    except ValueError as e:
        report.error(ann_file, f'not valid JSON ({e})')
        return
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ('images', 'annotations')):
        report.error(ann_file, "expected a COCO object with 'images', 'annotations' and 'categories' lists")
        return
    cats = {c.get('id'): str(c.get('name')) for c in data.get('categories') or [] if isinstance(c, dict)}
    unused = [n for n in cats.values() if n not in report.classes]
    if unused:
        report.warn(ann_file, f'categories {unused} are not among the classes: their annotations are not used')
    images = {}
    for img in data['images']:
        if isinstance(img, dict) and 'id' in img:
            images[img['id']] = img
    anns_of: dict = {}
    for i, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            report.error(ann_file, f'annotations[{i}] is not an object')
            continue
        if ann.get('image_id') not in images:
            report.error(ann_file, f'annotation id {ann.get("id")}: image_id {ann.get("image_id")!r} is not an image')
            continue
        anns_of.setdefault(ann['image_id'], []).append(ann)
    for img_id, img in _track(list(images.items()), f'{report.split} images'):
        path = osp.join(img_dir, str(img.get('file_name', '')))
        hw = _read_image(report, path)
        anns = anns_of.get(img_id, [])
        if hw is not None and (img.get('height'), img.get('width')) != hw:
            turned = exif_orientation(path)
            why = (
                f'; its EXIF orientation {turned} turns it when decoded'
                if turned in (5, 6, 7, 8) and (img.get('height'), img.get('width')) == hw[::-1]
                else ''
            )
            report.error(
                path,
                f'decoded as {hw[0]}x{hw[1]} but the json says {img.get("height")}x{img.get("width")} '
                f'(height x width){why}: its boxes and masks would not line up',
            )
        if not [a for a in anns if not a.get('iscrowd')]:
            report.warn(path, 'no annotations (filter_empty_gt leaves it out of training)')
        height, width = img.get('height') or 0, img.get('width') or 0
        for ann in anns:
            where = f'annotation id {ann.get("id")}'
            cat = ann.get('category_id')
            if cat not in cats:
                report.error(path, f'{where}: category_id {cat!r} is not among the categories {sorted(cats)}')
                continue
            bbox = ann.get('bbox')
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
                report.error(path, f'{where}: bbox {bbox!r} is not [x, y, width, height]')
                continue
            x, y, w, h = bbox
            if w <= 0 or h <= 0:
                report.warn(path, f'{where}: bbox {bbox} has zero area (mmdet drops it)')
                continue
            if x >= width or y >= height or x + w <= 0 or y + h <= 0:
                report.error(path, f'{where}: bbox {bbox} lies outside the {height}x{width} image')
                continue
            if x < 0 or y < 0 or x + w > width + 1 or y + h > height + 1:
                report.warn(path, f'{where}: bbox {bbox} reaches outside the {height}x{width} image')
            if cats[cat] in report.classes and not ann.get('iscrowd'):
                report.counts[cats[cat]] += 1


# --------------------------------------------------------------------------- classification
def _check_cls(report: SplitReport, dataset: Any) -> None:
    img_dir = dataset.data_prefix.get('img_path', '') or dataset.data_root
    samples = []  # (path, label)
    if dataset.ann_file:
        if not osp.isfile(dataset.ann_file):
            report.error(dataset.ann_file, 'annotation file not found')
            return
        with open(dataset.ann_file, encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                parts = line.strip().rsplit(maxsplit=1)
                if not parts:
                    continue
                if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                    report.error(dataset.ann_file, f'line {n}: expected "<path> <int label>", got {line.strip()!r}')
                    continue
                label = int(parts[1])
                if not 0 <= label < len(report.classes):
                    report.error(dataset.ann_file, f'line {n}: label {label} outside 0..{len(report.classes) - 1}')
                    continue
                samples.append((osp.join(img_dir, parts[0]), label))
    else:
        if not osp.isdir(img_dir):
            report.error(img_dir, 'directory not found')
            return
        folders = sorted(d for d in os.listdir(img_dir) if osp.isdir(osp.join(img_dir, d)) and not d.startswith('.'))
        for d in folders:
            if d not in report.classes:
                report.error(osp.join(img_dir, d), f'class folder {d!r} is not one of the classes {report.classes}')
        for label, name in enumerate(report.classes):
            folder = osp.join(img_dir, name)
            files = []
            for root, dirs, names in os.walk(folder):
                dirs.sort()
                files += [osp.join(root, f) for f in sorted(names) if f.lower().endswith(IMG_EXTENSIONS)]
            if not files:
                report.warn(folder, f'no images of class {name!r}')
            samples += [(p, label) for p in files]
    for path, label in _track(samples, f'{report.split} images'):
        if _read_image(report, path) is not None:
            report.counts[report.classes[label]] += 1


# --------------------------------------------------------------------------- driver
def _build_lazily(ds_cfg: dict) -> Any:
    from mmconvnext.registry import DATASETS

    cfg = dict(ds_cfg, lazy_init=True, pipeline=[])
    cfg.pop('skip_bad_samples', None)
    return DATASETS.build(cfg)


def check_config_data(cfg: Any) -> list:
    """A :class:`SplitReport` for each split of ``cfg`` (a config already pointed at its data, e.g. by
    :func:`mmconvnext.apis.use_custom_data`): train, val, and test when its dataset differs from val's."""
    from mmengine.registry import init_default_scope

    task = config_task(cfg)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    check = {'seg': _check_seg, 'det': _check_det, 'cls': _check_cls}[task]
    unit = {'seg': 'pixels', 'det': 'instances', 'cls': 'images'}[task]
    reports, seen = [], []
    for split, key in _LOADERS.items():
        loader = cfg.get(key)
        if not isinstance(loader, dict) or 'dataset' not in loader:
            continue
        for ds_cfg in leaf_datasets(loader['dataset']):
            plain = ds_cfg.to_dict() if hasattr(ds_cfg, 'to_dict') else dict(ds_cfg)
            if plain in seen:
                continue
            seen.append(plain)
            dataset = _build_lazily(plain)
            where = getattr(dataset, 'ann_file', '') or dataset.data_root
            report = SplitReport(split, where, unit, classes=tuple(dataset.metainfo.get('classes') or ()))
            check(report, dataset)
            reports.append(report)
    by_hash: dict = {}
    for report in reports:
        for digest, path in report.hashes.items():
            by_hash.setdefault(digest, []).append((report.split, path))
    for report in reports:
        if report.split == 'train':
            continue
        for digest, path in report.hashes.items():
            in_train = [p for s, p in by_hash[digest] if s == 'train']
            if in_train:
                report.warn(path, f'the same image (same bytes) is in train: {in_train[0]}')
    return reports


def format_reports(reports: list) -> str:
    """The reports as text: per split, the image count, size range and per-class counts, then the problems."""
    lines = []
    for r in reports:
        size = f', sizes {r.min_hw[0]}x{r.min_hw[1]} to {r.max_hw[0]}x{r.max_hw[1]} (HxW)' if r.min_hw else ''
        lines.append(f'== {r.split} ({r.where}): {r.images} readable images{size}')
        total = sum(r.counts.values()) or 1
        width = max([len('class')] + [len(c) for c in r.classes])
        lines.append(f'   {"class".ljust(width)}  {r.unit:>12}  share')
        for c in r.classes:
            lines.append(f'   {c.ljust(width)}  {r.counts.get(c, 0):>12}  {100.0 * r.counts.get(c, 0) / total:5.1f}%')
        errors = [p for p in r.problems if p.level == 'error']
        warnings = [p for p in r.problems if p.level == 'warning']
        lines.append(f'   {len(errors)} error(s), {len(warnings)} warning(s)')
        for p in errors + warnings:
            lines.append(f'   {p.level.upper()} {p.path}: {p.message}')
    n_err = sum(p.level == 'error' for r in reports for p in r.problems)
    n_warn = sum(p.level == 'warning' for r in reports for p in r.problems)
    verdict = 'FAIL: fix the errors before training' if n_err else 'OK'
    lines.append(f'{verdict} ({n_err} error(s), {n_warn} warning(s))')
    return '\n'.join(lines)


def show_samples(cfg: Any, num: int, out_dir: str) -> list:
    """Draw ``num`` training samples as the model will see them (after the training pipeline), their
    labels over them, into ``out_dir`` (one PNG each, as mmdet's and mmseg's ``browse_dataset`` do).
    Returns the files written."""
    from mmengine.registry import init_default_scope

    from mmconvnext.registry import DATASETS

    init_default_scope(cfg.get('default_scope', 'mmengine'))
    task = config_task(cfg)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    os.makedirs(out_dir, exist_ok=True)
    visualizer = None
    if task in ('seg', 'det'):
        from mmengine.registry import VISUALIZERS

        vis_cfg = dict(cfg.visualizer, name='dataset_check', vis_backends=None)
        vis_cfg.pop('save_dir', None)
        visualizer = VISUALIZERS.build(vis_cfg)
        visualizer.dataset_meta = dataset.metainfo
    written = []
    for i in range(min(num, len(dataset))):
        item = dataset[i]
        inputs, sample = item['inputs'], item['data_samples']
        img = inputs.permute(1, 2, 0).numpy()[..., [2, 1, 0]].copy()  # packed BGR -> RGB
        name = osp.splitext(osp.basename(sample.metainfo.get('img_path', f'{i}')))[0]
        out = osp.join(out_dir, f'{i:03d}_{name}.png')
        gt = getattr(sample, 'gt_instances', None)
        if gt is not None:  # as mmdet's browse_dataset: plain tensors and arrays for the visualizer
            if hasattr(gt.get('bboxes'), 'tensor'):
                gt.bboxes = gt.bboxes.tensor
            if gt.get('masks') is not None and hasattr(gt.masks, 'to_ndarray'):
                gt.masks = gt.masks.to_ndarray().astype(bool)
        if visualizer is not None:
            visualizer.add_datasample(name, img, sample, draw_pred=False, show=False, out_file=out)
        else:
            label = int(sample.gt_label.reshape(-1)[0]) if hasattr(sample, 'gt_label') else -1
            text = dataset.metainfo['classes'][label] if 0 <= label < len(dataset.metainfo['classes']) else '?'
            bgr = np.ascontiguousarray(img[..., ::-1])
            cv2.putText(bgr, text, (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(bgr, text, (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.imwrite(out, bgr)
        written.append(out)
    return written
