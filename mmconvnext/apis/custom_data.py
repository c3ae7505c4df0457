"""Make a config follow a user's own dataset: the one edit behind ``--data-root DIR [--classes ...]``.

:func:`use_custom_data` reads the layout of ``DIR`` (the task's standard layout or the common "own data"
layout, see ``docs/custom_data.md``) and the class names (given, or read from the COCO json / the class
folders), then points every dataloader's dataset, the evaluators' annotation files, every head's
``num_classes`` and the palette at them. The edited config is what the runner dumps into the work dir, so a
later ``tools/test.py WORK_DIR/CONFIG.py CKPT`` needs none of the flags.

A config asks for the same with a ``custom_data`` entry, which :func:`mmconvnext.apis.load_config` applies
(and removes) when the tools load it::

    _base_ = './upernet_convnext_tiny_ade20k.py'
    custom_data = dict(data_root='data/my_scenes', classes=('sky', 'road', 'car'))
"""

import colorsys
import json
import os
import os.path as osp
from collections.abc import Iterator, Sequence
from typing import Any, Optional, Union

from mmengine.config import Config, ConfigDict

__all__ = [
    'config_task',
    'detect_layout',
    'leaf_datasets',
    'make_palette',
    'read_classes_file',
    'set_data_root',
    'set_num_classes',
    'use_custom_data',
]

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: the split each loader reads in the own-data layouts
_SPLIT = {'train_dataloader': 'train', 'val_dataloader': 'val', 'test_dataloader': 'val'}


def _all_datasets(dataset: ConfigDict) -> Iterator[ConfigDict]:
    """A dataset config and the ones it wraps (RepeatDataset, ConcatDataset, ...)."""
    yield dataset
    inner = dataset.get('dataset')
    if isinstance(inner, dict):
        yield from _all_datasets(inner)
    for inner in dataset.get('datasets', []) or []:
        yield from _all_datasets(inner)


def set_data_root(cfg: Config, data_root: str) -> None:
    """``--data-root``: point every dataloader's dataset (and the datasets it wraps) that has a ``data_root``
    at ``data_root``, and the evaluators' ``ann_file`` (and ``seg_prefix``) under the old root with them.

    One flag instead of several ``--cfg-options``, since a COCO config names its root in three datasets and
    two evaluators.

    Raises:
        KeyError: no dataset of the config has a ``data_root``.
    """
    old_roots = set()
    for key in _LOADERS:
        loader = cfg.get(key)
        if not loader or 'dataset' not in loader:
            continue
        for ds in _all_datasets(loader.dataset):
            if 'data_root' in ds:
                old_roots.add(ds.data_root)
                ds.data_root = data_root
    found = bool(old_roots)
    # metrics that read the annotation file themselves (COCO) name it under the old root
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key) or []
        for ev in evaluators if isinstance(evaluators, list) else [evaluators]:
            for key in ('ann_file', 'seg_prefix'):  # seg_prefix: the panoptic metric's ground-truth PNGs
                path = ev.get(key) if isinstance(ev, dict) else None
                for old in old_roots:
                    if isinstance(path, str) and old and path.startswith(old):
                        ev[key] = osp.join(data_root, path[len(old) :].lstrip('/'))
    if not found:
        raise KeyError('--data-root: no dataset in train/val/test_dataloader has a data_root to override')


def config_task(cfg: Config) -> str:
    """``'seg'``, ``'det'`` or ``'cls'``: the task of ``cfg``'s model, read from its parts (a decode head:
    segmentation; an RPN / RoI / bbox head or mmdet's Mask2Former / MaskFormer head: detection; a classifier
    with ``num_classes``: classification).

    Raises:
        ValueError: a model none of these describes.
    """
    model = cfg.get('model') or {}
    if model.get('type') in ('SegTTAModel', 'DetTTAModel') and isinstance(model.get('module'), dict):
        model = model.module
    if 'decode_head' in model:
        return 'seg'
    if any(k in model for k in ('roi_head', 'rpn_head', 'bbox_head', 'panoptic_head')):
        return 'det'
    if 'num_classes' in model or 'head' in model:
        return 'cls'
    raise ValueError(
        f'cannot tell the task of model type {model.get("type")!r}: expected a segmentor (decode_head), '
        'a detector (rpn_head/roi_head/bbox_head) or a classifier (num_classes)'
    )


