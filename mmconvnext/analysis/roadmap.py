"""The modernization roadmap's table and training (``tools/analysis/roadmap.py``): each step's config, its
parameters and GFLOPs beside the paper's (a flag where they differ by more than :data:`FLAG_TOLERANCE`), the
proxy training of a step and its inference rate, the table (:func:`table`, :func:`markdown`), several runs
combined and the plot."""

import argparse
import glob
import os
import os.path as osp
import statistics
from collections.abc import Sequence
from typing import Optional

import torch

from mmconvnext.analysis.results import markdown_table
from mmconvnext.models.backbones.roadmap import ROADMAP_STEPS

__all__ = [
    'FLAG_TOLERANCE',
    'combine',
    'complexity_rows',
    'inference_rate',
    'markdown',
    'num_classes_of',
    'plot',
    'step_config',
    'table',
    'title',
    'train_config',
    'train_step',
]

#: the repository root, where the configs are
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


def table(rows: list[dict], size: int) -> tuple[list[str], list[list[str]]]:
    """The roadmap table: its columns and its cells, one row per step (the trained columns where any row was
    trained)."""
    trained = any('top1' in r for r in rows)
    head = ['#', 'step', 'changes', 'params (M)', f'GFLOPs @{size}', 'paper GFLOPs', 'GFLOPs vs paper', 'paper top-1']
    if trained:
        head += ['measured top-1', 'top-1 halfway', 'train img/s', 'infer img/s']
    head.append('out channels')
    order = list(ROADMAP_STEPS)
    cells = []
    for r in rows:
        diff = '-' if r['gflops_diff'] is None else f'{r["gflops_diff"]:+.1%}' + (' FLAG' if r['flagged'] else '')
        row = [
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
            row += [
                _runs(r.get('top1'), r.get('top1_runs')),
                _runs(_halfway(r), r.get('halfway_runs')),
                _fmt(r.get('train_img_s'), '.0f'),
                _fmt(r.get('infer_img_s'), '.1f'),
            ]
        row.append('-'.join(map(str, r['out_channels'])))
        cells.append(row)
    return head, cells


def markdown(rows: list[dict], size: int) -> str:
    """:func:`table` as Markdown (``roadmap.md``)."""
    return '\n'.join(markdown_table(*table(rows, size))) + '\n'


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


def title(train: Optional[dict], scale: str = 'tiny') -> str:
    """The plot's and record's title: the ladder, its scale and (trained) the proxy schedule."""
    text = 'ResNet-50 -> ConvNeXt-T (paper section 2)'
    if scale != 'tiny':
        text = f'ResNet-50 -> ConvNeXt-T scaled to ConvNeXt-{scale} (widths and depths)'
    if train:
        text += f' - small-scale proxy: {train["epochs"]} epochs at {train["img_size"]}px, {train["recipe"]} recipe'
    return text


def num_classes_of(data_root: str) -> int:
    """The class folders under ``data_root``/train (the ImageNet folder layout); errors name ``--data-root``."""
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
