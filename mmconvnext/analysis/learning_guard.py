"""A learning-quality guard: does the toolkit still learn from real images as well as it should?

scikit-learn's digits (1,797 real handwritten scans, 8x8, shipped with the package) are written as an ImageNet
folder layout at 32 px, a quarter of each class held out; the real classification config
(``configs/convnext_tiny_in1k.py``) trains on them through the tools' runner (:func:`mmconvnext.apis.build_runner`,
the one ``tools/train.py`` uses), changed only where a user would change it for such data; the held-out top-1 is
the result. A change to data loading, seeding or augmentation that quietly damages training shows up here as a
lower top-1, where the other tests (finite losses, printed metrics) still pass.

``tests/test_integration/test_learning_guard.py`` runs it once with a fixed seed against a threshold set from
the seed spread that ``tools/analysis/learning_guard.py`` measures (``docs/learning_guard.md``). The same tool
runs the deliberate breakages (:data:`BREAKAGES`) that show the threshold catches them.
"""

import contextlib
import os
import os.path as osp
from collections.abc import Iterator
from typing import Optional

import cv2
import numpy as np

__all__ = [
    'BREAKAGES',
    'CONFIG',
    'SEG_CONFIG',
    'TASK_BREAKAGES',
    'guard_seg_config',
    'run_seg_guard',
    'guard_config',
    'make_digits_imagenet',
    'render_results',
    'render_table',
    'run_guard',
]

#: the real config the guard trains (relative to the repository root)
CONFIG = 'configs/convnext_tiny_in1k.py'

#: the real segmentation config of the dense guard
SEG_CONFIG = 'configs/upernet_convnext_tiny_ade20k.py'

#: deliberate breakages the guard must catch: name -> what it does
BREAKAGES = {
    'unflipped_labels': "segmentation: RandomFlip flips the image but not its label map (mmcv's flip of the "
    'segmentation map made a no-op)',
    'constant_aug': "per-sample seeding removed from the runner's SeededDataset: every sample of a batch gets the "
    'same crop and flip',
    'shuffled_labels': 'the training images put in random class folders (the held-out labels stay true)',
}


#: the breakages each task's guard is shown to catch
TASK_BREAKAGES = {'cls': ('constant_aug', 'shuffled_labels'), 'seg': ('constant_aug', 'unflipped_labels')}


