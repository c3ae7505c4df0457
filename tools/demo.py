"""The embedded demo (`make demo`): UperNet + ConvNeXt-atto on generated shapes, on a CPU.

    python tools/demo.py [--work-dir work_dirs/shapes_demo] [--data-root data/shapes_ade]
                         [--iters N] [--min-miou 40]

1. writes the shapes dataset in the ADE20K layout (deterministic; kept when present);
2. trains ``configs/upernet_convnext_atto_shapes_demo.py`` with ``tools/train.py``
   (mmengine's log shows progress with ETA; validation mIoU every quarter of the run);
3. evaluates the last checkpoint with ``tools/test.py --show-dir``: the final mIoU and
   one PNG per validation image (ground truth beside prediction);
4. plots training loss and validation mIoU over iterations (``curves.png``).

It prints the files it wrote and fails when the final mIoU stays below ``--min-miou``
(predicting "background" everywhere scores about 18).
"""
import argparse
import glob
import json
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'upernet_convnext_atto_shapes_demo.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/shapes_demo')
    parser.add_argument('--data-root', default='data/shapes_ade', help='where the generated dataset goes')
    parser.add_argument('--iters', type=int, default=None, help="training iterations (default: the config's)")
    parser.add_argument('--min-miou', type=float, default=40.0, help='fail below this final mIoU (percent)')
    return parser.parse_args()


def run(cmd: list) -> str:
    """Run a tool, streaming its output; return the output."""
    print('\n$ ' + ' '.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if 'UserWarning' not in line and 'import pkg_resources' not in line and '_bootstrap._exec' not in line:
            sys.stdout.write(line)
    if proc.wait():
        raise SystemExit(f'demo: {cmd[1]} failed (exit {proc.returncode})')
    return ''.join(lines)


def plot_curves(scalars_file: str, out_file: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    with open(scalars_file) as f:
        records = [json.loads(line) for line in f if line.strip()]
    train = [(r['step'], r['loss']) for r in records if 'loss' in r]
    val = [(r['step'], r['mIoU']) for r in records if 'mIoU' in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(*zip(*train), color='tab:blue')
    ax1.set(title='training loss', xlabel='iteration', ylabel='loss (decode + 0.4 aux)')
    ax2.plot(*zip(*val), marker='o', color='tab:green')
    ax2.set(title='validation mIoU', xlabel='iteration', ylabel='mIoU (%)', ylim=(0, 100))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.suptitle('UperNet + ConvNeXt-atto, generated shapes (ADE20K layout)')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    start = time.time()
    sys.path.insert(0, ROOT)
    from mmconvnext.datasets import make_shapes_dataset

    data_root = make_shapes_dataset(osp.join(ROOT, args.data_root) if not osp.isabs(args.data_root) else args.data_root)
    print(f'dataset: {data_root} ({time.time() - start:.0f} s)')
    work_dir = osp.abspath(osp.join(ROOT, args.work_dir))
    before = set(glob.glob(osp.join(work_dir, '2*')))
    train = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir, '--data-root', data_root]
    if args.iters:
        val, warmup = max(1, args.iters // 4), max(1, min(50, args.iters // 10))
        train += ['--cfg-options', f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={val}',
                  f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
                  f'param_scheduler.1.end={args.iters}', f'default_hooks.checkpoint.interval={args.iters}',
                  f'default_hooks.logger.interval={min(25, val)}']
    run(train)
    train_time = time.time() - start
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    new_runs = sorted(set(glob.glob(osp.join(work_dir, '2*'))) - before)
    if not new_runs:
        raise SystemExit(f'demo: tools/train.py left no run directory in {work_dir}')
    run_dir = new_runs[-1]

    overlays = osp.join(work_dir, 'overlays')
    log = run([sys.executable, 'tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir, '--data-root', data_root,
               '--show-dir', overlays])
    found = re.findall(r'Iter\(test\).*?mIoU: ([0-9.]+)', log)
    if not found:
        raise SystemExit('demo: tools/test.py printed no mIoU')
    miou = float(found[-1])
    curves = osp.join(work_dir, 'curves.png')
    plot_curves(osp.join(run_dir, 'vis_data', 'scalars.json'), curves)
    pngs = sorted(glob.glob(osp.join(overlays, '**', '*.png'), recursive=True))

    print('\n' + '=' * 72)
    print(f'final validation mIoU: {miou:.2f}%   (all "background" would score about 18%)')
    print(f'time: {time.time() - start:.0f} s in all, {train_time:.0f} s to generate data and train')
    print(f'checkpoint: {checkpoint}')
    print(f'overlays: {len(pngs)} PNGs under {overlays}' + (f' (e.g. {pngs[0]})' if pngs else ''))
    print(f'curves: {curves}')
    if miou < args.min_miou:
        raise SystemExit(f'demo: final mIoU {miou:.2f} is below {args.min_miou}')


if __name__ == '__main__':
    main()
