"""A small-scale proxy of the ConvNeXt V2 claim that FCMAE pre-training helps: pre-train a
small V2 with FCMAE on unlabeled images, fine-tune it on a few labels, and compare with
the same fine-tuning from scratch (same labels, epochs, seeds). A proxy, not the paper's
experiment: rendered digit glyphs (mmconvnext.datasets.make_glyphs_imagenet) at 32x32
instead of ImageNet at 224, a three-stage 1.2M-parameter V2 instead of atto..huge, minutes instead
of GPU-weeks.

    python tools/analysis/fcmae_proxy.py --out docs/fcmae_proxy [--seeds 0 1 2]
        [--pretrain-epochs 15] [--finetune-epochs 50] [--labels-per-class 20] [--results FILE]

Every run is the real thing: tools/train.py on configs/fcmae_convnextv2_atto_in1k.py and
configs/convnextv2_atto_fcmae_ft_in1k.py, shrunk in size and schedule (the overrides are
in this file; the lr is set for the small batch, and EMA is off: over a few hundred steps
an EMA of 0.9999 would stay at the initial weights). Writes results.json, results.md
(mean and spread per arm) and the last pre-training run's reconstruction picture to --out, and with
``--results FILE`` the table with the command, machine, versions, date and commit (docs/results/).
"""

import argparse
import glob
import json
import os
import os.path as osp
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SIZE = 32
#: a small three-stage V2 (about 1.2M parameters) of total stride 8 (stem 2): a 4x4 grid of masked
#: 8-pixel patches on the 32x32 glyphs
ARCH = 'dict(_delete_=True, depths=[2, 2, 6], channels=[32, 64, 128])'

LOADERS = f"""
loader = dict(num_workers=2, persistent_workers=True, pin_memory=False)
train_dataloader = dict(batch_size={{batch}}, **loader, dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='mmconvnext.RandomResizedCrop', scale={SIZE}, crop_scale={{crop_scale}}, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmconvnext.PackClsInputs'),
]{{train_extra}}))
val_dataloader = dict(batch_size=100, **loader, dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(100_000, {SIZE}), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size={SIZE}),
    dict(type='mmconvnext.PackClsInputs'),
]))
test_dataloader = val_dataloader
auto_scale_lr = dict(enable=False)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval={{epochs}}, max_keep_ckpts=1))
"""

PRETRAIN = (
    """
_base_ = '{root}/configs/fcmae_convnextv2_atto_in1k.py'
model = dict(backbone=dict(arch={arch}, stem_patch_size=2), patch_size=8, decoder_embed_dim=128)
"""
    + LOADERS
    + """
optim_wrapper = dict(optimizer=dict(lr=2e-3))  # for the batch of 64 and the short run (official: 1.5e-4 per 256)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=1, end={epochs}, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
"""
)

FINETUNE = (
    """
_base_ = '{root}/configs/convnextv2_atto_fcmae_ft_in1k.py'
model = dict(
    backbone=dict(arch={arch}, stem_patch_size=2, drop_path_rate=0.1, init_cfg={init}),
    num_classes=10,
    data_preprocessor=dict(rand_augment=None),
)
"""
    + LOADERS
    + """
lr = 2e-3
optim_wrapper = dict(optimizer=dict(lr=lr), paramwise_cfg=dict(num_layers=10))  # block_wise over the 10 blocks
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=2, end={epochs}, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
val_cfg = dict(_delete_=True, type='ValLoop')
custom_hooks = []
"""
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='docs/fcmae_proxy', help='where results.json/.md and the picture go')
    p.add_argument('--work-dir', default='work_dirs/fcmae_proxy')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--pretrain-epochs', type=int, default=15)
    p.add_argument('--finetune-epochs', type=int, default=50)
    p.add_argument('--labels-per-class', type=int, default=20)
    p.add_argument('--num-train', type=int, default=2000, help='unlabeled images for pre-training')
    p.add_argument('--num-val', type=int, default=500)
    p.add_argument('--results', help='write the table with command, machine, versions, date and commit (JSON)')
    return p.parse_args()


def train(config_text: str, work: str, data_root: str, seed: int) -> str:
    os.makedirs(work, exist_ok=True)
    config = osp.join(work, 'config.py')
    with open(config, 'w') as f:
        f.write(config_text)
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work, '--data-root', data_root]
    cmd += ['--cfg-options', f'randomness.seed={seed}']
    log = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if log.returncode:
        raise SystemExit(f'fcmae_proxy: {" ".join(cmd)} failed:\n{(log.stdout + log.stderr)[-4000:]}')
    return log.stdout + log.stderr


