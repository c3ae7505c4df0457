"""The benchmark's run: every row in a process of its own (:mod:`.worker`), interleaved over ``--rounds``, then
the report (tables, ratios, the chosen compute path, the results file)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Optional

import torch

from mmconvnext.analysis.results import markdown_table, results_meta, table_results, tool_command
from mmconvnext.deploy import OPSET, TOLERANCE
from mmconvnext.device import cpu_name

from .backbone import (
    ALL_IMPLS,
    BF16,
    COMPILE,
    COMPILED,
    DEPLOY,
    IMPLS,
    VERSIONED,
    backbone_gflops,
    matmul_gflops,
    missing_packages,
    package_version,
)
from .whole import DEMO_CASE, DEMO_CONFIG, ROOT, WHOLE_CASES

__all__ = ['build_parser', 'main']


def _child(job: dict, env: Optional[dict] = None) -> Optional[dict]:
    """Run one row or case (``job``: :func:`.worker.run_job`'s arguments) in a fresh process; its result, or
    None (reported)."""
    run = subprocess.run(
        [sys.executable, '-m', 'mmconvnext.analysis.bench.worker', json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
    )
    if run.returncode != 0:
        what = job.get('impl') or job.get('case')
        print(f'[benchmark] {what} failed (a peer not importable?):\n{run.stderr[-1500:]}', file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/analysis/benchmark.py``."""
    parser = argparse.ArgumentParser(description='Speed of mmconvnext against its peers and the matmul rate')
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument(
        '--no-peers', action='store_true', help='only mmconvnext and mmconvnext-plain (and the matmul bound)'
    )
    parser.add_argument(
        '--no-compile',
        action='store_true',
        help=f'leave out the torch.compile rows ({", ".join(COMPILED)}): compiling takes minutes on a small CPU',
    )
    parser.add_argument(
        '--impls',
        nargs='+',
        choices=ALL_IMPLS,
        metavar='NAME',
        help=f'only these rows, in this order (default: all; names: {", ".join(ALL_IMPLS)})',
    )
    parser.add_argument('--whole-model', action='store_true', help='also UperNet-T / Mask R-CNN-T training steps')
    parser.add_argument(
        '--whole-cases',
        nargs='+',
        choices=WHOLE_CASES,
        metavar='CASE',
        help=f'--whole-model: only these cases (default: all; names: {", ".join(WHOLE_CASES)})',
    )
    parser.add_argument(
        '--det-size',
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=('H', 'W'),
        help='Mask R-CNN-T input size for --whole-model (default 512 512)',
    )
    parser.add_argument('--bf16', action='store_true', help='also time mmconvnext under CPU bf16 autocast')
    parser.add_argument(
        '--depthwise',
        action='store_true',
        help="also time each stage's depthwise conv (forward, input and weight gradient) by aten and by the "
        'compiled kernels, against the fp32 FMA rate',
    )
    parser.add_argument(
        '--compile',
        action='store_true',
        help=f'with --no-peers: also {COMPILE} (the runner switch `compile=True`); a default row otherwise',
    )
    parser.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='time every backbone row and --whole-model case this many times, interleaved (A B A B ...), '
        'and report the median round and the spread of the per-round ratios',
    )
    parser.add_argument(
        '--matmul-size',
        type=int,
        default=2048,
        metavar='N',
        help='the bound: N^3 fp32 matmuls (default 2048; smaller only for quick checks, it reads a lower rate)',
    )
    parser.add_argument(
        '--profile',
        action='store_true',
        help="also profile forward+backward steps of the eager rows (torch.profiler): each operator group's "
        'share of the step',
    )
    parser.add_argument('--json', help='also write the raw numbers here')
    parser.add_argument(
        '--results', metavar='FILE', help='write the tables, with command, machine, versions, date and commit'
    )
    return parser


def _chosen_rows(args: argparse.Namespace) -> list[str]:
    """The backbone rows the arguments ask for, in table order."""
    if args.impls:
        impls = list(dict.fromkeys(args.impls))
    elif args.no_peers:
        impls = list(IMPLS[:2]) + ([COMPILE] if args.compile else [])
    else:
        impls = [i for i in IMPLS + DEPLOY + COMPILED if not (args.no_compile and i in COMPILED)]
    if args.bf16 and BF16 not in impls:
        impls.append(BF16)
    return impls


