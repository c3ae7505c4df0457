"""Measure the learning guard's seed spread and show that it catches deliberate breakages.

    python tools/analysis/learning_guard.py [--seeds 0 1 2 3 4] [--breakages constant_aug shuffled_labels]
        [--breakage-seeds 0 1] [--epochs 8] [--work-dir work_dirs/learning_guard]
        [--out docs/results/learning_guard.json] [--render docs/learning_guard.md]

Trains the real classification config on scikit-learn's digits (mmconvnext.analysis.learning_guard) once per
seed with the shipped code, then once per seed with each breakage, and writes every held-out top-1 with the
command, CPU, threads, versions, date and commit to --out. --render rewrites the table between the
`<!-- learning_guard results -->` markers of a markdown file from that results file (alone, it only renders).
"""

import argparse
import json
import os
import os.path as osp
import shlex
import sys

import torch

from mmconvnext.analysis.learning_guard import (
    BREAKAGES,
    TASK_BREAKAGES,
    render_table,
    results_meta,
    run_guard,
    run_seg_guard,
)

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
    parser.add_argument('--out', help='the results file (default docs/results/learning_guard[_seg].json)')
    parser.add_argument('--render', metavar='MD', help='rewrite the table of this markdown file from --out')
    parser.add_argument('--render-only', action='store_true', help='only render --out into --render')
    return parser.parse_args()


def render_into(markdown: str, results: dict) -> None:
    name = {'cls': '', 'seg': '_seg'}[results.get('task', 'cls')]
    if results.get('task') == 'seg' and results.get('iters') != 300:
        name += f'_{results["iters"]}'
    marker = f'<!-- learning_guard{name} results -->'
    with open(markdown, encoding='utf-8') as f:
        text = f.read()
    parts = text.split(marker)
    if len(parts) != 3:
        sys.exit(f'{markdown}: expected the table between two {marker!r} lines')
    with open(markdown, 'w', encoding='utf-8') as f:
        f.write(parts[0] + marker + '\n' + render_table(results) + marker + parts[2])


def main() -> None:
    args = parse_args()
    seg = args.task == 'seg'
    args.out = args.out or f'docs/results/learning_guard{"_seg" if seg else ""}.json'
    if args.breakages is None:
        args.breakages = sorted(b for b in TASK_BREAKAGES[args.task])
    if not args.render_only:
        threads = int(os.environ.get('OMP_NUM_THREADS', torch.get_num_threads()))
        torch.set_num_threads(threads)
        command = 'python tools/analysis/learning_guard.py ' + shlex.join(sys.argv[1:])
        results = dict(meta=results_meta(command), task=args.task, runs=[])
        results.update(dict(iters=args.iters) if seg else dict(epochs=args.epochs))
        plan = [(s, None) for s in args.seeds] + [(s, b) for b in args.breakages for s in args.breakage_seeds]
        for seed, breakage in plan:
            if seg:
                run = run_seg_guard(ROOT, args.work_dir, seed, args.iters, breakage)
            else:
                run = run_guard(ROOT, args.work_dir, seed, args.epochs, breakage)
            results['runs'].append(dict(seed=seed, breakage=breakage, **run))
            name, figure = breakage or 'shipped', run['mIoU' if seg else 'top1']
            print(f'[learning_guard] {name} seed {seed}: {figure:.2f} ({run["seconds"]:.0f} s)')
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
    with open(args.out, encoding='utf-8') as f:
        results = json.load(f)
    print(render_table(results))
    if args.render:
        render_into(args.render, results)


if __name__ == '__main__':
    main()
