"""The modernization roadmap (ResNet-50 -> ConvNeXt-T, the paper's section 2) step by step.

    python tools/analysis/roadmap.py [--steps S ...] [--size 224] [--scale tiny|atto|...] [--out-dir DIR]
    python tools/analysis/roadmap.py --train [--data-root DIR] [--epochs 6] [--img-size 32]
                                     [--batch 32] [--lr 1e-3] [--recipe proxy|paper]
                                     [--crop-scale 0.08] [--no-flip] [--val-interval 1] [--reuse]
                                     [--work-dir work_dirs/roadmap] [--out-dir DIR]

Without ``--train``: a table of every step of ``configs/roadmap/`` (the classification
model: backbone and 1000-class head) with its parameters and GFLOPs at ``--size``
(multiply-adds, mmengine's ``FlopAnalyzer``), the paper's top-1 and GFLOPs beside them
(docs/references.md §7), and a flag on every step whose GFLOPs differ from the paper's by more than 10%.
It also lists each step's output channels (the dense heads' ``in_channels``).
``--scale atto`` (or any ConvNeXt arch) builds every step with its widths and depths scaled
so that the last step is ConvNeXt-atto (``mmconvnext.models.backbones.roadmap.scale_design``):
the ladder for a machine that cannot train ConvNeXt-T's 15 times; the paper's GFLOPs are
then not compared.

With ``--train``: every step's config is trained by ``tools/train.py`` on a dataset in
the ImageNet folder layout (``--data-root``; default: a generated set written under the
work dir, ``mmconvnext.datasets.make_glyphs_imagenet``'s 10 digits) with the
schedule given here, and the table gains the measured top-1 (the last validation), the
training rate (median iteration), inference throughput at ``--bench-size`` and a plot
(top-1 and GFLOPs per step). ``--recipe paper`` keeps the whole recipe (RandAugment,
Mixup/CutMix, Random Erasing, EMA); ``proxy`` (default) drops those four, which a
schedule of a few epochs cannot absorb, and keeps the rest (AdamW, warm-up + cosine,
label smoothing, stochastic depth, layer scale). ``--out-dir`` receives
``roadmap.json``, ``roadmap.md`` and (with ``--train``) ``roadmap.png``. With ``--reuse``,
a step whose work dir holds a finished run of the same config is read back, not retrained,
so a long sweep can be stopped and continued.
"""

import argparse
import json
import os
import os.path as osp
import sys
import time
from collections.abc import Sequence
from typing import Optional

import torch

from mmconvnext.analysis.results import results_meta, table_results, tool_command
from mmconvnext.analysis.roadmap import (
    FLAG_TOLERANCE,
    ROOT,
    combine,
    complexity_rows,
    inference_rate,
    markdown,
    num_classes_of,
    plot,
    table,
    title,
    train_step,
)
from mmconvnext.apis import check_analysis_args
from mmconvnext.models.backbones.convnext import ARCH_SETTINGS
from mmconvnext.models.backbones.roadmap import ROADMAP_STEPS


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', nargs='+', choices=list(ROADMAP_STEPS), help='a subset (default: all, in order)')
    parser.add_argument('--size', type=int, default=224, help='input size of the GFLOPs count')
    parser.add_argument(
        '--scale',
        default='tiny',
        choices=sorted(ARCH_SETTINGS),
        help="the ladder's widths and depths scaled to this ConvNeXt arch (default tiny: the paper's; "
        'atto: the last step is ConvNeXt-atto; mmconvnext.models.backbones.roadmap.scale_design)',
    )
    parser.add_argument('--out-dir', help='write roadmap.json, roadmap.md (and roadmap.png with --train) here')
    parser.add_argument(
        '--results', metavar='FILE', help='write the table with command, machine, versions, date and commit (JSON)'
    )
    parser.add_argument(
        '--render',
        metavar='JSON',
        nargs='+',
        help="re-make the table and plot of earlier runs' roadmap.json (several: their means)",
    )
    train = parser.add_argument_group('--train')
    train.add_argument('--train', action='store_true', help='train every step and add accuracy and throughput')
    train.add_argument('--data-root', help='ImageNet folder layout (default: generated shapes under the work dir)')
    train.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'roadmap'))
    train.add_argument('--epochs', type=int, default=6)
    train.add_argument('--warmup-epochs', type=int, default=1)
    train.add_argument('--batch', type=int, default=32)
    train.add_argument('--lr', type=float, default=1e-3, help='AdamW lr for --batch (not rescaled)')
    train.add_argument('--img-size', type=int, default=32, help='training crop (eval: short side /0.875, crop)')
    train.add_argument('--recipe', choices=('proxy', 'paper'), default='proxy')
    train.add_argument('--workers', type=int, default=2)
    train.add_argument('--threads', type=int, default=2)
    train.add_argument('--seed', type=int, default=0)
    train.add_argument('--val-interval', type=int, default=1, help='validate every N epochs (and after the last)')
    train.add_argument(
        '--reuse',
        action='store_true',
        help="don't retrain a step whose work dir holds a finished run of the same config (a stopped sweep restarts)",
    )
    train.add_argument(
        '--generate',
        choices=('glyphs', 'shapes'),
        default='glyphs',
        help='the generated set when no --data-root: 10 digit glyphs, or the 4 shapes',
    )
    train.add_argument(
        '--classes',
        default='0123456789',
        help="--generate glyphs: the characters, one class each (docs/roadmap.md's 64-px proxy: the digits and A-Z)",
    )
    train.add_argument(
        '--generate-counts',
        type=int,
        nargs=2,
        default=[2000, 500],
        metavar=('TRAIN', 'VAL'),
        help='training and validation images of the generated set',
    )
    train.add_argument('--generate-size', type=int, default=32, help='side of the generated images')
    train.add_argument(
        '--crop-scale', type=float, default=0.08, help="RandomResizedCrop's smallest area fraction (the recipe's 0.08)"
    )
    train.add_argument('--no-flip', action='store_true', help='no horizontal flips (digits are not symmetric)')
    train.add_argument('--bench-size', type=int, default=224, help='input size of the inference throughput')
    train.add_argument('--bench-batch', type=int, default=8)
    args = parser.parse_args(argv)
    positive = ('epochs', 'batch', 'img_size', 'size', 'bench_size', 'bench_batch', 'threads', 'val_interval')
    check_analysis_args(parser, args, positive)
    if not 0 <= args.warmup_epochs < args.epochs:
        parser.error(f'--warmup-epochs must be in [0, --epochs), got {args.warmup_epochs}')
    return args


