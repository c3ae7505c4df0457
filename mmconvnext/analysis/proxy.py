"""Small-scale classification runs of a real config, for the tools that compare designs
(tools/analysis/roadmap.py --train, tools/analysis/ablate.py): the config shrunk to a
small dataset and schedule, trained by tools/train.py in a subprocess, its top-1 and
training rate read back from the run's scalars."""

import glob
import hashlib
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

from mmconvnext.apis.config import set_epoch_schedule

__all__ = ['proxy_config', 'read_scalars', 'train_proxy']

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def proxy_config(
    cfg,
    data_root: str,
    num_classes: int,
    work_dir: str,
    epochs: int,
    warmup_epochs: int,
    batch: int,
    lr: float,
    img_size: int,
    recipe: str = 'proxy',
    workers: int = 2,
    seed: int = 0,
    crop_scale: float = 0.08,
    flip: bool = True,
    val_interval: int = 1,
):
    """``cfg`` (an mmengine ``Config`` of the classifier, its schedule a warm-up and a cosine, in any order)
    edited in place for this dataset and schedule, and returned. ``recipe='proxy'`` drops
    what a few epochs cannot absorb (RandAugment, Random Erasing, Mixup/CutMix, EMA);
    ``'paper'`` keeps the whole recipe. The lr is taken as it is (no scaling from 4096).
    Validation runs every ``val_interval`` epochs and after the last."""
    cfg.work_dir = work_dir
    cfg.model.num_classes = num_classes
    if recipe == 'proxy':
        preprocessor = cfg.model.data_preprocessor
        preprocessor.rand_augment = preprocessor.random_erasing = preprocessor.mixup_cutmix = None
        cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'EMAHook']
        cfg.val_cfg = dict(type='ValLoop')
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.batch_size = batch
        loader.num_workers = workers
        loader.persistent_workers = workers > 0
        loader.pin_memory = False
        loader.dataset.data_root = data_root
        for t in loader.dataset.pipeline:
            if t['type'].endswith('RandomResizedCrop'):
                t['scale'] = img_size
                t['crop_scale'] = (crop_scale, 1.0)
            elif t['type'] == 'Resize':  # the recipe's eval resize: short side size / 0.875
                t['scale'] = (100_000, round(img_size / 0.875))
            elif t['type'] == 'CenterCrop':
                t['crop_size'] = img_size
        if not flip:
            loader.dataset.pipeline = [t for t in loader.dataset.pipeline if t['type'] != 'RandomFlip']
    set_epoch_schedule(cfg, epochs, warmup_epochs, flag='the proxy schedule')  # each scheduler by its role
    cfg.train_cfg.val_interval = val_interval
    cfg.optim_wrapper.optimizer.lr = lr
    cfg.auto_scale_lr.enable = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = 10
    cfg.randomness = dict(seed=seed)
    cfg.env_cfg.mp_cfg.mp_start_method = 'fork'
    return cfg


def read_scalars(work_dir: str) -> list[dict]:
    """The scalars mmengine logged for the newest run (``<timestamp>/vis_data/scalars.json``) in ``work_dir``."""
    runs = sorted(glob.glob(osp.join(work_dir, '2*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(f'{work_dir}: no <timestamp>/vis_data/scalars.json (did tools/train.py run?)')
    with open(runs[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def train_proxy(cfg, name: str, threads: int = 2, reuse: bool = False) -> dict:
    """Dump ``cfg`` into its work dir as ``<name>_train.py``, train it with tools/train.py
    (``threads`` torch threads) and return its last top-1, top-1 per epoch, the training
    rate (images/s, median iteration), the wall time, the config and the checkpoint.

    The result is also written to ``<work_dir>/proxy_result.json``, with the SHA-256 of
    the config text it was trained from (the runner rewrites ``<name>_train.py`` as it
    starts, so the file itself cannot be compared). With ``reuse``, a run whose result
    file holds the same hash as ``cfg``'s text is not trained again: its result is read
    back (so a long sweep can be stopped and restarted)."""
    work_dir = cfg.work_dir
    os.makedirs(work_dir, exist_ok=True)
    config = osp.join(work_dir, f'{name}_train.py')
    result_file = osp.join(work_dir, 'proxy_result.json')
    text = cfg.dump()
    config_sha = hashlib.sha256(text.encode()).hexdigest()
    if reuse and osp.exists(result_file):
        with open(result_file) as f:
            done = json.load(f)
        if done.get('config_sha256') == config_sha:
            return done
    with open(config, 'w') as f:
        f.write(text)
    start = time.time()
    run = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, 'OMP_NUM_THREADS': str(threads)},
    )
    seconds = time.time() - start
    if run.returncode != 0:
        raise RuntimeError(f'training {name!r} failed ({config}):\n{run.stderr[-3000:]}')
    records = read_scalars(work_dir)
    vals = [r for r in records if 'accuracy/top1' in r]
    train = [r for r in records if 'time' in r and 'loss' in r]
    if not vals:
        raise RuntimeError(f'{work_dir}: training ran but logged no accuracy/top1')
    batch = cfg.train_dataloader.batch_size
    result = dict(
        top1=vals[-1]['accuracy/top1'],
        top1_by_epoch=[v['accuracy/top1'] for v in vals],
        final_train_loss=train[-1]['loss'] if train else None,
        train_img_s=batch / statistics.median(r['time'] for r in train) if train else None,
        train_s=seconds,
        config=osp.relpath(config, ROOT) if config.startswith(ROOT) else config,
        checkpoint=osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth'),
        config_sha256=config_sha,
    )
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=1)
    return result