def make_digits_imagenet(root: str, size: int = 32, shuffle_labels: bool = False) -> str:
    """scikit-learn's digits in the ImageNet folder layout under ``root`` (returned): ``train/<digit>/*.png`` and
    ``val/<digit>/*.png``, every 4th image of each class held out, grey PNGs upscaled (bilinear) to ``size``.
    ``shuffle_labels``: the training images go to the folders of a fixed random permutation of their labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError('the learning guard needs scikit-learn (a development requirement)') from e
    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    labels = digits.target.astype(int)
    train_labels = labels.copy()
    if shuffle_labels:
        train_labels = np.random.default_rng(0).permutation(labels)
    seen: dict = {}
    for i, (img, label) in enumerate(zip(images, labels)):
        k = seen[label] = seen.get(label, -1) + 1
        split = 'val' if k % 4 == 3 else 'train'
        folder = str(label if split == 'val' else train_labels[i])
        path = osp.join(root, split, folder, f'{i:04d}.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR))
    return root


def guard_config(repo_root: str, data_root: str, work_dir: str, seed: int, epochs: int = 8, size: int = 32):
    """The real classification config, changed only where a user would for 32-px digits: ConvNeXt-atto, the 10
    classes of the folders (``--data-root``), 32-px crops, batch 64 at lr 2e-3 (not scaled), ``epochs`` epochs
    with one of warm-up, EMA momentum 0.02, RandAugment / Random Erasing / Mixup-CutMix off."""
    from argparse import Namespace

    from mmconvnext.apis import apply_cli_args, load_config

    cfg = load_config(osp.join(repo_root, CONFIG))
    options = {
        'model.backbone.arch': 'atto',
        'model.data_preprocessor.rand_augment': None,
        'model.data_preprocessor.random_erasing': None,
        'model.data_preprocessor.mixup_cutmix': None,
        'train_dataloader.dataset.pipeline.1.scale': size,
        'val_dataloader.dataset.pipeline.1.scale': (100_000, int(size / 0.875)),
        'val_dataloader.dataset.pipeline.2.crop_size': size,
        'optim_wrapper.optimizer.lr': 2e-3,
        'auto_scale_lr.enable': False,
        'param_scheduler.0.end': 1,
        'param_scheduler.1.begin': 1,
        'param_scheduler.1.end': epochs,
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'custom_hooks.0.momentum': 0.02,
        'default_hooks.logger.interval': 10,
        'default_hooks.checkpoint.interval': epochs,
        'env_cfg.dist_cfg.backend': 'gloo',
        'randomness.seed': seed,
    }
    for loader, batch in (('train_dataloader', 64), ('val_dataloader', 128)):
        options.update({f'{loader}.batch_size': batch, f'{loader}.num_workers': 0})
        options.update({f'{loader}.persistent_workers': False, f'{loader}.pin_memory': False})
    args = Namespace(config=CONFIG, cfg_options=options, data_root=data_root, work_dir=work_dir)
    apply_cli_args(cfg, args)
    return cfg


def guard_seg_config(repo_root: str, data_root: str, work_dir: str, seed: int, iters: int = 300, crop: int = 64):
    """The real UperNet config for the photographs of :func:`mmconvnext.datasets.make_photo_seg` (labels: the
    grey-level terciles of each photograph, ``--data-root`` with its ``classes.txt``), changed where a user
    would for a 2-core CPU and 9 images: ConvNeXt-atto from scratch (layer scale 1e-6), 64-channel heads,
    64-px crops of the photographs resized to a 128-px short side (x0.5-2.0), batch 4 at lr 2e-3, ``iters``
    iterations with a tenth of warm-up, whole-image test at a 128-px short side."""
    from argparse import Namespace

    from mmconvnext.apis import apply_cli_args, load_config

    cfg = load_config(osp.join(repo_root, SEG_CONFIG))
    options = {
        'model.backbone.arch': 'atto',
        'model.backbone.init_cfg': None,
        'model.backbone.drop_path_rate': 0.0,
        'model.backbone.layer_scale_init_value': 1e-6,
        'model.data_preprocessor.size': (crop, crop),
        'model.decode_head.in_channels': [40, 80, 160, 320],
        'model.decode_head.channels': 64,
        'model.auxiliary_head.in_channels': 160,
        'model.auxiliary_head.channels': 32,
        'model.test_cfg': dict(mode='whole'),
        'train_dataloader.dataset.pipeline.2.scale': (4 * crop, 2 * crop),
        'train_dataloader.dataset.pipeline.3.crop_size': (crop, crop),
        'val_dataloader.dataset.pipeline.1.scale': (4 * crop, 2 * crop),
        'optim_wrapper.optimizer.lr': 2e-3,
        'default_hooks.logger.interval': 50,
        'env_cfg.dist_cfg.backend': 'gloo',
        'randomness.seed': seed,
    }
    for loader, batch in (('train_dataloader', 4), ('val_dataloader', 1)):
        options.update({f'{loader}.batch_size': batch, f'{loader}.num_workers': 0})
        options.update({f'{loader}.persistent_workers': False})
    args = Namespace(config=SEG_CONFIG, cfg_options=options, data_root=data_root, work_dir=work_dir, max_iters=iters)
    apply_cli_args(cfg, args)
    cfg.train_cfg.val_interval = iters  # one validation, at the end
    return cfg


@contextlib.contextmanager
def _broken(breakage: Optional[str]) -> Iterator[None]:
    """The code breakages of :data:`BREAKAGES` (the data ones are made by :func:`make_digits_imagenet`)."""
    if breakage == 'unflipped_labels':
        from mmcv.transforms import RandomFlip

        original = RandomFlip._flip_seg_map
        RandomFlip._flip_seg_map = lambda self, seg_map, direction='horizontal': seg_map
        try:
            yield
        finally:
            RandomFlip._flip_seg_map = original
        return
    if breakage != 'constant_aug':
        yield
        return
    from mmconvnext.engine import resumable

    original = resumable.seed_generators

    def sample_seeding_removed(*key: int, cuda: bool = True) -> None:  # the iteration's seeding kept
        if key[1:2] != (resumable._SAMPLE,):
            original(*key, cuda=cuda)

    resumable.seed_generators = sample_seeding_removed
    try:
        yield
    finally:
        resumable.seed_generators = original


def run_seg_guard(repo_root: str, work_dir: str, seed: int, iters: int = 300, breakage: Optional[str] = None) -> dict:
    """Train the dense guard (:func:`guard_seg_config`); returns ``dict(mIoU=, aAcc=, seconds=)`` of its val split."""
    import time

    from mmconvnext.apis import build_runner
    from mmconvnext.datasets import make_photo_seg

    data = osp.join(work_dir, 'photo_seg')
    if not osp.isdir(osp.join(data, 'images')):
        make_photo_seg(data)
    cfg = guard_seg_config(repo_root, data, osp.join(work_dir, f'seg_seed{seed}_{breakage or "shipped"}'), seed, iters)
    start = time.perf_counter()
    with _broken(breakage):
        runner = build_runner(cfg)
        runner.train()
    scalars = runner.message_hub.log_scalars
    return dict(
        mIoU=float(scalars['val/mIoU'].current()),
        aAcc=float(scalars['val/aAcc'].current()),
        seconds=time.perf_counter() - start,
    )


def run_guard(repo_root: str, work_dir: str, seed: int, epochs: int = 8, breakage: Optional[str] = None) -> dict:
    """Train on the digits; returns ``dict(top1=, raw_top1=, seconds=)``: the held-out top-1 of the EMA weights
    (what the checkpoint holds and ``tools/test.py`` evaluates) and of the raw weights, from the final
    validation, and the wall time of training and validation."""
    import time

    from mmconvnext.apis import build_runner

    if breakage is not None and breakage not in BREAKAGES:
        raise ValueError(f'breakage must be one of {sorted(BREAKAGES)}, got {breakage!r}')
    data = osp.join(work_dir, 'digits_shuffled' if breakage == 'shuffled_labels' else 'digits')
    if not osp.isdir(osp.join(data, 'val')):
        make_digits_imagenet(data, shuffle_labels=breakage == 'shuffled_labels')
    cfg = guard_config(repo_root, data, osp.join(work_dir, f'seed{seed}_{breakage or "shipped"}'), seed, epochs)
    start = time.perf_counter()
    with _broken(breakage):
        runner = build_runner(cfg)
        runner.train()
    metrics = runner.message_hub.log_scalars  # the final validation's, as the logger printed them
    top1, raw = (float(metrics[k].current()) for k in ('val/accuracy/top1', 'val/raw/accuracy/top1'))
    return dict(top1=top1, raw_top1=raw, seconds=time.perf_counter() - start)


def render_table(results: dict) -> str:
    """The markdown table of a results file of ``tools/analysis/learning_guard.py`` (one row per run, then the
    spread of the shipped code), as docs/learning_guard.md holds it."""
    meta, seg = results['meta'], results.get('task') == 'seg'
    length = f'{results["iters"]} iterations' if seg else f'{results["epochs"]} epochs'
    columns = (
        (('mIoU', 'mIoU'), ('aAcc', 'pixel accuracy'))
        if seg
        else (('top1', 'held-out top-1 (EMA)'), ('raw_top1', 'raw weights'))
    )
    lines = [
        f'{meta["cpu"]}, {meta["threads"]} threads, CPU path {meta["compute_path"]}, '
        f'torch {meta["versions"]["torch"]}, {meta["date"]}, commit {meta["commit"]}, {length}: `{meta["command"]}`',
        '',
        f'| code | seed | {columns[0][1]} | {columns[1][1]} | seconds |',
        '|---|---|---|---|---|',
    ]
    for run in results['runs']:
        code = run['breakage'] or 'shipped'
        first, second = (run[k] for k, _ in columns)
        lines.append(f'| {code} | {run["seed"]} | {first:.1f} | {second:.1f} | {run["seconds"]:.0f} |')
    shipped = [r[columns[0][0]] for r in results['runs'] if r['breakage'] is None]
    if shipped:
        mean, std = float(np.mean(shipped)), float(np.std(shipped))
        lines += [
            '',
            f'Shipped code over {len(shipped)} seeds: mean {mean:.1f}, standard deviation {std:.1f}, '
            f'worst {min(shipped):.1f}, best {max(shipped):.1f}.',
        ]
    return '\n'.join(lines) + '\n'


def render_results(results: list, view=None) -> str:
    """The results-block renderer of kind ``learning_guard`` (:mod:`mmconvnext.analysis.results`): one file."""
    if len(results) != 1:
        raise ValueError('a learning_guard block renders one results file')
    return render_table(results[0])
