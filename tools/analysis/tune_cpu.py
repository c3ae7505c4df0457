"""Choose, and show, the CPU kernels a config's model will run on this machine, before training it.

    python tools/analysis/tune_cpu.py CONFIG [--batch N] [--shape H [W]] [--kind train infer]
                                      [--threads T] [--out FILE] [--cfg-options k=v ...]

For a backbone left at ``onednn_cpu='auto'`` (the default) each block shape runs its pointwise layers
on the plain ops or on oneDNN, whichever this machine runs faster
(:mod:`mmconvnext.models.layers.path_select`). A training run chooses them before its first iteration
(:class:`mmconvnext.engine.ComputePathHook`); this tool makes the same choice for the config's training
batch and crop without starting a run, and prints it as a table (shape, kernel, both times, whether it
was measured or read from the machine's cache). ``--out FILE`` writes it as a record that a config
can follow instead of measuring: ``custom_hooks=[dict(type='mmconvnext.ComputePathHook', use=FILE)]``.

Defaults: the training batch size of the config, its ``crop_size`` (segmentation), 800x1344 (detection:
a 1333x800 image padded to 32) or 224x224 (classification), both kinds (training and inference).
The choice depends on the thread count: run with the threads the training will have (``--threads``).
"""

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Optional

import torch
from mmengine.config import DictAction

from mmconvnext.apis import build_model, config_task, load_config, merge_cfg_options
from mmconvnext.models.layers import path_select

DEFAULT_SHAPES = {'det': (800, 1344), 'cls': (224, 224)}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Choose and print a config's CPU kernels on this machine")
    parser.add_argument('config')
    parser.add_argument('--batch', type=int, help="batch size (default: the config's training batch)")
    parser.add_argument('--shape', type=int, nargs='+', help='input H [W] (default: see the docstring)')
    parser.add_argument('--kind', nargs='+', choices=('train', 'infer'), default=['train', 'infer'])
    parser.add_argument('--threads', type=int, help='torch threads (default: as started)')
    parser.add_argument('--out', metavar='FILE', help='write the choices as a record ComputePathHook(use=FILE) follows')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    args = parser.parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error(f'--shape takes H or H W, got {args.shape}')
    return args


def default_shape(cfg) -> tuple[int, int]:
    """The config's training input size: its ``crop_size``, else the task's usual input."""
    if cfg.get('crop_size') is not None:
        h, w = cfg.crop_size
        return int(h), int(w)
    return DEFAULT_SHAPES.get(config_task(cfg), DEFAULT_SHAPES['cls'])


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    if args.cfg_options:
        merge_cfg_options(cfg, args.cfg_options)
    h, w = (args.shape * 2)[:2] if args.shape else default_shape(cfg)
    batch = args.batch or cfg.get('train_dataloader', {}).get('batch_size') or 1
    model = build_model(cfg)
    forced = path_select.effective_mode('auto')
    if forced != 'auto':
        print(f'[tune_cpu] ${path_select.ENV_PATH}={forced} forces every backbone left at auto: nothing to choose')
    table = {}
    for kind in args.kind:  # a shape both kinds ask (the depthwise convs') keeps where it came from first
        new = path_select.tune_model(model, (batch, 3, h, w), train=kind == 'train', log=False)
        table.update({key: entry for key, entry in new.items() if key not in table})
    if not table:
        print(f'[tune_cpu] {args.config}: no backbone leaves its CPU kernels to the machine')
    else:
        print(path_select.format_table(table, f'{args.config}, batch {batch}, {h}x{w}'))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(path_select.record(), f, indent=1)
        print(f'[tune_cpu] wrote {args.out}')
    sys.stdout.flush()
    return table


if __name__ == '__main__':
    main()
