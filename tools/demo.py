"""The embedded demos (`make demo`, `make demo-det`): one set of weights, made by the toolkit's
own classification trainer, feeding a dense task, on a CPU, on generated data in the real
on-disk layouts.

    python tools/demo.py [--task seg|det] [--seed S] [--work-dir DIR] [--pretrain-dir DIR]
                         [--data-root DIR] [--iters N] [--pretrain-epochs N] [--retrain]
                         [--min-top1 P] [--min-score P] [--min-gain P] [--amp] [--results FILE]

1. **Pretraining.** ``configs/convnext_atto_shapes_pretrain_demo.py`` (the ImageNet recipe of
   ``configs/convnext_tiny_in1k.py`` shrunk in size and schedule) trains a ConvNeXt-atto
   classifier on generated shapes in the ImageNet folder layout. Its checkpoint is kept in
   ``--pretrain-dir`` (default ``work_dirs/shapes_pretrain``) and reused, by the other demo
   too, while the config, the seed and the data are unchanged (``--retrain`` forces a new run).
2. **The dense task twice**, same config, seed and schedule: UperNet (``--task seg``) or
   Mask R-CNN (``--task det``) with the backbone initialised from that checkpoint through the
   config's ``init_cfg`` ("shared weights": a two-line config in the work dir that inherits
   the demo config, as a user would write it), and from scratch. The from-scratch run starts
   at once, beside the pretraining; each concurrent run gets half of the cores.
3. ``tools/test.py --show-dir`` draws the shared-weights model's predictions on every
   validation image (ground truth beside prediction).
4. ``curves.png``: the pretraining's accuracy and loss, and both dense runs' loss and
   validation metric over iterations.
5. A table: classification top-1, the dense metric with shared weights and from scratch,
   the loss just after the warm-up, and what the loader reported (backbone tensors
   loaded, missing). ``summary.json`` in the work dir holds the same. The demo fails when
   top-1, the shared-weights score or its gain over scratch is below the thresholds
   (``mmconvnext.analysis.demo.THRESHOLDS``; calibrated over seeds, docs/get_started.md). ``--results FILE``
   also writes that row with the command, machine, versions, date and commit (:mod:`mmconvnext.analysis.results`).

The console shows each run's progress (with ETA) and validation lines, prefixed by the run's
name; each run's whole output is in ``<work dir>/<run>.log`` besides mmengine's own log.
"""

import argparse
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import threading
import time

from mmconvnext.analysis.demo import (
    PRETRAIN,
    ROOT,
    TASKS,
    THRESHOLDS,
    DemoError,
    early_loss,
    final_scores,
    finish_pretraining,
    loader_report,
    plot_curves,
    pretrain_stamp,
    read_scalars,
    save_demo_results,
    shared_config,
    verdict,
)

#: what of a run's output reaches the console (all of it goes to its log file)
_SHOWN = re.compile(r'eta: |\(val\) \[|Loaded \d+/\d+ backbone tensors|missing keys|Error|error:')
_print_lock = threading.Lock()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--task', choices=sorted(TASKS), default='seg')
    parser.add_argument('--seed', type=int, default=0, help='seed of every run (default 0)')
    parser.add_argument('--work-dir', help='default work_dirs/shapes_demo (seg) or work_dirs/shapes_det_demo (det)')
    parser.add_argument(
        '--pretrain-dir', help='where the pretraining runs and is cached (default work_dirs/shapes_pretrain)'
    )
    parser.add_argument('--data-root', default='data', help='where the generated datasets go (default data/)')
    parser.add_argument('--iters', type=int, default=None, help="dense training iterations (default: the config's)")
    parser.add_argument('--pretrain-epochs', type=int, default=None, help="pretraining epochs (default: the config's)")
    parser.add_argument('--retrain', action='store_true', help='pretrain again even when a cached checkpoint fits')
    parser.add_argument('--pretrain-only', action='store_true', help='only make (or find) the pretrained checkpoint')
    parser.add_argument('--amp', action='store_true', help='train with tools/train.py --amp (bf16 on a CPU)')
    parser.add_argument('--results', metavar='FILE', help='write the summary row to this results file (JSON)')
    for key, text in (('top1', 'pretraining top-1'), ('score', 'shared-weights score'), ('gain', 'gain over scratch')):
        parser.add_argument(f'--min-{key}', type=float, default=None, help=f'fail below this {text}, percent')
    return parser.parse_args()