def read_classes_file(path: str) -> list[str]:
    """Class names from a text file, one a line (blank lines skipped).

    Raises:
        FileNotFoundError, ValueError: no such file; an empty file or a repeated name (named).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'--classes-file {path!r} not found (expected a text file, one class name a line)')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f'--classes-file {path!r} is empty (expected one class name a line)')
    return names


def make_palette(num: int) -> list[tuple[int, int, int]]:
    """``num`` distinct RGB colours, the same for every run (hues spaced by the golden ratio)."""
    colours = []
    for i in range(num):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65 + 0.35 * (i % 2), 0.95 - 0.3 * (i % 3 == 2))
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


def _is_dir(*parts: str) -> bool:
    return osp.isdir(osp.join(*parts))


def _is_file(*parts: str) -> bool:
    return osp.isfile(osp.join(*parts))


def detect_layout(data_root: str, task: str) -> Optional[str]:
    """The layout of ``data_root`` for ``task``: ``'own'`` (the common own-data layout), ``'ade20k'``,
    ``'coco'``, ``'folders'`` (ImageNet's class folders, also the own-data layout of classification),
    ``'annotation_file'`` (ImageNet's ``meta/*.txt``), or None: a missing directory or none of these (the
    config's dataset then names what it misses)."""
    if not osp.isdir(data_root):
        return None
    if task == 'seg':
        if _is_dir(data_root, 'images', 'train') and _is_dir(data_root, 'annotations', 'train'):
            return 'own'
        if _is_dir(data_root, 'images', 'training'):
            return 'ade20k'
    elif task == 'det':
        if _is_file(data_root, 'annotations', 'train.json'):
            return 'own'
        if _is_file(data_root, 'annotations', 'instances_train2017.json'):
            return 'coco'
    else:
        if _is_dir(data_root, 'train'):
            return 'folders'
        if _is_file(data_root, 'meta', 'train.txt'):
            return 'annotation_file'
    return None


def _json_classes(path: str) -> list[str]:
    """The category names of a COCO json, in the order of its ``categories`` list (the order mmdet's
    ``CocoDataset`` gives their labels)."""
    try:
        with open(path, encoding='utf-8') as f:
            categories = json.load(f).get('categories')
    except (OSError, ValueError, AttributeError) as e:
        raise ValueError(f'{path}: cannot read its categories ({e})') from None
    if not isinstance(categories, list) or not categories:
        raise ValueError(f"{path}: no 'categories' list to read the class names from")
    try:
        names = [str(c['name']) for c in categories]
    except (KeyError, TypeError):
        raise ValueError(f"{path}: every entry of 'categories' needs a 'name'") from None
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f'{path}: category names repeat ({repeated}); each class needs its own name')
    return names


def _folder_classes(folder: str) -> list[str]:
    names = sorted(d for d in os.listdir(folder) if not d.startswith('.') and osp.isdir(osp.join(folder, d)))
    if not names:
        raise FileNotFoundError(f'{folder}: no class folders (expected {folder}/<class>/<image>)')
    return names


def _png_palette(ann_dir: str, num: int) -> Optional[list[tuple[int, int, int]]]:
    """The palette of the first palette-mode label PNG in ``ann_dir`` (its first ``num`` colours), if any."""
    from PIL import Image

    for name in sorted(os.listdir(ann_dir))[:20]:
        if not name.lower().endswith('.png'):
            continue
        try:
            with Image.open(osp.join(ann_dir, name)) as img:
                if img.mode != 'P':
                    continue
                flat = img.getpalette() or []
        except OSError:
            continue
        if len(flat) >= 3 * num:
            return [tuple(flat[3 * i : 3 * i + 3]) for i in range(num)]
    return None


def leaf_datasets(dataset: Any) -> Iterator[ConfigDict]:
    """The innermost dataset configs of a (possibly wrapped: RepeatDataset, ConcatDataset ...) dataset."""
    if not isinstance(dataset, dict):
        return
    inner = [dataset['dataset']] if isinstance(dataset.get('dataset'), dict) else list(dataset.get('datasets') or [])
    if not inner:
        yield dataset
    for d in inner:
        yield from leaf_datasets(d)


def _walk(node: Any) -> Iterator[dict]:
    """Every dict nested in ``node`` (dicts and lists)."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _walk(v)


def set_num_classes(cfg: Config, num_classes: int) -> list[str]:
    """Set ``num_classes`` of every head of ``cfg.model`` (decode and auxiliary heads, bbox heads of every
    cascade stage, mask heads, the classifier; ``num_things_classes`` of an instance-only Mask2Former, whose
    stuff classes are 0) to ``num_classes``, with any per-class ``loss_cls.class_weight``; the RPN's
    class-agnostic head keeps its 1. Returns the dotted names of the keys set.

    Raises:
        ValueError: the model has no ``num_classes`` to set, or a head that splits its classes into things
            and stuff (a panoptic head), whose split cannot be read from a class list.
    """
    where = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if 'num_things_classes' in node or 'num_stuff_classes' in node:
                if node.get('num_stuff_classes', 0):
                    raise ValueError(
                        f'{path or "model"} splits its classes into things and stuff (num_things_classes / '
                        'num_stuff_classes): set them in the config; --classes sets num_classes only'
                    )
                # instance segmentation by a mask-classification head (Mask2Former): every class a thing
                _resize_class_weight(node, node.get('num_things_classes', 0), num_classes, path)
                node['num_things_classes'] = num_classes
                where.append(f'{path}.num_things_classes')
            if 'num_classes' in node:
                _resize_class_weight(node, node['num_classes'], num_classes, path)
                node['num_classes'] = num_classes
                where.append(f'{path}.num_classes' if path else 'num_classes')
            for k, v in node.items():
                if k not in ('rpn_head', 'train_cfg', 'test_cfg', 'data_preprocessor'):
                    visit(v, f'{path}.{k}' if path else k)
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                visit(v, f'{path}.{i}')

    visit(cfg.model, 'model')
    if not where:
        raise ValueError('the model config has no num_classes to set for the classes of the data')
    return where


def _resize_class_weight(head: dict, old: int, num_classes: int, path: str) -> None:
    """A head's ``loss_cls.class_weight`` for ``old`` classes (one weight per class, and one for "no object" in
    mask-classification heads such as Mask2Former's) resized to ``num_classes``: the per-class weight and the
    last one kept."""
    loss = head.get('loss_cls')
    weights = loss.get('class_weight') if isinstance(loss, dict) else None
    if not isinstance(weights, (list, tuple)):
        return
    extra = len(weights) - old
    if extra not in (0, 1) or len(set(weights[:old])) > 1:
        raise ValueError(
            f'{path}.loss_cls.class_weight has {len(weights)} entries for {old} classes, not one weight for every '
            f'class (+ "no object"): set it for the {num_classes} classes of the data in the config'
        )
    head['loss_cls']['class_weight'] = [weights[0]] * num_classes + list(weights[old:])


def _splits_things_and_stuff(model: Any) -> bool:
    """Whether a model config has a head with stuff classes (a panoptic head)."""
    return any(node.get('num_stuff_classes') for node in _walk(model))


def _declared_classes(cfg: Config, task: str) -> Optional[list[str]]:
    """The classes the config's datasets name themselves (``metainfo.classes``; a classification dataset's
    ``classes``), if any: a config written for a subset of a dataset's classes keeps it."""
    for key in _LOADERS:
        loader = cfg.get(key)
        for ds in leaf_datasets(loader.get('dataset') if isinstance(loader, dict) else None):
            declared = (ds.get('metainfo') or {}).get('classes')
            if declared is None and task == 'cls' and not isinstance(ds.get('classes'), str):
                declared = ds.get('classes')
            if declared is not None:
                return [str(c) for c in declared]
    return None


