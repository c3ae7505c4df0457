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
import glob
import json
import os
import os.path as osp
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Optional

import torch

from mmconvnext.models.backbones.convnext import ARCH_SETTINGS
from mmconvnext.models.backbones.roadmap import ROADMAP_STEPS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

FLAG_TOLERANCE = 0.10  # flag a step whose GFLOPs differ from the paper's by more than this


def step_config(step: str) -> str:
    """The path of ``configs/roadmap/NN_<step>.py``."""
    if step not in ROADMAP_STEPS:
        raise ValueError(f'unknown roadmap step {step!r}; the steps are {list(ROADMAP_STEPS)}')
    matches = glob.glob(osp.join(ROOT, 'configs', 'roadmap', f'[0-9][0-9]_{step}.py'))
    if len(matches) != 1:
        raise FileNotFoundError(f'configs/roadmap/NN_{step}.py: expected one config for step {step!r}, found {matches}')
    return matches[0]


# ---------------------------------------------------------------------------- the table
def _scale_options(scale: str) -> Optional[dict]:
    """The config change that builds a step at ``scale`` (none for the paper's, tiny)."""
    return None if scale == 'tiny' else {'model.backbone.scale': scale}


def _step_cfg(step: str, scale: str = 'tiny'):
    """Step ``step``'s config (an mmengine ``Config``) at ``scale``."""
    from mmengine.config import Config

    cfg = Config.fromfile(step_config(step))
    options = _scale_options(scale)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def complexity_rows(steps: Sequence[str], size: int = 224, scale: str = 'tiny') -> list[dict]:
    """Parameters and GFLOPs of each step's classification model beside the paper's (the
    GFLOPs compared only for the paper's own ladder: ``scale`` tiny, at 224)."""
    from mmconvnext.analysis import model_complexity
    from mmconvnext.models import RoadmapNet

    rows = []
    for step in steps:
        spec = ROADMAP_STEPS[step]
        c = model_complexity(step_config(step), shape=(size, size), cfg_options=_scale_options(scale))
        gflops = c['flops'] / 1e9
        paper = spec.paper_gflops is not None and size == 224 and scale == 'tiny'
        diff = gflops / spec.paper_gflops - 1 if paper else None
        dense = RoadmapNet(step, scale=scale, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
        rows.append(
            dict(
                step=step,
                parent=spec.parent,
                what=spec.what,
                params_m=c['params'] / 1e6,
                gflops=gflops,
                paper_top1=spec.paper_top1,
                paper_gflops=spec.paper_gflops,
                gflops_diff=diff,
                flagged=diff is not None and abs(diff) > FLAG_TOLERANCE,
                out_channels=list(dense.out_channels),
            )
        )
    return rows


def _fmt(value, spec: str = '.1f', none: str = '-') -> str:
    return none if value is None else format(value, spec)


def _halfway(row: dict) -> Optional[float]:
    """Top-1 after half the epochs: how fast a step learns, when the last epoch saturates."""
    if 'halfway_runs' in row:
        return statistics.mean(row['halfway_runs'])
    by_epoch = row.get('top1_by_epoch') or []
    return by_epoch[max(len(by_epoch) // 2 - 1, 0)] if by_epoch else None


def combine(records: list[dict]) -> list[dict]:
    """The rows of several ``--train`` records of the same steps (e.g. seeds): top-1 and
    the rates become means, each run's top-1 kept in ``top1_runs`` / ``halfway_runs``."""
    rows = [dict(r) for r in records[0]['rows']]
    for i, row in enumerate(rows):
        runs = [rec['rows'][i] for rec in records]
        if any(r['step'] != row['step'] for r in runs):
            raise ValueError(f'--render: the records do not hold the same steps in the same order (row {i + 1})')
        row['top1_runs'] = [r['top1'] for r in runs]
        row['halfway_runs'] = [_halfway(r) for r in runs]
        row['top1'] = statistics.mean(row['top1_runs'])
        for key in ('train_img_s', 'infer_img_s'):
            row[key] = statistics.mean(r[key] for r in runs)
    return rows


def _runs(value: Optional[float], runs: Optional[list[float]]) -> str:
    if runs and len(runs) > 1:
        return f'{value:.1f} ({" / ".join(f"{v:.1f}" for v in runs)})'
    return _fmt(value, '.1f')


def markdown(rows: list[dict], size: int) -> str:
    trained = any('top1' in r for r in rows)
    head = ['#', 'step', 'changes', 'params (M)', f'GFLOPs @{size}', 'paper GFLOPs', 'GFLOPs vs paper', 'paper top-1']
    if trained:
        head += ['measured top-1', 'top-1 halfway', 'train img/s', 'infer img/s']
    head.append('out channels')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    order = list(ROADMAP_STEPS)
    for r in rows:
        diff = '-' if r['gflops_diff'] is None else f'{r["gflops_diff"]:+.1%}' + (' FLAG' if r['flagged'] else '')
        cells = [
            str(order.index(r['step']) + 1),
            f'`{r["step"]}`',
            r['what'],
            f'{r["params_m"]:.2f}',
            f'{r["gflops"]:.2f}',
            _fmt(r['paper_gflops']),
            diff,
            _fmt(r['paper_top1']),
        ]
        if trained:
            cells += [
                _runs(r.get('top1'), r.get('top1_runs')),
                _runs(_halfway(r), r.get('halfway_runs')),
                _fmt(r.get('train_img_s'), '.0f'),
                _fmt(r.get('infer_img_s'), '.1f'),
            ]
        cells.append('-'.join(map(str, r['out_channels'])))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------- training
def train_config(step: str, *args, **kwargs):
    """Step ``step``'s config with this dataset and schedule (an mmengine ``Config``); the other
    arguments are :func:`mmconvnext.analysis.proxy.proxy_config`'s after its ``cfg`` (and ``scale``)."""
    from mmconvnext.analysis.proxy import proxy_config

    return proxy_config(_step_cfg(step, kwargs.pop('scale', 'tiny')), *args, **kwargs)


def train_step(step: str, args: argparse.Namespace, data_root: str, num_classes: int) -> dict:
    """Train one step with tools/train.py; its last top-1 and its training rate."""
    from mmconvnext.analysis.proxy import train_proxy

    cfg = train_config(
        step,
        data_root,
        num_classes,
        osp.join(args.work_dir, step),
        args.epochs,
        args.warmup_epochs,
        args.batch,
        args.lr,
        args.img_size,
        args.recipe,
        args.workers,
        args.seed,
        args.crop_scale,
        not args.no_flip,
        args.val_interval,
        scale=args.scale,
    )
    result = train_proxy(cfg, step, args.threads, reuse=args.reuse)
    result.pop('checkpoint')
    return result


def inference_rate(
    step: str, size: int, batch: int, threads: int, warmup: int = 2, repeats: int = 5, scale: str = 'tiny'
) -> float:
    """Eval forward images/s of the step's classifier (1000 classes) at ``size``."""
    from mmconvnext.analysis import median_time
    from mmconvnext.apis import build_model
    from mmconvnext.models.layers import path_select

    torch.set_num_threads(threads)
    model = build_model(_step_cfg(step, scale), 'cpu').eval()
    x = torch.randn(batch, 3, size, size)
    path_select.tune_model(model, x.shape, train=False)  # the CPU kernels chosen before timing, as a run does
    with torch.no_grad():
        return batch / median_time(lambda: model(x), warmup, repeats)


def plot(rows: list[dict], out_file: str, title: str, size: int = 224) -> None:
    """Top-1 (measured, and the paper's) and GFLOPs per step."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = [r['step'] for r in rows]
    x = range(len(rows))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    measured = [(i, r['top1']) for i, r in zip(x, rows) if r.get('top1') is not None]
    if measured:
        runs = len(rows[0].get('top1_runs') or [None])
        mean = f' (mean of {runs} runs)' if runs > 1 else ''
        ax1.plot(*zip(*measured), marker='o', color='tab:blue', label='measured top-1, last epoch' + mean)
        halfway = [(i, _halfway(r)) for i, r in zip(x, rows) if _halfway(r) is not None]
        ax1.plot(*zip(*halfway), marker='.', linestyle=':', color='tab:cyan', label='measured top-1, halfway' + mean)
        for k in range(runs if runs > 1 else 0):  # each run, faint
            ax1.plot(
                x,
                [r['top1_runs'][k] for r in rows],
                marker='o',
                markersize=3,
                linewidth=0.8,
                alpha=0.35,
                color='tab:blue',
            )
    ax1.set_ylabel('measured top-1 (%)', color='tab:blue')
    paper = [(i, r['paper_top1']) for i, r in zip(x, rows) if r['paper_top1'] is not None]
    if paper:
        twin = ax1.twinx()
        twin.plot(*zip(*paper), marker='s', linestyle='--', color='tab:gray', label='paper ImageNet-1K top-1')
        twin.set_ylabel('paper ImageNet-1K top-1 (%)', color='tab:gray')
        twin.legend(loc='lower right')
    ax1.set_title(title)
    ax1.grid(alpha=0.3)
    ax1.legend(loc='upper left')
    ax2.bar(x, [r['gflops'] for r in rows], color='tab:orange', alpha=0.7, label='GFLOPs (this code)')
    # the paper's GFLOPs where they compare (gflops_diff: ConvNeXt-T's ladder, at 224), not beside a scaled ladder
    paper_g = [(i, r['paper_gflops']) for i, r in zip(x, rows) if r.get('gflops_diff') is not None]
    if paper_g:
        ax2.plot(*zip(*paper_g), 'k^', label='paper GFLOPs')
    ax2.set_ylabel(f'GFLOPs @{size}')
    ax2.set_xticks(list(x), names, rotation=35, ha='right')
    ax2.grid(alpha=0.3, axis='y')
    ax2.legend(loc='upper left')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def _title(train: Optional[dict], scale: str = 'tiny') -> str:
    title = 'ResNet-50 -> ConvNeXt-T (paper section 2)'
    if scale != 'tiny':
        title = f'ResNet-50 -> ConvNeXt-T scaled to ConvNeXt-{scale} (widths and depths)'
    if train:
        title += f' - small-scale proxy: {train["epochs"]} epochs at {train["img_size"]}px, {train["recipe"]} recipe'
    return title


def _num_classes(data_root: str) -> int:
    train = osp.join(data_root, 'train')
    if not osp.isdir(train):
        raise FileNotFoundError(
            f'--data-root {data_root}: no train/ directory (the ImageNet folder layout '
            'train/<class>/<image>, val/<class>/<image> is expected)'
        )
    classes = [d for d in os.listdir(train) if osp.isdir(osp.join(train, d))]
    if len(classes) < 2:
        raise ValueError(f'--data-root {data_root}: train/ holds {len(classes)} class folder(s); need at least 2')
    return len(classes)


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
    for name in ('epochs', 'batch', 'img_size', 'size', 'bench_size', 'bench_batch', 'threads', 'val_interval'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if not 0 <= args.warmup_epochs < args.epochs:
        parser.error(f'--warmup-epochs must be in [0, --epochs), got {args.warmup_epochs}')
    return args


def save_table(args: argparse.Namespace, table: str, record: dict) -> None:
    if args.results:
        from mmconvnext.analysis.results import results_meta, table_from_markdown, table_results, tool_command

        meta = results_meta(tool_command('tools/analysis/roadmap.py', args.argv), torch.get_num_threads())
        table_results(args.results, meta, *table_from_markdown(table), record=record)


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
        table = markdown(record['rows'], record['size'])
        print(table)
        with open(osp.join(out_dir, 'roadmap.md'), 'w') as f:
            f.write(table)
        save_table(args, table, record)
        if any('top1' in r for r in record['rows']):
            plot(
                record['rows'],
                osp.join(out_dir, 'roadmap.png'),
                record.get('title') or _title(record.get('train')),
                record['size'],
            )
        return 0
    steps = [s for s in ROADMAP_STEPS if s in args.steps] if args.steps else list(ROADMAP_STEPS)
    rows = complexity_rows(steps, args.size, args.scale)
    title = _title(None, args.scale)
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
        num_classes = _num_classes(data_root)
        for row in rows:
            print(f'[roadmap] training {row["step"]} ...', flush=True)
            row.update(train_step(row['step'], args, data_root, num_classes))
            row['infer_img_s'] = inference_rate(
                row['step'], args.bench_size, args.bench_batch, args.threads, scale=args.scale
            )
            print(f'[roadmap] {row["step"]}: top-1 {row["top1"]:.2f} in {row["train_s"]:.0f} s', flush=True)
        record['train'] = {k: v for k, v in vars(args).items() if k not in ('steps',)}
        record['train']['data_root'] = data_root
        title = _title(vars(args), args.scale)
    record['rows'] = rows
    record['title'] = title
    table = markdown(rows, args.size)
    print(table)
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
            f.write(table)
        if args.train:
            plot(rows, osp.join(args.out_dir, 'roadmap.png'), title, args.size)
    save_table(args, table, record)
    return 0


if __name__ == '__main__':
    sys.exit(main())
