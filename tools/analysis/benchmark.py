"""Speed (and memory) of mmconvnext's ConvNeXt against the implementations users would
pick instead, and against the machine's matmul rate, in one run.

    python tools/analysis/benchmark.py [--arch tiny] [--batch 8] [--size 224] [--threads 2]
                                       [--repeats 10] [--warmup 3] [--no-peers]
                                       [--whole-model] [--rounds N] [--det-size H W]
                                       [--bf16] [--compile] [--json FILE]
    # with the peers (timm, mmpretrain) importable:
    PYTHONPATH=.peers:../shared/peers/stub python tools/analysis/benchmark.py   (make bench)

Backbone (the 4-stage feature pyramid, as detection/segmentation use it): eval forward
under ``no_grad`` and a training forward+backward, timed after ``--warmup`` runs as the
median of ``--repeats``, for mmconvnext and, when importable, timm's
``convnext_<arch>(features_only=True)`` and mmpretrain's ``ConvNeXt``. The bound is the
fp32 matmul rate (median of 2048^3 ``torch.mm``) over the model's FLOPs (2 x the
multiply-adds mmengine's FlopAnalyzer counts): ``ours/bound`` is the fraction of the
matmul rate the whole backbone reaches.

``--whole-model`` also times training steps (forward, backward, AdamW step): the
backbone alone (the benchmark's batch and size) with and without ``with_cp``; UperNet-T
(512x512, batch 2) and Mask R-CNN-T (``--det-size``, batch 2) built from the project's
configs, once with mmconvnext's backbone and once with mmpretrain's, and UperNet-T
with ``with_cp=True``. Each case runs in a subprocess of its own so its
peak memory (the process's resident high-water mark above what it held before the
first step) is its own.
"""

import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from typing import Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:  # run from a source checkout
    sys.path.insert(0, ROOT)

from mmconvnext.analysis import dummy_batch, median_time, pyramid_backbone  # noqa: E402
from mmconvnext.device import cpu_name  # noqa: E402