def _check_classes(names: Sequence[str], task: str) -> list[str]:
    names = [str(n) for n in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f'--classes: names repeat ({repeated}); each class needs its own name')
    least = 2 if task in ('seg', 'cls') else 1
    if len(names) < least:
        what = 'segmentation needs a class for the background too' if task == 'seg' else 'a classifier needs two'
        raise ValueError(f'--classes: {len(names)} class given, at least {least} expected ({what})')
    return names


def _set_seg_pipelines(cfg: Config) -> None:
    """Every segmentation ``LoadAnnotations`` (dataset pipelines, the TTA pipeline, the top-level
    ``*_pipeline`` variables) follows the dataset's ``reduce_zero_label`` (``None``: mmseg's transform then
    reads the dataset's, where a value of its own must agree with it or the transform refuses to run)."""
    roots = [cfg.get(k) for k in _LOADERS] + [cfg.get(k) for k in cfg.keys() if k.endswith('_pipeline')]
    for node in _walk(roots):
        if node.get('type') in ('LoadAnnotations', 'mmseg.LoadAnnotations'):
            node['reduce_zero_label'] = None


def use_custom_data(
    cfg: Config,
    data_root: str,
    classes: Optional[Sequence[str]] = None,
    reduce_zero_label: Optional[bool] = None,
) -> dict:
    """Make ``cfg`` (edited in place) train, validate and test on the dataset at ``data_root``.

    The task's standard layout (ADE20K, COCO, ImageNet folders or annotation files) keeps the config's
    dataset and only moves its root. The own-data layouts (``docs/custom_data.md``) switch the datasets to
    them. Then, when the classes are known -- given, read from the COCO json's categories, or from the class
    folders -- every dataset's ``metainfo`` (classes, and a palette: a palette PNG's own, else a generated
    one), every head's ``num_classes`` and the evaluators follow them.

    Args:
        cfg: a loaded config of a segmentor, detector or classifier.
        data_root: the dataset's root directory.
        classes: the class names (label order). Default: the classes the config's datasets declare
            (``metainfo``), else read from the data where it names them (the COCO json's categories, the
            class folders; for the segmentation own-data layout ``DIR/classes.txt``, else required).
        reduce_zero_label: segmentation own-data layout only: label value 0 means "unlabelled" and
            value ``v`` is class ``v - 1`` (ADE20K's convention). Default False: values are the class
            indices, 255 is ignored.

    Returns:
        ``dict(task=, layout=, classes=, num_classes_set=[dotted keys])`` (classes None when unknown).

    Raises:
        FileNotFoundError, ValueError, KeyError: a missing directory, a layout that is none of the task's,
            classes that do not fit the data, or a config whose datasets cannot be redirected; each
            names the path, the flag or the config key.
    """
    try:
        task = config_task(cfg)
    except ValueError as e:  # a model without classes (FCMAE pre-training ...): only the root moves
        if classes is not None or reduce_zero_label is not None:
            raise ValueError(f'--classes / --reduce-zero-label: {e}') from None
        set_data_root(cfg, data_root)
        return dict(task=None, layout=None, classes=None, num_classes_set=[])
    if _splits_things_and_stuff(cfg.model):  # panoptic: the classes are the config's, only the root moves
        if classes is not None or reduce_zero_label is not None:
            raise ValueError(
                '--classes / --reduce-zero-label: this panoptic model splits its classes into things and stuff; '
                "set num_things_classes / num_stuff_classes and the datasets' metainfo in the config"
            )
        set_data_root(cfg, data_root)
        return dict(task=task, layout=None, classes=None, num_classes_set=[])
    layout = detect_layout(data_root, task)
    own = layout == 'own'
    if reduce_zero_label is not None and not (task == 'seg' and own):
        raise ValueError(
            '--reduce-zero-label applies to the segmentation own-data layout only '
            f'(DIR/images/train + DIR/annotations/train); {data_root!r} is not in it'
        )
    names = list(classes) if classes is not None else _declared_classes(cfg, task)
    if task == 'seg' and own and names is None:
        listed = osp.join(data_root, 'classes.txt')
        if not osp.isfile(listed):
            raise ValueError(
                f'--data-root {data_root!r}: label PNGs hold class indices, not names: give the names in index '
                f'order with --classes NAME ... or --classes-file FILE (or write them to {listed}, one a line)'
            )
        names = read_classes_file(listed)
    if task == 'det' and layout is not None:
        json_file = osp.join(data_root, 'annotations', 'train.json' if own else 'instances_train2017.json')
        in_json = _json_classes(json_file)
        if names is None:
            names = in_json
        else:
            unknown = [n for n in names if n not in in_json]
            if unknown:
                raise ValueError(f'--classes {unknown} are not category names of {json_file} ({in_json})')
            in_order = [n for n in in_json if n in names]
            if list(names) != in_order:  # mmdet gives labels in the json's order, whatever the names' order
                raise ValueError(
                    f'--classes must follow the order of the categories in {json_file}: {in_order}, got {list(names)}'
                )
    if task == 'cls' and layout == 'folders' and names is None:
        names = _folder_classes(osp.join(data_root, 'train'))
    if names is not None:
        names = _check_classes(names, task)

    loaders = [k for k in _LOADERS if isinstance(cfg.get(k), dict) and 'dataset' in cfg[k]]
    if not loaders:
        raise KeyError('--data-root: the config has no train/val/test_dataloader with a dataset')
    if not (own or (task == 'cls' and layout == 'folders')):
        set_data_root(cfg, data_root)  # the task's standard layout: the config's datasets, at a new root
    palette = None
    if names is not None:
        ann_dir = osp.join(data_root, 'annotations', 'train')
        palette = (_png_palette(ann_dir, len(names)) if task == 'seg' and own else None) or make_palette(len(names))
    zero = bool(reduce_zero_label)
    for key in loaders:
        split = _SPLIT[key]
        for ds in leaf_datasets(cfg[key].dataset):
            if task == 'seg' and own:
                ds.type = 'mmconvnext.SegFolderDataset'
                ds.data_root = data_root
                ds.data_prefix = dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}')
                ds.reduce_zero_label = zero
                for k in ('img_suffix', 'seg_map_suffix'):
                    ds.pop(k, None)
            elif task == 'det' and own:
                if 'Shapes' in str(ds.get('type')):  # the demos' datasets carry their own classes
                    ds.type = 'mmconvnext.CocoDataset'
                ds.data_root = data_root
                ds.ann_file = f'annotations/{split}.json'
                ds.data_prefix = dict(img='images/')
            elif task == 'cls' and layout == 'folders':
                ds.data_root = data_root
                ds.data_prefix = split
                ds.ann_file = ''
            if names is None:
                continue
            if task == 'cls':
                ds.classes = list(names)
                ds.pop('num_classes', None)
                ds.metainfo = dict(ds.get('metainfo') or {}, classes=tuple(names))
            else:
                ds.metainfo = dict(classes=tuple(names), palette=[tuple(c) for c in palette])
    if task == 'seg' and own:
        _set_seg_pipelines(cfg)
    _set_evaluators(cfg, task, data_root, layout, names)
    where = set_num_classes(cfg, len(names)) if names is not None else []
    return dict(task=task, layout=layout, classes=names, num_classes_set=where)