def _run_rows(args: argparse.Namespace, impls: list[str]) -> tuple[dict, dict]:
    """Each row in a process of its own (one's thread pools do not slow another's ops), the rounds interleaved
    (A B C A B C ...: a slow spell of the machine touches every row); returns the results (the median round's
    rates, the first round's details) and the skipped rows with the reason."""
    skipped = {}
    for impl in impls:
        if reason := missing_packages(impl):
            skipped[impl] = reason
    rounds: dict[str, list[dict]] = {impl: [] for impl in impls if impl not in skipped}
    for _ in range(max(1, args.rounds)):
        for impl in [i for i in rounds if i not in skipped]:
            r = _child(
                dict(
                    impl=impl,
                    arch=args.arch,
                    batch=args.batch,
                    size=args.size,
                    warmup=args.warmup,
                    repeats=args.repeats,
                    threads=args.threads,
                )
            )
            if r is None:
                continue
            if 'skipped' in r:
                skipped[impl] = r['skipped']
                continue
            rounds[impl].append(r)
    backbone = {}
    for impl, runs in rounds.items():
        if impl in skipped or not runs:
            continue
        r = dict(runs[0])  # the first round's details (errors, path, compile time) ...
        for key in ('fwd_img_s', 'fwd_bwd_img_s'):  # ... and the median round's rates
            if key in r:
                r[key] = statistics.median(run[key] for run in runs)
                r[f'rounds_{key}'] = [run[key] for run in runs]
        backbone[impl] = r
    return backbone, skipped