# ---------------------------------------------------------------------- running the tools
class Job:
    """A tool in a subprocess with ``threads`` torch threads; its output goes whole to
    ``log_file`` and, filtered, to the console behind ``[name]``."""

    def __init__(self, name: str, cmd: list[str], log_file: str, threads: int) -> None:
        self.name, self.log_file = name, log_file
        with _print_lock:
            print(f'[{name}] $ {" ".join(cmd)}   (full output: {log_file})', flush=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env
        )
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        with open(self.log_file, 'w') as log:
            for line in self.proc.stdout:
                log.write(line)
                if _SHOWN.search(line) and 'UserWarning' not in line and _every_50th(line):
                    text = line.split(' - mmengine - INFO - ')[-1].rstrip()
                    with _print_lock:
                        print(f'[{self.name}] {text}', flush=True)

    def wait(self) -> None:
        code = self.proc.wait()
        self.thread.join()
        if code:
            with open(self.log_file) as f:
                tail = f.readlines()[-25:]
            raise SystemExit(f'demo: {self.name} failed (exit {code}); the end of {self.log_file}:\n' + ''.join(tail))


def _every_50th(line: str) -> bool:
    """Training progress at the first logged iteration and every 50th, validation and test
    results (not their progress); any other line."""
    if re.search(r'\((val|test)\).*eta: ', line):
        return False
    step = re.search(r'\(train\).*?\[\s*(\d+)/\d+\]\s', line)
    return step is None or int(step.group(1)) % 50 == 0 or int(step.group(1)) <= 10