# ---------------------------------------------------------------------------- timing
def matmul_gflops(warmup: int = 2, repeats: int = 10, n: int = 2048) -> dict[str, float]:
    """fp32 matmul rates (GFLOP/s, 2 n^3 per product) at the current threads: PyTorch's
    ``torch.mm`` (MKL) and oneDNN's (``torch.ops.mkldnn._linear_pointwise``), when built in."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    rates = {'torch.mm': 2 * n**3 / median_time(lambda: torch.mm(a, b), warmup, repeats) / 1e9}
    op = getattr(getattr(torch.ops, 'mkldnn', None), '_linear_pointwise', None)
    if op is not None and torch.backends.mkldnn.is_available():
        bt = b.t().contiguous()
        seconds = median_time(lambda: op(a, bt, None, 'none', [], 'none'), warmup, repeats)
        rates['onednn'] = 2 * n**3 / seconds / 1e9
    return rates


def backbone_gflops(model: torch.nn.Module, size: int) -> float:
    """FLOPs (2 x multiply-adds) of one image through ``model``, in GFLOP."""
    from mmengine.analysis import FlopAnalyzer

    analyzer = FlopAnalyzer(model.eval(), torch.randn(1, 3, size, size))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return 2 * analyzer.total() / 1e9


# ---------------------------------------------------------------------------- backbones
IMPLS = ('mmconvnext', 'mmconvnext-plain', 'timm', 'mmpretrain')
BF16 = 'mmconvnext-bf16-autocast'  # --bf16: a lever, not a default (not within 1e-4 of fp32)
COMPILE = 'mmconvnext-torch.compile'  # --compile: torch.compile (inductor) of the plain-op model


def build_backbone(impl: str, arch: str) -> torch.nn.Module:
    """``mmconvnext`` as shipped; ``mmconvnext-plain`` with ``onednn_cpu=False`` (the
    eager ops, for the record); the peers as detection/segmentation would use them.
    Under torch.compile the oneDNN path steps aside anyway (inductor fuses the plain ops)."""
    if impl.startswith('mmconvnext'):
        return pyramid_backbone('mmconvnext', arch, onednn_cpu=impl not in ('mmconvnext-plain', COMPILE))
    return pyramid_backbone(impl, arch)


def time_backbone(
    model: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int, bf16: bool = False, compile: bool = False
) -> dict[str, float]:
    """Eval forward (no grad) and training forward+backward rates; with ``compile`` the
    model runs through ``torch.compile`` and the first call of each mode (the compile,
    reported as ``compile_s``) is not timed."""
    model.eval()
    with torch.no_grad():
        reference = model(x)
    run = torch.compile(model) if compile else model
    compile_s = 0.0

    def forward():
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            return run(x)

    start = time.perf_counter()
    outs = forward()
    compile_s += time.perf_counter() - start
    error = max(((a - b.float()).abs().max() / a.abs().max()).item() for a, b in zip(reference, outs))

    fwd = median_time(forward, warmup, repeats)
    model.train()

    def forward_backward():
        model.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            outs = run(x)
        sum(o.float().mean() for o in outs).backward()

    if compile:  # the first call compiles the backward graph: timed apart
        start = time.perf_counter()
        forward_backward()
        compile_s += time.perf_counter() - start
    fwd_bwd = median_time(forward_backward, warmup, repeats)
    result = {'fwd_img_s': x.shape[0] / fwd, 'fwd_bwd_img_s': x.shape[0] / fwd_bwd, 'max_rel_err_vs_fp32': error}
    if compile:
        result['compile_s'] = compile_s
    return result


# ---------------------------------------------------------------------------- whole models
WHOLE_CASES = (
    'backbone/mmconvnext',
    'backbone/mmconvnext+with_cp',
    'upernet/mmconvnext',
    'upernet/mmpretrain',
    'upernet/mmconvnext+with_cp',
    'maskrcnn/mmconvnext',
    'maskrcnn/mmpretrain',
)


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def run_whole_case(
    case: str, det_size: list[int], warmup: int, repeats: int, batch: int = 8, size: int = 224, arch: str = 'tiny'
) -> dict[str, float]:
    """One training-step case, in this process (the parent runs each in a subprocess)."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm

    from mmconvnext.apis import build_model

    task, variant = case.split('/')
    if task == 'backbone':  # the backbone alone at the benchmark's batch and size
        from mmconvnext.models import ConvNeXt

        torch.manual_seed(0)
        model = ConvNeXt(
            arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, with_cp=variant.endswith('with_cp')
        ).train()
        x = torch.randn(batch, 3, size, size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def backbone_step():
            optimizer.zero_grad(set_to_none=True)
            sum(o.mean() for o in model(x)).backward()
            optimizer.step()

        before = _rss_bytes()
        seconds = median_time(backbone_step, warmup, repeats)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {'step_s': seconds, 'peak_mib': (peak - before) / 2**20, 'size': f'{size}x{size}', 'batch': batch}
    if task == 'upernet':
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'upernet_convnext_tiny_ade20k.py'))
        h, w = 512, 512
    else:
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mask_rcnn_convnext_tiny_coco_1x.py'))
        h, w = det_size
    backbone = cfg.model.backbone
    backbone.init_cfg = None
    if variant.startswith('mmpretrain'):
        import mmpretrain.models  # noqa: F401  (registers mmpretrain.ConvNeXt)

        cfg.model.backbone = dict(
            type='mmpretrain.ConvNeXt',
            arch='tiny',
            out_indices=[0, 1, 2, 3],
            drop_path_rate=backbone.drop_path_rate,
            layer_scale_init_value=1.0,
            gap_before_final_norm=False,
        )
    if variant.endswith('with_cp'):
        backbone.with_cp = True
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg))  # one process: plain BN
    model.init_weights()
    model.train()
    inputs, samples = dummy_batch('seg' if task == 'upernet' else 'det', 2, h, w, 150 if task == 'upernet' else 80)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        loss.backward()
        optimizer.step()

    before = _rss_bytes()
    seconds = median_time(step, warmup, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {'step_s': seconds, 'peak_mib': (peak - before) / 2**20, 'size': f'{h}x{w}', 'batch': 2}


# ---------------------------------------------------------------------------- report
def _child(options: list[str], env: Optional[dict] = None) -> Optional[dict]:
    """Run this tool on one case in a fresh process; its JSON line, or None (reported)."""
    run = subprocess.run(
        [sys.executable, osp.abspath(__file__), *options],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
    )
    if run.returncode != 0:
        print(
            f'[benchmark] {" ".join(options[:2])} failed (a peer not importable?):\n{run.stderr[-1500:]}',
            file=sys.stderr,
        )
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--no-peers', action='store_true', help='only mmconvnext (and the matmul bound)')
    parser.add_argument('--whole-model', action='store_true', help='also UperNet-T / Mask R-CNN-T training steps')
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
        '--compile',
        action='store_true',
        help='also time torch.compile of the plain-op model (the runner switch `compile=True`)',
    )
    parser.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='--whole-model: time every case this many times, interleaved (A B A B ...), and '
        'report the median round and the spread of the per-round ratios',
    )
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--case', help=argparse.SUPPRESS)  # internal: one whole-model case
    parser.add_argument('--impl', help=argparse.SUPPRESS)  # internal: one backbone
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.case:
        print(
            json.dumps(
                run_whole_case(args.case, args.det_size, args.warmup, args.repeats, args.batch, args.size, args.arch)
            )
        )
        return 0
    if args.impl:
        torch.manual_seed(0)
        model = build_backbone(args.impl, args.arch)
        x = torch.randn(args.batch, 3, args.size, args.size)
        print(
            json.dumps(
                time_backbone(model, x, args.warmup, args.repeats, bf16=args.impl == BF16, compile=args.impl == COMPILE)
            )
        )
        return 0

    results: dict = {
        'machine': {
            'cpu': cpu_name(),
            'threads': args.threads,
            'torch': torch.__version__,
            'date': time.strftime('%Y-%m-%d'),
        },
        'args': {k: v for k, v in vars(args).items() if k != 'case'},
    }
    rates = matmul_gflops()
    rate = rates['torch.mm']
    best = max(rates.values())
    results['machine']['matmul_gflops'] = rates
    from mmconvnext.models import ConvNeXt

    gflops = backbone_gflops(ConvNeXt(args.arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False), args.size)
    bound = rate / gflops
    # each implementation in a process of its own: one's thread pools do not slow another's ops
    backbone = {}
    for impl in (
        (IMPLS if not args.no_peers else IMPLS[:2])
        + ((BF16,) if args.bf16 else ())
        + ((COMPILE,) if args.compile else ())
    ):
        r = _child(
            [
                '--impl',
                impl,
                '--arch',
                args.arch,
                '--batch',
                str(args.batch),
                '--size',
                str(args.size),
                '--threads',
                str(args.threads),
                '--warmup',
                str(args.warmup),
                '--repeats',
                str(args.repeats),
            ]
        )
        if r is not None:
            backbone[impl] = r
    results['backbone'] = {
        'gflops_per_img': gflops,
        'bound_img_s': bound,
        'bound_best_img_s': best / gflops,
        'results': backbone,
    }

    print(
        f'\n{cpu_name()}, {args.threads} threads, torch {torch.__version__}; fp32 2048^3 matmul: '
        + ', '.join(f'{k} {v:.1f} GFLOP/s' for k, v in rates.items())
    )
    print(
        f'ConvNeXt-{args.arch} features, batch {args.batch}, {args.size}x{args.size}: {gflops:.2f} GFLOP/img; '
        f'bound {bound:.1f} img/s at the torch.mm rate, {best / gflops:.1f} at the best rate\n'
    )
    print(
        '| implementation | forward img/s | ours / it | of bound (torch.mm / best) | fwd+bwd img/s | ours / it '
        '| max rel. diff from its fp32 outputs |'
    )
    print('|---|---|---|---|---|---|---|')
    ours = backbone.get('mmconvnext')
    for name, r in backbone.items():
        vs = (lambda k, r=r: f'{ours[k] / r[k]:.3f}') if ours else (lambda k: '-')
        print(
            f'| {name} | {r["fwd_img_s"]:.2f} | {vs("fwd_img_s")} | '
            f'{r["fwd_img_s"] / bound:.1%} / {r["fwd_img_s"] / (best / gflops):.1%} | {r["fwd_bwd_img_s"]:.2f} | '
            f'{vs("fwd_bwd_img_s")} | {r["max_rel_err_vs_fp32"]:.1e} |'
        )

    if r_compile := backbone.get(COMPILE):
        print(f'\n{COMPILE}: compiling took {r_compile["compile_s"]:.1f} s (first forward + first forward/backward)')

    if args.whole_model:
        cases = [c for c in WHOLE_CASES if 'mmpretrain' not in c or 'mmpretrain' in backbone]
        times: dict[str, list[float]] = {c: [] for c in cases}
        whole = {}
        # rounds interleave the cases (A B C A B C ...): a slow spell of the machine then
        # touches every case instead of one, and the per-round ratios show the spread
        for _ in range(max(1, args.rounds)):
            for case in cases:
                common = [
                    '--case',
                    case,
                    '--threads',
                    str(args.threads),
                    '--det-size',
                    *map(str, args.det_size),
                    '--batch',
                    str(args.batch),
                    '--size',
                    str(args.size),
                    '--arch',
                    args.arch,
                ]
                r = _child(common + ['--warmup', '1', '--repeats', str(max(3, args.repeats // 2))])
                if r is None:
                    continue
                times[case].append(r['step_s'])
                if case not in whole:
                    # memory in a second process of one step, with glibc returning every block of
                    # 64 KiB or more to the system at once, so the resident high-water mark is the
                    # peak of live tensors, not of the allocator's cache (slower: not for timing)
                    m = _child(common + ['--warmup', '0', '--repeats', '1'], env={'MALLOC_MMAP_THRESHOLD_': '65536'})
                    whole[case] = dict(r, peak_mib=m['peak_mib'] if m else float('nan'))
        for case, r in whole.items():
            r['step_s'] = statistics.median(times[case])
            r['rounds_step_s'] = times[case]
        results['whole_model'] = whole
        print('\n| training step (fwd, bwd, AdamW) | batch | size | s / step | peak MiB | note |')
        print('|---|---|---|---|---|---|')
        for case, r in whole.items():
            task = case.split('/')[0]
            base = whole.get(f'{task}/mmconvnext')
            other = whole.get(f'{task}/mmpretrain')
            note = ''
            if case == f'{task}/mmpretrain' and base:
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
            elif other is None and case == f'{task}/mmconvnext':
                note = '(no peer)'
            print(f'| {case} | {r["batch"]} | {r["size"]} | {r["step_s"]:.2f} | {r["peak_mib"]:.0f} | {note} |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
