"""The embedded demos (`make demo`): ConvNeXt-atto models trained and evaluated on a CPU
on generated shapes.

    python tools/demo.py [--task seg|det] [--work-dir DIR] [--data-root DIR] [--iters N] [--min-score S] [--amp]

--task seg (default): UperNet on the shapes in the ADE20K layout (5 classes);
--task det: Mask R-CNN on the shapes in the COCO layout (4 categories).

1. writes the dataset (deterministic; kept when present);
2. trains the task's demo config with ``tools/train.py`` (mmengine's log shows progress
   with ETA; validation every quarter of the run); ``--iters N`` is its ``--max-iters N``,
   which shortens the whole schedule (warm-up, decay, validation and checkpoint intervals);
3. evaluates the last checkpoint with ``tools/test.py --show-dir --metrics-json``: the
   final metrics (read back from that JSON) and one drawing per validation image;
4. plots the training loss and the validation metrics over iterations (``curves.png``).

It prints the files it wrote and fails when the final score (mIoU, or box mAP) stays
below ``--min-score`` (percent).
"""

import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

TASKS = {
    'seg': dict(
        config='configs/upernet_convnext_atto_shapes_demo.py',
        data_root='data/shapes_ade',
        work_dir='work_dirs/shapes_demo',
        generator='make_shapes_dataset',
        metrics=('mIoU',),
        percent=1,
        min_score=40.0,
        baseline='predicting "background" everywhere scores about 18%',
    ),
    'det': dict(
        config='configs/mask_rcnn_convnext_atto_shapes_demo.py',
        data_root='data/shapes_coco',
        work_dir='work_dirs/shapes_det_demo',
        generator='make_shapes_coco',
        metrics=('coco/bbox_mAP', 'coco/segm_mAP'),
        percent=100,
        min_score=10.0,
        baseline='an untrained model scores about 0',
    ),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--task', choices=sorted(TASKS), default='seg')
    parser.add_argument('--work-dir', help='default work_dirs/shapes_demo (seg) or work_dirs/shapes_det_demo (det)')
    parser.add_argument('--data-root', help='where the generated dataset goes (default data/shapes_ade|shapes_coco)')
    parser.add_argument('--iters', type=int, default=None, help="training iterations (default: the config's)")
    parser.add_argument('--amp', action='store_true', help='train with tools/train.py --amp (bf16 on a CPU)')
    parser.add_argument(
        '--min-score',
        type=float,
        default=None,
        help='fail below this final mIoU / box mAP in percent (default 40 / 10)',
    )
    return parser.parse_args()


def run(cmd: list[str]) -> None:
    """Run a tool, streaming its output (less the stack's deprecation noise)."""
    print('\n$ ' + ' '.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    for line in proc.stdout:
        if 'UserWarning' not in line and 'import pkg_resources' not in line and '_bootstrap._exec' not in line:
            sys.stdout.write(line)
    if proc.wait():
        raise SystemExit(f'demo: {cmd[1]} failed (exit {proc.returncode})')


def read_scalars(scalars_file: str) -> list[dict]:
    with open(scalars_file) as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(scalars_file: str, out_file: str, metrics: tuple[str, ...], percent: float, title: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    records = read_scalars(scalars_file)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(*zip(*[(r['step'], r['loss']) for r in records if 'loss' in r]), color='tab:blue')
    ax1.set(title='training loss', xlabel='iteration', ylabel='loss')
    for name in metrics:
        points = [(r['step'], r[name] * percent) for r in records if name in r]
        if points:
            ax2.plot(*zip(*points), marker='o', label=name)
    ax2.set(title='validation', xlabel='iteration', ylabel='%', ylim=(0, 100))
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    task = TASKS[args.task]
    config = osp.join(ROOT, task['config'])
    start = time.time()
    sys.path.insert(0, ROOT)
    import mmconvnext.datasets as datasets

    data_root = osp.join(ROOT, args.data_root or task['data_root'])  # an absolute path stays as it is
    data_root = getattr(datasets, task['generator'])(data_root)
    print(f'dataset: {data_root} ({time.time() - start:.0f} s)')
    work_dir = osp.abspath(osp.join(ROOT, args.work_dir or task['work_dir']))
    before = set(glob.glob(osp.join(work_dir, '2*')))
    train = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir, '--data-root', data_root]
    if args.iters:
        train += ['--max-iters', str(args.iters)]
    if args.amp:
        train.append('--amp')
    run(train)
    train_time = time.time() - start
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    new_runs = sorted(set(glob.glob(osp.join(work_dir, '2*'))) - before)
    if not new_runs:
        raise SystemExit(f'demo: tools/train.py left no run directory in {work_dir}')

    overlays = osp.join(work_dir, 'overlays')
    metrics_file = osp.join(work_dir, 'test_metrics.json')
    if osp.exists(metrics_file):
        os.remove(metrics_file)  # a failed test must not leave an earlier run's numbers to report
    run(
        [
            sys.executable,
            'tools/test.py',
            config,
            checkpoint,
            '--work-dir',
            work_dir,
            '--data-root',
            data_root,
            '--show-dir',
            overlays,
            '--metrics-json',
            metrics_file,
        ]
    )
    with open(metrics_file) as f:
        metrics = json.load(f)
    scores = {}
    for name in task['metrics']:
        if name not in metrics:
            raise SystemExit(f'demo: tools/test.py reported no {name} (it reported {sorted(metrics)})')
        scores[name] = float(metrics[name]) * task['percent']
    curves = osp.join(work_dir, 'curves.png')
    title = f'{osp.basename(task["config"])[:-3]} on generated shapes'
    scalars = osp.join(new_runs[-1], 'vis_data', 'scalars.json')
    plot_curves(scalars, curves, task['metrics'], task['percent'], title)
    iter_times = sorted(r['time'] for r in read_scalars(scalars) if 'time' in r and 'loss' in r)
    drawings = sorted(
        glob.glob(osp.join(overlays, '**', '*.png'), recursive=True)
        + glob.glob(osp.join(overlays, '**', '*.jpg'), recursive=True)
    )

    print('\n' + '=' * 72)
    print('final validation ' + ', '.join(f'{k}: {v:.2f}%' for k, v in scores.items()) + f'   ({task["baseline"]})')
    print(
        f'time: {time.time() - start:.0f} s in all, {train_time:.0f} s to generate data and train'
        + (
            f'; {iter_times[len(iter_times) // 2]:.3f} s per training iteration (median of the logged ones)'
            if iter_times
            else ''
        )
        + (' with --amp' if args.amp else '')
    )
    print(f'checkpoint: {checkpoint}')
    print(f'drawings: {len(drawings)} under {overlays}' + (f' (e.g. {drawings[0]})' if drawings else ''))
    print(f'curves: {curves}')
    score, min_score = scores[task['metrics'][0]], args.min_score if args.min_score is not None else task['min_score']
    if score < min_score:
        raise SystemExit(f'demo: final {task["metrics"][0]} {score:.2f}% is below {min_score}%')


if __name__ == '__main__':
    main()