def _run_whole_model(args: argparse.Namespace, backbone: dict) -> tuple[dict, tuple]:
    """The whole-model cases, each in processes of its own (a timed one, and one step for the memory), interleaved
    over the rounds; printed; returns their results and the table (columns, rows)."""
    cases = args.whole_cases or [c for c in WHOLE_CASES if 'mmpretrain' not in c or 'mmpretrain' in backbone]
    times: dict[str, list[float]] = {c: [] for c in cases}
    whole = {}
    # rounds interleave the cases (A B C A B C ...): a slow spell of the machine then
    # touches every case instead of one, and the per-round ratios show the spread
    for _ in range(max(1, args.rounds)):
        for case in cases:
            common = dict(
                case=case,
                det_size=args.det_size,
                batch=args.batch,
                size=args.size,
                arch=args.arch,
                threads=args.threads,
            )
            r = _child(dict(common, warmup=1, repeats=max(3, args.repeats // 2)))
            if r is None:
                continue
            times[case].append(r['step_s'])
            if case not in whole:
                # memory in a second process of one step, with glibc returning every block of
                # 64 KiB or more to the system at once, so the resident high-water mark is the
                # peak of live tensors, not of the allocator's cache (slower: not for timing)
                m = _child(dict(common, warmup=0, repeats=1), env={'MALLOC_MMAP_THRESHOLD_': '65536'})
                whole[case] = dict(r, peak_mib=m['peak_mib'] if m else float('nan'))
    for case, r in whole.items():
        r['step_s'] = statistics.median(times[case])
        r['rounds_step_s'] = times[case]
    whole_rows = []
    for case, r in whole.items():
        task = case.split('/')[0]
        base = whole.get(f'{task}/mmconvnext')
        other = whole.get(f'{task}/mmpretrain')
        note = ''
        if case in (f'{task}/mmpretrain', f'{task}/mmconvnext-plain') and base:
            note = f'mmconvnext {r["step_s"] / base["step_s"]:.3f}x as fast'
            ratios = [p / o for p, o in zip(r['rounds_step_s'], base['rounds_step_s'])]
            if len(ratios) > 1:
                r['rounds_ratio'] = ratios
                note += f' (rounds: {", ".join(f"{q:.3f}" for q in ratios)})'
        elif case.endswith('with_cp') and base:
            note = (
                f'memory {r["peak_mib"] / base["peak_mib"] - 1:+.0%}, '
                f'time {r["step_s"] / base["step_s"] - 1:+.0%} vs without'
            )
        elif case == DEMO_CASE:
            note = f"{DEMO_CONFIG}: compare tools/demo.py's s/iter (which adds data loading)"
        elif other is None and case == f'{task}/mmconvnext':
            note = '(no peer)'
        whole_rows.append([case, r['batch'], r['size'], f'{r["step_s"]:.2f}', f'{r["peak_mib"]:.0f}', note])
    whole_columns = ['training step (fwd, bwd, AdamW)', 'batch', 'size', 's / step', 'peak MiB', 'note']
    print('\n' + '\n'.join(markdown_table(whole_columns, whole_rows)))
    if demo := whole.get(DEMO_CASE):
        print(
            f'\nsegmentation demo ({DEMO_CONFIG}, batch {demo["batch"]}, {demo["size"]}): '
            f'{demo["step_s"]:.3f} s per training iteration (model only; tools/demo.py prints its own s/iter)'
        )
    return whole, (whole_columns, whole_rows)


def _run_depthwise(args: argparse.Namespace, fma_gflops: float) -> tuple[list, dict]:
    """``--depthwise``: the stages' depthwise convs by aten and by the kernels, printed and as a results table."""
    from mmconvnext.models.layers import depthwise_kernel

    from .depthwise import PASSES, depthwise_rows, time_depthwise

    stages = time_depthwise(args.arch, args.batch, args.size, args.warmup, args.repeats, args.rounds)
    columns = ['stage (map, channels)']
    for p in PASSES:
        columns += [f'{p}: aten', f'{p}: kernel', f'{p}: speed-up']
    rows = depthwise_rows(stages, fma_gflops)
    note = (
        f'7x7 depthwise conv of ConvNeXt-{args.arch}, batch {args.batch}, {args.size}x{args.size}, channels-last '
        f'fp32; % of the fp32 FMA rate torch.mm reaches here ({fma_gflops:.0f} GFLOP/s); the kernels run their '
        f'{depthwise_kernel.isa()} loops'
    )
    print(f'\n{note}\n' + '\n'.join(markdown_table(columns, rows)))
    return stages, (columns, rows, [note])


def _run_profile(args: argparse.Namespace, impls: list[str]) -> tuple[dict, dict]:
    """``--profile``: the eager rows' steps under torch.profiler, each in its own process, ``--rounds`` times
    interleaved (each group's and the step's median over the rounds), as one table per kind."""
    from .profile import profile_rows

    runs: dict[str, list] = {impl: [] for impl in impls if impl in IMPLS}  # the eager rows
    for _ in range(max(1, args.rounds)):
        for impl in runs:
            job = dict(impl=impl, arch=args.arch, batch=args.batch, size=args.size, warmup=args.warmup, steps=2)
            if (r := _child(dict(job, profile=True, threads=args.threads))) is not None and 'skipped' not in r:
                runs[impl].append(r)
    results = {}
    for impl, rs in runs.items():
        if rs:
            results[impl] = {
                kind: {
                    'step_ms': statistics.median(r[kind]['step_ms'] for r in rs),
                    'self_ms': {
                        g: statistics.median(r[kind]['self_ms'][g] for r in rs) for g in rs[0][kind]['self_ms']
                    },
                    'rounds': [r[kind] for r in rs],
                }
                for kind in ('train', 'infer')
            }
    tables = {}
    for kind, what in (('train', 'forward+backward steps'), ('infer', 'inference forwards (eval, no grad)')):
        columns, rows = profile_rows(results, kind)
        note = (
            f'ConvNeXt-{args.arch} features, batch {args.batch}, {args.size}x{args.size}: torch.profiler self CPU '
            f'time over 2 {what} after the warm-up, grouped by operator (share of the summed self time, ms per '
            "step); ms / step: the profiled steps' wall time"
        )
        print(f'\n{note}\n' + '\n'.join(markdown_table(columns, rows)))
        tables[kind] = (columns, rows, [note])
    return results, tables


def main(argv: Optional[list[str]] = None) -> int:
    """``tools/analysis/benchmark.py`` (see :mod:`mmconvnext.analysis.bench`)."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)

    versions = {name: package_version(name) for name in VERSIONED}
    results: dict = {
        'machine': {
            'cpu': cpu_name(),
            'threads': args.threads,
            'torch': torch.__version__,
            'versions': versions,
            'date': time.strftime('%Y-%m-%d'),
        },
        'args': dict(vars(args)),
    }
    rates = matmul_gflops(n=args.matmul_size)
    rate = rates['torch.mm']
    best = max(rates.values())
    results['machine']['matmul_gflops'] = rates
    from mmconvnext.models import ConvNeXt

    gflops = backbone_gflops(ConvNeXt(args.arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False), args.size)
    bound = rate / gflops
    backbone, skipped = _run_rows(args, _chosen_rows(args))
    results['backbone'] = {
        'gflops_per_img': gflops,
        'bound_img_s': bound,
        'bound_best_img_s': best / gflops,
        'results': backbone,
        'skipped': skipped,
    }

    print(
        f'\n{cpu_name()}, {args.threads} threads; fp32 {args.matmul_size}^3 matmul: '
        + ', '.join(f'{k} {v:.1f} GFLOP/s' for k, v in rates.items())
    )
    print('versions: ' + ', '.join(f'{k} {v}' for k, v in versions.items()))
    for impl, reason in skipped.items():
        print(f'skipped {impl}: {reason}')
    for impl, r in backbone.items():
        if 'path' in r:
            print(f'chosen path, {impl}: {r["path"]}')
        if 'export_s' in r:
            print(
                f'{impl}: mmconvnext exported to ONNX (opset {OPSET}) in {r["export_s"]:.1f} s; max relative '
                f'difference to PyTorch {r["max_rel_err_vs_fp32"]:.1e} (tolerance {TOLERANCE:.0e})'
            )
    print(
        f'ConvNeXt-{args.arch} features, batch {args.batch}, {args.size}x{args.size}: {gflops:.2f} GFLOP/img; '
        f'bound {bound:.1f} img/s at the torch.mm rate, {best / gflops:.1f} at the best rate'
        + (f'; median of {args.rounds} interleaved rounds' if args.rounds > 1 else '')
        + '\n'
    )
    columns = [
        'implementation',
        'forward img/s',
        'ours / it',
        'of bound (torch.mm / best)',
        'fwd+bwd img/s',
        'ours / it',
        'max rel. diff from its fp32 outputs',
    ]
    ours = backbone.get('mmconvnext')

    def ratio(r: dict, key: str) -> str:
        return f'{ours[key] / r[key]:.3f}' if ours and key in ours and key in r else '-'

    rows = []
    for name, r in backbone.items():
        fwd_bwd = f'{r["fwd_bwd_img_s"]:.2f}' if 'fwd_bwd_img_s' in r else '- (inference only)'
        rows.append(
            [
                name,
                f'{r["fwd_img_s"]:.2f}',
                ratio(r, 'fwd_img_s'),
                f'{r["fwd_img_s"] / bound:.1%} / {r["fwd_img_s"] / (best / gflops):.1%}',
                fwd_bwd,
                ratio(r, 'fwd_bwd_img_s'),
                f'{r["max_rel_err_vs_fp32"]:.1e}',
            ]
        )
    print('\n'.join(markdown_table(columns, rows)))
    tables = {}
    notes = [
        f'ConvNeXt-{args.arch} features, batch {args.batch}, {args.size}x{args.size}, {gflops:.2f} GFLOP/img; '
        f'fp32 matmul {", ".join(f"{k} {v:.1f}" for k, v in rates.items())} GFLOP/s; '
        + ', '.join(f'{impl} path {r["path"]}' for impl, r in backbone.items() if 'path' in r)
        + (f'; median of {args.rounds} interleaved rounds' if args.rounds > 1 else '')
    ]
    if ours and args.rounds > 1:
        for key, what in (('rounds_fwd_img_s', 'forward'), ('rounds_fwd_bwd_img_s', 'forward+backward')):
            print(f'\nper-round {what} ratios (mmconvnext / it):')
            for name, r in backbone.items():
                if name != 'mmconvnext' and key in r and key in ours:
                    per_round = [o / t for o, t in zip(ours[key], r[key])]
                    print(f'  {name}: {", ".join(f"{q:.3f}" for q in per_round)}')

    for name in COMPILED:
        if r_compile := backbone.get(name):
            print(
                f'\n{name}: compiling took {r_compile["compile_s"]:.1f} s (first forward + first forward/backward), '
                f'{r_compile["graph_breaks"]} graph break(s)'
            )

    if args.whole_model:
        results['whole_model'], tables['whole_model'] = _run_whole_model(args, backbone)
    if args.depthwise:
        results['depthwise'], tables['depthwise'] = _run_depthwise(args, rate)
    if args.profile:
        results['profile'], profiles = _run_profile(args, _chosen_rows(args))
        tables['profile_train'], tables['profile_infer'] = profiles['train'], profiles['infer']
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    if args.results:
        meta = results_meta(tool_command('tools/analysis/benchmark.py', argv), args.threads)
        table_results(args.results, meta, columns, rows, notes, tables, data=results)
    return 0
