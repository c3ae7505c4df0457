"""The embedded demos' settings and judgement (``tools/demo.py``, ``make demo`` / ``make demo-det``): the
pretraining and the two dense tasks (configs, generated data), the pass/fail thresholds and :func:`verdict`, the
loss the head start shows in, the curves, the shared-weights config a user would write, and the results row."""

import hashlib
import json
import os
import os.path as osp
import re
import shutil

__all__ = [
    'DemoError',
    'PRETRAIN',
    'final_scores',
    'finish_pretraining',
    'loader_report',
    'read_scalars',
    'TASKS',
    'THRESHOLDS',
    'early_loss',
    'plot_curves',
    'pretrain_stamp',
    'save_demo_results',
    'shared_config',
    'verdict',
]


class DemoError(RuntimeError):
    """A demo run that did not produce what the demo reads (a log line, a metric, a checkpoint); names the file."""


#: the repository root, where the configs are
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PRETRAIN = dict(
    config='configs/convnext_atto_shapes_pretrain_demo.py',
    generator='make_shapes_imagenet',
    data='shapes_cls',
    # object-centred images (the shape's radius 30-45% of the side), as ImageNet photos are;
    # 1600 validation images: with 400, top-1 moved +-3.5 points from seed to seed, with these
    # +-2.3 (the same three checkpoints; AMD EPYC), for about 3 s more per epoch
    data_kwargs=dict(num_train=3200, num_val=1600, size=32, radius=(0.3, 0.45)),
)
TASKS = {
    'seg': dict(
        name='segmentation',
        config='configs/upernet_convnext_atto_shapes_demo.py',
        generator='make_shapes_dataset',
        data='shapes_ade',
        # 400 validation images: on 100, the same six checkpoints from scratch spread over 33.3-42.8
        # mIoU, on 400 over 37.5-41.7 (AMD EPYC); those of every 4th batch are drawn (96)
        data_kwargs=dict(num_train=400, num_val=400, size=64),
        show_interval=4,
        work_dir='work_dirs/shapes_demo',
        metrics=('mIoU',),
        percent=1,
    ),
    'det': dict(
        name='detection',
        config='configs/mask_rcnn_convnext_atto_shapes_demo.py',
        generator='make_shapes_coco',
        data='shapes_coco',
        data_kwargs=dict(num_train=400, num_val=100, size=64),
        work_dir='work_dirs/shapes_det_demo',
        metrics=('coco/bbox_mAP', 'coco/segm_mAP'),
        percent=100,
        # the total loss just after the warm-up is dominated by the randomly initialised RPN and
        # RoI heads (0.5-4% lower with the shared weights, AMD EPYC); the mask loss, per pixel,
        # shows what the backbone brings (7-11% lower)
        head_start_loss='loss_mask',
    ),
}
#: the demo's pass/fail line (percent): pretraining top-1, the shared-weights run's first
#: metric, and its gain over the run from scratch
THRESHOLDS = {
    # mIoU; the runs over seeds and CPUs: docs/get_started.md (50.1-52.7 with the shared weights on an AVX2 EPYC)
    'seg': dict(min_top1=50.0, min_score=40.0, min_gain=5.0),
    # box mAP; the runs over seeds and CPUs: docs/get_started.md
    'det': dict(min_top1=50.0, min_score=15.0, min_gain=10.0),
}


def pretrain_stamp(config: str, seed: int, epochs, data_kwargs: dict) -> dict:
    """What makes a pretrained checkpoint reusable: the config's text, the seed, the epochs and the data."""
    with open(config, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    stamp = dict(config=osp.relpath(config, ROOT), config_sha256=digest, seed=seed, epochs=epochs, data=data_kwargs)
    return json.loads(json.dumps(stamp))  # as it reads back from the stamp file (tuples as lists)


def shared_config(task: dict, work_dir: str, checkpoint: str) -> str:
    """The dense demo config with its backbone initialised from ``checkpoint``: the
    ordinary OpenMMLab way (``init_cfg`` of type ``Pretrained``), written as a user would."""
    path = osp.join(work_dir, 'shared_weights.py')
    with open(path, 'w') as f:
        f.write(
            f"# {task['config']} with the backbone initialised from the demo's classification pretraining\n"
            f'_base_ = {osp.join(ROOT, task["config"])!r}\n'
            f"model = dict(backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained', checkpoint={checkpoint!r})))\n"
        )
    return path


def early_loss(records: list[dict], key: str = 'loss') -> float:
    """The loss ``key`` just after the warm-up: the mean of its values logged over the second
    tenth of the schedule (iterations 31-60 of the segmentation demo's 300; warm-up is the
    first tenth). During the warm-up both runs' losses are set by the heads' random
    initialisation, which the same seed makes equal, and stay within 1% of each other."""
    steps = [r['step'] for r in records if key in r]
    last = max(steps)
    window = [r[key] for r in records if key in r and last * 0.1 < r['step'] <= last * 0.2]
    if not window:  # a very short run: the first logged loss after the warm-up
        window = [next(r[key] for r in records if key in r and r['step'] > last * 0.1)]
    return sum(window) / len(window)


def plot_curves(out_file: str, task: dict, pre: list[dict], runs: dict[str, list[dict]]) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(15, 4))
    acc = [(r['step'], r['accuracy/top1']) for r in pre if 'accuracy/top1' in r]
    ax0.plot(*zip(*acc), marker='o', color='tab:green', label='validation top-1 (%)')
    ax0.set(title='classification pretraining', xlabel='epoch', ylabel='top-1 %', ylim=(0, 100))
    twin = ax0.twinx()
    losses = [r['loss'] for r in pre if 'loss' in r]
    if losses and acc:
        per_epoch = len(losses) / max(s for s, _ in acc)
        twin.plot([(i + 1) / per_epoch for i in range(len(losses))], losses, color='tab:gray', alpha=0.5)
        twin.set_ylabel('training loss', color='tab:gray')
    ax0.legend(loc='lower right')
    colours = {'shared weights': 'tab:blue', 'from scratch': 'tab:orange'}
    for label, records in runs.items():
        ax1.plot(*zip(*[(r['step'], r['loss']) for r in records if 'loss' in r]), color=colours[label], label=label)
        for i, metric in enumerate(task['metrics']):
            points = [(r['step'], r[metric] * task['percent']) for r in records if metric in r]
            if points:
                style = '-' if i == 0 else ':'
                ax2.plot(*zip(*points), style, marker='o', color=colours[label], label=f'{metric}, {label}')
    ax1.set(title=f'{task["name"]}: training loss', xlabel='iteration', ylabel='loss')
    ax2.set(title=f'{task["name"]}: validation', xlabel='iteration', ylabel='%', ylim=(0, 100))
    for ax in (ax0, ax1, ax2):
        ax.grid(alpha=0.3)
    ax1.legend()
    ax2.legend(fontsize=8)
    fig.suptitle(f'{osp.basename(task["config"])[:-3]}: pretrained backbone vs from scratch')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def verdict(summary: dict, metric: str) -> list[str]:
    """The demo's pass/fail line: what falls below ``summary['thresholds']`` (empty: pass)."""
    limits = summary['thresholds']
    values = (
        ('min_top1', 'pretraining top-1', summary['pretrain_top1']),
        ('min_score', f'shared-weights {metric}', summary['scores']['shared weights'][metric]),
        ('min_gain', 'gain over scratch', summary['gain']),
    )
    return [
        f'{what} {value:.1f} < {limits[key]}'
        for key, what, value in values
        if limits[key] is not None and value < limits[key]
    ]


