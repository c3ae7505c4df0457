"""Parameters and FLOPs of any mmconvnext config's model (segmentation, detection, classification).

    python tools/analysis/get_flops.py CONFIG [CONFIG ...] [--shape H [W]] [--params-only]
                                       [--cfg-options k=v ...] [--results FILE]

FLOPs are counted by mmengine's ``FlopAnalyzer`` (one multiply-add = one FLOP, the
convention of the paper's and the model zoos' tables) over the inference forward
(``mode='tensor'``: for a segmentor the backbone and decode head, the auxiliary head
is training-only; a two-stage detector as the paper's table counted it: 1000
proposals through every box head, the first 100 through every mask head). The
default shape is the one the paper's tables use: a segmentation config's test scale
(2048x512 for 512 crops, 2560x640 for 640 crops), 1280x800 for detection, 224x224
otherwise. Prints a Markdown table:
``params`` counts every parameter of the model, ``inference params`` only those the
forward uses. ``--params-only`` builds the model on the meta device (no memory, no
forward), for quick counts of the largest models. The counting itself is
:func:`mmconvnext.analysis.model_complexity`. ``--results FILE`` writes every count with the command, machine,
versions, date and commit (:mod:`mmconvnext.analysis.results`); the README's configs table is rendered from
``docs/results/flops.json``.
"""

import argparse
import os.path as osp
import sys
from collections.abc import Sequence
from typing import Optional

from mmengine.config import DictAction

from mmconvnext.analysis import model_complexity
from mmconvnext.analysis.results import results_meta, save_results, tool_command


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Count the parameters and FLOPs of config models')
    parser.add_argument('configs', nargs='+', help='config file(s)')
    parser.add_argument(
        '--shape', type=int, nargs='+', help="input H [W] (default: the config's test scale, or the task's paper shape)"
    )
    parser.add_argument('--params-only', action='store_true', help='count parameters on the meta device only')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument('--results', metavar='FILE', help='write the counts to this results file (JSON)')
    args = parser.parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error(f'--shape takes H or H W, got {args.shape}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    meta = results_meta(tool_command('tools/analysis/get_flops.py', argv))
    counted = []
    print('| config | input | params (M) | inference params (M) | GFLOPs |')
    print('|---|---|---|---|---|')
    for config in args.configs:
        r = model_complexity(config, args.shape, args.params_only, args.cfg_options)
        counted.append(dict(config=config, **{k: v for k, v in r.items() if k != 'flops_by_operator'}))
        h, w = r['shape']
        params, used = (f'{v / 1e6:.2f}' if v is not None else '-' for v in (r['params'], r['inference_params']))
        gflops = '-' if r['flops'] is None else f'{r["flops"] / 1e9:.1f}'
        print(f'| {osp.basename(config)} | {h}x{w} | {params} | {used} | {gflops} |')
        sys.stdout.flush()
    if args.results:
        save_results(args.results, 'flops', meta, configs=counted)


if __name__ == '__main__':
    main()