def last_metric(log: str, name: str) -> float:
    values = re.findall(rf'Epoch\(val\).*?{re.escape(name)}: ([\d.]+)', log)
    if not values:
        raise SystemExit(f'fcmae_proxy: no {name} in the run log')
    return float(values[-1])


def labeled_subset(data_root: str, per_class: int) -> str:
    """meta/train_labeled.txt: the first ``per_class`` images of each class."""
    with open(osp.join(data_root, 'meta', 'train.txt')) as f:
        lines = [line.split() for line in f if line.strip()]
    counts: dict = {}
    out = []
    for path, label in lines:
        counts[label] = counts.get(label, 0) + 1
        if counts[label] <= per_class:
            out.append(f'{path} {label}')
    name = f'meta/train_labeled_{per_class}.txt'
    with open(osp.join(data_root, name), 'w') as f:
        f.write('\n'.join(out) + '\n')
    return name


def summary(values: list) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f'{statistics.mean(values):.1f} ± {spread:.1f} (min {min(values):.1f}, max {max(values):.1f})'


def main() -> None:
    args = parse_args()
    from mmconvnext.datasets import make_glyphs_imagenet

    start = time.time()
    data = make_glyphs_imagenet(
        osp.join(ROOT, args.work_dir, 'data'), num_train=args.num_train, num_val=args.num_val, size=SIZE
    )
    ann = labeled_subset(data, args.labels_per_class)
    common = dict(root=ROOT, arch=ARCH, crop_scale=(0.35, 1.0))
    results = {'pretrain_loss': [], 'fcmae': [], 'scratch': []}
    for seed in args.seeds:
        work = osp.join(ROOT, args.work_dir, f'seed{seed}')
        cfg = PRETRAIN.format(batch=64, epochs=args.pretrain_epochs, train_extra='', **common)
        log = train(cfg, osp.join(work, 'pretrain'), data, seed)
        results['pretrain_loss'].append(last_metric(log, 'fcmae/loss'))
        checkpoint = osp.join(work, 'pretrain', f'epoch_{args.pretrain_epochs}.pth')
        for arm, init in (
            ('fcmae', f"dict(type='Pretrained', checkpoint='{checkpoint}', prefix='backbone.')"),
            ('scratch', 'None'),
        ):
            cfg = FINETUNE.format(
                batch=32,
                epochs=args.finetune_epochs,
                init=init,
                train_extra=f", ann_file='{ann}'",
                **common,
            )
            log = train(cfg, osp.join(work, arm), data, seed)
            results[arm].append(last_metric(log, 'accuracy/top1'))
        print(f'seed {seed}: ' + ', '.join(f'{k} {v[-1]:.2f}' for k, v in results.items()), flush=True)

    os.makedirs(args.out, exist_ok=True)
    pictures = sorted(
        glob.glob(
            osp.join(
                ROOT,
                args.work_dir,
                f'seed{args.seeds[-1]}',
                'pretrain',
                '*',
                'vis_data',
                'vis_image',
                'fcmae_reconstruction_*.png',
            )
        )
    )
    if pictures:
        shutil.copy(pictures[-1], osp.join(args.out, 'reconstruction.png'))
    meta = dict(vars(args), arch=ARCH, size=SIZE, minutes=round((time.time() - start) / 60, 1))
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(meta=meta, results=results), f, indent=1)
    table = [
        '| arm | top-1 % on the val glyphs (mean ± std over seeds) | per seed |',
        '|---|---|---|',
        f'| FCMAE pre-trained, then fine-tuned | {summary(results["fcmae"])} | {results["fcmae"]} |',
        f'| from scratch, same fine-tuning | {summary(results["scratch"])} | {results["scratch"]} |',
    ]
    with open(osp.join(args.out, 'results.md'), 'w') as f:
        f.write('\n'.join(table) + f'\n\npre-training val loss per seed: {results["pretrain_loss"]}\n')
    print('\n'.join(table))
    if args.results:
        from mmconvnext.analysis.results import results_meta, table_from_markdown, table_results, tool_command

        notes = [f'pre-training val loss per seed: {results["pretrain_loss"]}']
        meta = results_meta(tool_command('tools/analysis/fcmae_proxy.py'))
        columns, rows, _ = table_from_markdown('\n'.join(table))
        table_results(args.results, meta, columns, rows, notes, proxy=meta, results=results)
    print(
        f'{meta["minutes"]} min; wrote {args.out}/results.json, results.md'
        + (', reconstruction.png' if pictures else '')
    )


if __name__ == '__main__':
    main()