def _set_evaluators(cfg: Config, task: str, data_root: str, layout: Optional[str], names: Optional[list[str]]) -> None:
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        if not evaluators:
            continue
        for ev in evaluators if isinstance(evaluators, list) else [evaluators]:
            if not isinstance(ev, dict):
                continue
            if task == 'det' and layout == 'own' and 'ann_file' in ev:
                ev.ann_file = osp.join(data_root, 'annotations', 'val.json')
            if names is None:
                continue
            kind = str(ev.get('type', ''))
            if kind.endswith('CocoMetric'):
                ev.classwise = True  # the per-class table, with the data's class names
            elif kind.endswith('Accuracy'):
                ev.classwise = True  # (a top-k beyond the classes counts as top-all, with a warning)


def apply_custom_data_entry(cfg: Config, source: Union[str, None] = None) -> Optional[dict]:
    """The config's own ``custom_data = dict(data_root=..., classes=..., reduce_zero_label=...)`` entry,
    applied by :func:`use_custom_data` and removed (the dumped config holds the result, not the request).
    Returns what :func:`use_custom_data` returned, or None without such an entry.

    Raises:
        ValueError: the entry is not a dict with a ``data_root`` (``source`` names the config file).
    """
    entry = cfg.get('custom_data')
    if entry is None:
        return None
    where = source or 'the config'
    allowed = {'data_root', 'classes', 'classes_file', 'reduce_zero_label'}
    if not isinstance(entry, dict) or 'data_root' not in entry or set(entry) - allowed:
        raise ValueError(
            f'{where}: custom_data must be dict(data_root=DIR[, classes=(...) | classes_file=FILE]'
            f'[, reduce_zero_label=bool]), got {entry!r}'
        )
    classes = entry.get('classes')
    if entry.get('classes_file'):
        classes = read_classes_file(entry['classes_file'])
    cfg._cfg_dict.pop('custom_data')  # Config has no __delitem__; its dict has
    return use_custom_data(cfg, entry['data_root'], classes, entry.get('reduce_zero_label'))