def cpu_count() -> int:
    """The cores this process may use, at most ``OMP_NUM_THREADS`` when that is set (the
    threads a user or a test runner gives each process; more would oversubscribe them)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    cap = os.environ.get('OMP_NUM_THREADS', '')
    return max(1, min(cores, int(cap))) if cap.isdigit() and int(cap) > 0 else cores


# ---------------------------------------------------------------------- the stages
def start_pretraining(args, data_root: str, pretrain_dir: str, threads: int):
    """The pretraining job, or ``None`` when ``pretrain_dir`` holds a run of the same stamp."""
    config = osp.join(ROOT, PRETRAIN['config'])
    stamp = pretrain_stamp(config, args.seed, args.pretrain_epochs, PRETRAIN['data_kwargs'])
    stamp_file = osp.join(pretrain_dir, 'demo_stamp.json')
    checkpoint = osp.join(pretrain_dir, 'pretrain.pth')
    if not args.retrain and osp.exists(checkpoint) and osp.exists(stamp_file):
        with open(stamp_file) as f:
            if json.load(f) == stamp:
                print(f'[pretrain] reusing {checkpoint} (same config, seed and data; --retrain trains again)')
                return None, stamp
    for stale in (stamp_file, checkpoint):  # never leave a stamp beside another run's checkpoint
        if osp.exists(stale):
            os.remove(stale)
    os.makedirs(pretrain_dir, exist_ok=True)
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', pretrain_dir, '--data-root', data_root]
    options = [f'randomness.seed={args.seed}']
    if args.pretrain_epochs:
        n = args.pretrain_epochs  # the cosine decay (the second scheduler) ends with the run, as in the config
        options += [f'train_cfg.max_epochs={n}', f'param_scheduler.1.end={n}', f'default_hooks.checkpoint.interval={n}']
    cmd += ['--cfg-options', *options]
    if args.amp:
        cmd.append('--amp')
    return Job('pretrain', cmd, osp.join(pretrain_dir, 'pretrain.log'), threads), stamp


def dense_job(args, name: str, config: str, run_dir: str, data_root: str, threads: int) -> Job:
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', run_dir, '--data-root', data_root]
    cmd += ['--cfg-options', f'randomness.seed={args.seed}']
    if args.iters:
        cmd += ['--max-iters', str(args.iters)]
    if args.amp:
        cmd.append('--amp')
    os.makedirs(run_dir, exist_ok=True)
    return Job(name, cmd, osp.join(run_dir, f'{name.split()[-1]}.log'), threads)


def main() -> None:
    args = parse_args()
    task = TASKS[args.task]
    thresholds = dict(THRESHOLDS[args.task])
    for key in thresholds:
        if getattr(args, key) is not None:
            thresholds[key] = getattr(args, key)
    start = time.time()
    import mmconvnext.datasets as datasets
    from mmconvnext.device import cpu_name

    base = osp.join(ROOT, args.data_root)  # an absolute path stays as it is
    cls_root = getattr(datasets, PRETRAIN['generator'])(osp.join(base, PRETRAIN['data']), **PRETRAIN['data_kwargs'])
    dense_root = getattr(datasets, task['generator'])(osp.join(base, task['data']), **task['data_kwargs'])
    print(f'datasets: {cls_root} and {dense_root} ({time.time() - start:.0f} s)', flush=True)
    work_dir = osp.abspath(osp.join(ROOT, args.work_dir or task['work_dir']))
    pretrain_dir = osp.abspath(osp.join(ROOT, args.pretrain_dir or 'work_dirs/shapes_pretrain'))
    os.makedirs(work_dir, exist_ok=True)
    threads = max(1, cpu_count() // 2)  # two runs at a time

    if args.pretrain_only:
        pretraining, stamp = start_pretraining(args, cls_root, pretrain_dir, cpu_count())
        if pretraining is not None:
            pretraining.wait()
            finish_pretraining(pretrain_dir, stamp)
        top1 = [r['accuracy/top1'] for r in read_scalars(pretrain_dir) if 'accuracy/top1' in r]
        print(f'pretrained checkpoint: {pretrain_dir}/pretrain.pth, top-1 {top1[-1]:.1f}%')
        return
    pretraining, stamp = start_pretraining(args, cls_root, pretrain_dir, threads)
    scratch_dir, shared_dir = osp.join(work_dir, 'scratch'), osp.join(work_dir, 'shared')
    scratch_config = osp.join(work_dir, 'from_scratch.py')
    with open(scratch_config, 'w') as f:
        f.write(
            f'# {task["config"]} from scratch: no backbone weights to load\n'
            f'_base_ = {osp.join(ROOT, task["config"])!r}\n'
            'model = dict(backbone=dict(init_cfg=None))\n'
        )
    scratch = dense_job(args, f'{args.task} from-scratch', scratch_config, scratch_dir, dense_root, threads)
    if pretraining is not None:
        pretraining.wait()
        finish_pretraining(pretrain_dir, stamp)
    checkpoint = osp.join(pretrain_dir, 'pretrain.pth')
    pretrain_time = time.time() - start
    config = shared_config(task, work_dir, checkpoint)
    alone = scratch.proc.poll() is not None  # the run from scratch already ended: take every core
    shared = dense_job(
        args, f'{args.task} shared-weights', config, shared_dir, dense_root, cpu_count() if alone else threads
    )
    shared.wait()
    scratch.wait()
    train_time = time.time() - start

    with open(osp.join(shared_dir, 'last_checkpoint')) as f:
        shared_checkpoint = f.read().strip()
    overlays = osp.join(work_dir, 'overlays')
    shutil.rmtree(overlays, ignore_errors=True)
    test = [sys.executable, 'tools/test.py', config, shared_checkpoint, '--work-dir', shared_dir]
    test += ['--data-root', dense_root, '--show-dir', overlays, '--show-interval', str(task.get('show_interval', 1))]
    Job(f'{args.task} test', test, osp.join(work_dir, 'test.log'), cpu_count()).wait()

    pre_records = read_scalars(pretrain_dir)
    top1 = [r['accuracy/top1'] for r in pre_records if 'accuracy/top1' in r]
    if not top1:
        raise SystemExit(f'demo: the pretraining in {pretrain_dir} logged no accuracy/top1')
    runs = {'shared weights': read_scalars(shared_dir), 'from scratch': read_scalars(scratch_dir)}
    scores = {label: final_scores(records, task, label) for label, records in runs.items()}
    losses = {label: early_loss(records) for label, records in runs.items()}
    head_start_key = task.get('head_start_loss', 'loss')
    head_start = (
        losses
        if head_start_key == 'loss'
        else {label: early_loss(records, head_start_key) for label, records in runs.items()}
    )
    loader = loader_report(shared.log_file)
    curves = osp.join(work_dir, 'curves.png')
    plot_curves(curves, task, pre_records, runs)
    drawings = sorted(
        p for p in (osp.join(d, f) for d, _, fs in os.walk(overlays) for f in fs) if p.endswith(('.png', '.jpg'))
    )
    metric = task['metrics'][0]
    gain = scores['shared weights'][metric] - scores['from scratch'][metric]
    summary = dict(
        task=args.task,
        seed=args.seed,
        pretrain_top1=top1[-1],
        scores=scores,
        gain=gain,
        early_loss=losses,
        head_start=dict(loss=head_start_key, values=head_start),
        loader=loader,
        seconds=dict(pretraining=pretrain_time, training=train_time, total=time.time() - start),
        cpu=cpu_name(),
        pretraining_reused=pretraining is None,
        thresholds=thresholds,
    )
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)

    def row(label: str) -> str:
        return '  '.join(f'{m.split("/")[-1]} {v:5.1f}%' for m, v in scores[label].items())

    print('\n' + '=' * 78)
    print(
        f'classification pretraining (ConvNeXt-atto, {PRETRAIN["data_kwargs"]["size"]}px shapes): '
        f'top-1 {top1[-1]:.1f}%' + ('  (cached checkpoint)' if pretraining is None else '')
    )
    print(
        f'{task["name"]}, backbone from that checkpoint: {row("shared weights")}   '
        f'loss after warm-up {losses["shared weights"]:.3f}'
    )
    print(
        f'{task["name"]}, backbone from scratch:         {row("from scratch")}   '
        f'loss after warm-up {losses["from scratch"]:.3f}'
    )
    if head_start_key != 'loss':
        print(
            f'{head_start_key} after warm-up: {head_start["shared weights"]:.3f} with the shared weights, '
            f'{head_start["from scratch"]:.3f} from scratch'
        )
    print(f'gain from the shared weights: {gain:+.1f} points of {metric}')
    print(
        f'loader: {loader["loaded"]}/{loader["total"]} backbone tensors from {loader["checkpoint"]}, '
        f'missing keys: {loader["missing"]}'
    )
    print(
        f'time: {time.time() - start:.0f} s in all ({pretrain_time:.0f} s until the pretrained checkpoint was '
        f'ready, {train_time:.0f} s until both dense runs ended); {summary["cpu"]}, {cpu_count()} cores'
    )
    print(f'drawings: {len(drawings)} under {overlays}; curves: {curves}; summary: {work_dir}/summary.json')
    if args.results:
        save_demo_results(args, task, summary, cpu_count())
    failures = verdict(summary, metric)
    if failures:
        raise SystemExit('demo: FAIL: ' + '; '.join(failures))
    print('demo: PASS (' + ', '.join(f'{k} {v}' for k, v in thresholds.items()) + ')')


if __name__ == '__main__':
    try:
        main()
    except DemoError as e:
        raise SystemExit(f'demo: {e}') from None