def save_demo_results(args, task: dict, summary: dict, cores: int) -> None:
    """One row: the seed, the pretraining's top-1, each metric with the shared weights and from scratch, the
    early loss the head start shows in, the times."""
    from mmconvnext.analysis.results import results_meta, table_results, tool_command

    scores, shared, scratch = summary['scores'], 'shared weights', 'from scratch'
    columns = ['CPU', 'seed', 'pretraining top-1']
    row = [summary['cpu'], str(args.seed), f'{summary["pretrain_top1"]:.1f}%']
    for i, m in enumerate(task['metrics']):
        name = m.split('/')[-1]
        columns.append(f'{name}, shared / scratch' + (' (gain)' if i == 0 else ''))
        row.append(
            f'{scores[shared][m]:.1f} / {scores[scratch][m]:.1f}' + (f' ({summary["gain"]:+.1f})' if i == 0 else '')
        )
    head = summary['head_start']
    columns.append(f'{head["loss"]} after warm-up, shared / scratch')
    row.append(f'{head["values"][shared]:.3f} / {head["values"][scratch]:.3f}')
    seconds = summary['seconds']
    columns.append('time (pretrained checkpoint ready)')
    reused = ', reused' if summary['pretraining_reused'] else ''
    row.append(
        f'{int(seconds["total"] // 60)} min {int(seconds["total"] % 60)} s ({seconds["pretraining"]:.0f} s{reused})'
    )
    meta = results_meta(tool_command('tools/demo.py'), cores)
    table_results(args.results, meta, columns, [row], summary=summary)


def read_scalars(run_dir: str) -> list[dict]:
    """The scalars of the newest mmengine run under ``run_dir``."""
    from mmconvnext.analysis.proxy import read_scalars as newest_scalars

    try:
        return newest_scalars(run_dir)
    except FileNotFoundError as error:
        raise DemoError(str(error)) from None


def loader_report(log_file: str) -> dict:
    """What ``mmconvnext.checkpoint.load_pretrained`` logged: tensors loaded, missing keys."""
    with open(log_file) as f:
        text = f.read()
    loaded = re.search(r'Loaded (\d+)/(\d+) backbone tensors from (\S+)', text)
    if not loaded:
        raise DemoError(f'{log_file} has no "Loaded N/M backbone tensors" line: the checkpoint was not loaded')
    missing = re.search(r'missing keys in \S+ \(kept their initialisation\): (\[.*?\])', text)
    return dict(
        loaded=int(loaded.group(1)),
        total=int(loaded.group(2)),
        checkpoint=loaded.group(3),
        missing=missing.group(1) if missing else '[]',
    )


def finish_pretraining(pretrain_dir: str, stamp: dict) -> str:
    """``pretrain.pth``: the run's last checkpoint, copied atomically, then the stamp."""
    with open(osp.join(pretrain_dir, 'last_checkpoint')) as f:
        last = f.read().strip()
    checkpoint = osp.join(pretrain_dir, 'pretrain.pth')
    shutil.copyfile(last, checkpoint + '.tmp')
    os.replace(checkpoint + '.tmp', checkpoint)
    with open(osp.join(pretrain_dir, 'demo_stamp.json'), 'w') as f:
        json.dump(stamp, f, indent=1)
    return checkpoint


def final_scores(records: list[dict], task: dict, run_dir: str) -> dict:
    """The last logged value of each of the task's metrics, in percent."""
    vals = [r for r in records if task['metrics'][0] in r]
    if not vals:
        raise DemoError(f'the run in {run_dir} logged no {task["metrics"][0]}')
    return {m: float(vals[-1][m]) * task['percent'] for m in task['metrics']}
