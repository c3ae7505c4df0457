"""Measure the learning guard's seed spread and show that it catches deliberate breakages.

    python tools/analysis/learning_guard.py [--seeds 0 1 2 3 4] [--breakages constant_aug shuffled_labels]
        [--breakage-seeds 0 1] [--epochs 8] [--work-dir work_dirs/learning_guard]
        [--results docs/results/learning_guard.json]

Trains the real classification config on scikit-learn's digits (mmconvnext.analysis.learning_guard) once per
seed with the shipped code, then once per seed with each breakage, and writes every held-out top-1 with the
command, CPU, threads, versions, date and commit to --results; `python tools/analysis/render_results.py` then
renders docs/learning_guard.md's tables from it.
"""

import argparse
import os
import os.path as osp

import torch

from mmconvnext.analysis.learning_guard import (
    BREAKAGES,
    TASK_BREAKAGES,
    render_table,
    run_guard,
    run_seg_guard,
)
from mmconvnext.analysis.results import results_meta, save_results, tool_command

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The learning guard's seed spread and breakages")
    parser.add_argument(
        '--task',
        choices=('cls', 'seg'),
        default='cls',
        help='cls: the digits classifier; seg: the UperNet on photographs',
    )
    parser.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2, 3, 4], help='seeds of the shipped code')
    parser.add_argument('--breakages', nargs='*', choices=sorted(BREAKAGES), help='default: those of the task')
    parser.add_argument('--breakage-seeds', type=int, nargs='*', default=[0, 1], help='seeds of each breakage')
    parser.add_argument('--epochs', type=int, default=8, help='cls: epochs')
    parser.add_argument('--iters', type=int, default=300, help='seg: iterations')
    parser.add_argument('--work-dir', default='work_dirs/learning_guard')
    parser.add_argument(
        '--results', '--out', dest='results', help='the results file (default docs/results/learning_guard[_seg].json)'
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    seg = args.task == 'seg'
    args.results = args.results or f'docs/results/learning_guard{"_seg" if seg else ""}.json'
    if args.breakages is None:
        args.breakages = sorted(b for b in TASK_BREAKAGES[args.task])
    threads = int(os.environ.get('OMP_NUM_THREADS', torch.get_num_threads()))
    torch.set_num_threads(threads)
    meta = results_meta(tool_command('tools/analysis/learning_guard.py'))
    runs = []
    plan = [(s, None) for s in args.seeds] + [(s, b) for b in args.breakages for s in args.breakage_seeds]
    for seed, breakage in plan:
        if seg:
            run = run_seg_guard(ROOT, args.work_dir, seed, args.iters, breakage)
        else:
            run = run_guard(ROOT, args.work_dir, seed, args.epochs, breakage)
        runs.append(dict(seed=seed, breakage=breakage, **run))
        name, figure = breakage or 'shipped', run['mIoU' if seg else 'top1']
        print(f'[learning_guard] {name} seed {seed}: {figure:.2f} ({run["seconds"]:.0f} s)')
    length = dict(iters=args.iters) if seg else dict(epochs=args.epochs)
    results = save_results(args.results, 'learning_guard', meta, task=args.task, **length, runs=runs)
    print(render_table(results))


if __name__ == '__main__':
    main()