def save_table(args: argparse.Namespace, record: dict) -> None:
    """``--results``: the table's cells as built, with the command and the machine."""
    if args.results:
        meta = results_meta(tool_command('tools/analysis/roadmap.py', args.argv), torch.get_num_threads())
        table_results(args.results, meta, *table(record['rows'], record['size']), record=record)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    args.argv = argv
    if args.render:
        records = []
        for path in args.render:
            with open(path) as f:
                records.append(json.load(f))
        record = dict(
            records[0],
            rows=combine(records) if len(records) > 1 else records[0]['rows'],
            sources=[osp.abspath(p) for p in args.render],
        )
        out_dir = args.out_dir or osp.dirname(osp.abspath(args.render[0]))
        if len(records) > 1:
            if osp.abspath(osp.join(out_dir, 'roadmap.json')) in record['sources']:
                parser_error = f'--render: {out_dir}/roadmap.json is one of the inputs; give another --out-dir'
                raise SystemExit(parser_error)
            with open(osp.join(out_dir, 'roadmap.json'), 'w') as f:
                json.dump(record, f, indent=2)
        text = markdown(record['rows'], record['size'])
        print(text)
        with open(osp.join(out_dir, 'roadmap.md'), 'w') as f:
            f.write(text)
        save_table(args, record)
        if any('top1' in r for r in record['rows']):
            plot(
                record['rows'],
                osp.join(out_dir, 'roadmap.png'),
                record.get('title') or title(record.get('train')),
                record['size'],
            )
        return 0
    steps = [s for s in ROADMAP_STEPS if s in args.steps] if args.steps else list(ROADMAP_STEPS)
    rows = complexity_rows(steps, args.size, args.scale)
    heading = title(None, args.scale)
    record: dict = dict(date=time.strftime('%Y-%m-%d'), size=args.size, scale=args.scale, torch=torch.__version__)
    if args.train:
        args.work_dir = osp.abspath(args.work_dir)
        if args.data_root:
            data_root = osp.abspath(args.data_root)
        else:
            from mmconvnext.datasets import make_glyphs_imagenet, make_shapes_imagenet

            num_train, num_val = args.generate_counts
            data_dir = osp.join(args.work_dir, 'data')
            if args.generate == 'glyphs':
                data_root = make_glyphs_imagenet(
                    data_dir, num_train, num_val, size=args.generate_size, classes=args.classes
                )
            else:
                data_root = make_shapes_imagenet(
                    data_dir, num_train=num_train, num_val=num_val, size=args.generate_size
                )
        num_classes = num_classes_of(data_root)
        for row in rows:
            print(f'[roadmap] training {row["step"]} ...', flush=True)
            row.update(train_step(row['step'], args, data_root, num_classes))
            row['infer_img_s'] = inference_rate(
                row['step'], args.bench_size, args.bench_batch, args.threads, scale=args.scale
            )
            print(f'[roadmap] {row["step"]}: top-1 {row["top1"]:.2f} in {row["train_s"]:.0f} s', flush=True)
        record['train'] = {k: v for k, v in vars(args).items() if k not in ('steps',)}
        record['train']['data_root'] = data_root
        heading = title(vars(args), args.scale)
    record['rows'] = rows
    record['title'] = heading
    text = markdown(rows, args.size)
    print(text)
    flagged = [r['step'] for r in rows if r['flagged']]
    if args.scale == 'tiny':
        print(f'GFLOPs more than {FLAG_TOLERANCE:.0%} from the paper: {flagged or "none"}')
    else:
        print(
            f"the ladder scaled to ConvNeXt-{args.scale}: the paper columns are its ConvNeXt-T ladder's, not compared"
        )
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(osp.join(args.out_dir, 'roadmap.json'), 'w') as f:
            json.dump(record, f, indent=2)
        with open(osp.join(args.out_dir, 'roadmap.md'), 'w') as f:
            f.write(text)
        if args.train:
            plot(rows, osp.join(args.out_dir, 'roadmap.png'), heading, args.size)
    save_table(args, record)
    return 0


if __name__ == '__main__':
    sys.exit(main())
