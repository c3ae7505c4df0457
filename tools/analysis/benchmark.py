"""Speed (and memory) of mmconvnext's ConvNeXt against the implementations users would
pick instead, or deploy instead, and against the machine's matmul rate, in one run.

    python tools/analysis/benchmark.py [--arch tiny] [--batch 8] [--size 224] [--threads 2]
                                       [--repeats 10] [--warmup 3] [--no-peers] [--no-compile]
                                       [--impls NAME ...] [--whole-model] [--whole-cases CASE ...] [--rounds N]
                                       [--det-size H W] [--bf16] [--compile] [--json FILE] [--results FILE]
    # with the peers (timm, mmpretrain) importable:
    PYTHONPATH=.peers:tools/peers/stub python tools/analysis/benchmark.py   (make bench)
    # the deployment peers are optional packages: pip install -e .[deploy]

It prints the CPU model, the package versions, the compute path mmconvnext's backbone
chose, and every ratio against mmconvnext's eager default from the one run.

Backbone (the 4-stage feature pyramid, as detection/segmentation use it): eval forward
under ``no_grad`` and a training forward+backward, timed after ``--warmup`` runs as the
median of ``--repeats``, for mmconvnext and, when importable, timm's
``convnext_<arch>(features_only=True)`` and mmpretrain's ``ConvNeXt``. What a user would
deploy instead (inference only): mmconvnext's backbone exported to ONNX once
(:func:`mmconvnext.deploy.export_onnx`, outputs checked within 1e-4 of PyTorch's) on
onnxruntime (CPU) and OpenVINO (CPU, fp32, LATENCY hint), ``--threads`` threads each; and
``torch.compile`` (inductor, freezing under ``no_grad``) of timm's model and of
mmconvnext's. A row whose package is absent, or whose compile fails here, is skipped with
one line saying why. ``--rounds N`` repeats the rows interleaved (A B C A B C ...). The
bound is the fp32 matmul rate (median of 2048^3 ``torch.mm``) over the model's FLOPs (2 x
the multiply-adds mmengine's FlopAnalyzer counts): ``ours/bound`` is the fraction of the
matmul rate the whole backbone reaches.

``--whole-model`` also times training steps (forward, backward, AdamW step): the
backbone alone (the benchmark's batch and size) with and without ``with_cp``; UperNet-T
(512x512, batch 2) and Mask R-CNN-T (``--det-size``, batch 2) built from the project's
configs, once with mmconvnext's backbone and once with mmpretrain's, UperNet-T
with ``with_cp=True``, and the segmentation demo's training iteration (its config's model,
optimizer and batch of 8 x 128x128), in seconds per iteration as ``tools/demo.py`` reports
them. Each case runs in a subprocess of its own so its
peak memory (the process's resident high-water mark above what it held before the
first step) is its own.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional

import torch

from mmconvnext.analysis import (
    dummy_batch,
    median_time,
    pyramid_backbone,
)
from mmconvnext.analysis.results import markdown_table, results_meta, table_results, tool_command
from mmconvnext.deploy import OPSET, TOLERANCE, BackendGraph, export_onnx, relative_error
from mmconvnext.device import cpu_name
from mmconvnext.models.layers import path_select

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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
#: mmconvnext forced onto oneDNN (``onednn_cpu=True``), beside the shipped per-machine choice and the plain ops
ONEDNN = 'mmconvnext-onednn'
IMPLS = ('mmconvnext', 'mmconvnext-plain', ONEDNN, 'timm', 'mmpretrain')
BF16 = 'mmconvnext-bf16-autocast'  # --bf16: a lever, not a default (not within 1e-4 of fp32)
COMPILE = 'mmconvnext-torch.compile'  # torch.compile (inductor, freezing) of the plain-op model
TIMM_COMPILE = 'timm-torch.compile'  # what a user compiling timm's model would get
#: mmconvnext's backbone exported to ONNX once and run by these runtimes (inference only)
DEPLOY = ('onnxruntime', 'openvino')
COMPILED = (TIMM_COMPILE, COMPILE)
#: every row the table can have, in table order
ALL_IMPLS = IMPLS + DEPLOY + COMPILED + (BF16,)
#: what each row imports beyond torch and mmconvnext: a row whose package is absent is skipped
REQUIRES = {
    'timm': ('timm',),
    'mmpretrain': ('mmpretrain',),
    'onnxruntime': ('onnx', 'onnxruntime'),
    'openvino': ('onnx', 'openvino'),
    TIMM_COMPILE: ('timm',),
}
#: the packages whose versions a report names (absent ones are named so)
VERSIONED = ('torch', 'onnx', 'onnxruntime', 'openvino', 'timm', 'mmpretrain')


def missing_packages(impl: str) -> Optional[str]:
    """Why ``impl`` cannot run here (its first absent package), or None: the parent asks
    before starting a process for it, so an optional peer costs nothing where absent."""
    for name in REQUIRES.get(impl, ()):
        if importlib.util.find_spec(name) is None:
            return f'{name} is not installed'
    return None


def package_version(name: str) -> str:
    """``name``'s installed version, or ``'absent'``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return 'absent'


def build_backbone(impl: str, arch: str) -> torch.nn.Module:
    """``mmconvnext`` as shipped (its default compute path: the per-machine choice,
    ``onednn_cpu='auto'``, chosen by :func:`time_backbone` before it times, from the machine's cache
    or measured, unless forced by ``$MMCONVNEXT_CPU_PATH``); ``mmconvnext-plain`` with ``onednn_cpu=False`` (the eager
    ops) and ``mmconvnext-onednn`` with ``onednn_cpu=True``, for the record; the peers as detection/segmentation
    would use them. The deployed rows export the shipped model (tracing takes the plain ops).
    Under torch.compile the oneDNN path steps aside anyway (inductor fuses the plain ops)."""
    if impl in ('mmconvnext-plain', COMPILE):
        return pyramid_backbone('mmconvnext', arch, onednn_cpu=False)
    if impl == ONEDNN:
        return pyramid_backbone('mmconvnext', arch, onednn_cpu=True)
    if impl.startswith('mmconvnext') or impl in DEPLOY:
        return pyramid_backbone('mmconvnext', arch)
    return pyramid_backbone('timm' if impl == TIMM_COMPILE else impl, arch)


def chosen_path(model: torch.nn.Module) -> str:
    """The compute path mmconvnext's backbone took in this process, for the report: the
    path selection's own ``describe()`` where the package has one (it knows what it measured
    or was forced to) and the model leaves the choice to it; else the model's setting."""
    from mmconvnext.models import layers

    mode = getattr(model, 'cpu_path', None)
    if mode is None:  # a package without per-machine selection
        return f'onednn_cpu={getattr(model, "onednn_cpu", None)!r}'
    if mode != 'auto':
        return f'forced by the model: cpu_path={mode!r}'
    for module in ('compute_path', 'path_select'):
        describe = getattr(getattr(layers, module, None), 'describe', None)
        if callable(describe):
            return describe()
    return f'cpu_path={mode!r}'


def time_backbone(
    model: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int, bf16: bool = False, compile: bool = False
) -> dict[str, float]:
    """Eval forward (no grad) and training forward+backward rates; with ``compile`` the
    model runs through ``torch.compile`` (inductor, with freezing for the no-grad forward,
    which folds the weights in as constants and prepacks them, as a deployment would) and
    the first call of each mode (the compile, reported as ``compile_s``) is not timed."""
    model.eval()
    for train in (False, True):  # the kernels of the shipped default, chosen before timing as a run does
        path_select.tune_model(model, x.shape, train=train)
    with torch.no_grad():
        reference = model(x)
    if compile:
        from torch._dynamo.utils import counters
        from torch._inductor import config as inductor_config

        inductor_config.freezing = True  # applies to graphs compiled under no_grad only
    run = torch.compile(model) if compile else model
    compile_s = 0.0

    def forward():
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            return run(x)

    start = time.perf_counter()
    outs = forward()
    compile_s += time.perf_counter() - start
    error = relative_error(reference, outs)

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
        # graph breaks split the model into several graphs (and guards may recompile them): a
        # count above 0 says the compiled row runs partly eager
        result['graph_breaks'] = sum(counters['graph_break'].values())
    return result


def deployed_runner(runtime: str, path: str, threads: int):
    """A callable running the ONNX file at ``path`` on ``runtime`` (CPU, ``threads`` intra-op threads, fp32) on
    one input and returning its outputs, in order: :class:`mmconvnext.deploy.BackendGraph`, what
    ``tools/test.py --backend`` and ``tools/deployment/infer.py`` run."""
    return BackendGraph(path, runtime, output_shapes=[], threads=threads)


def time_deployed(
    runtime: str, model: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int, threads: int
) -> dict[str, float]:
    """Inference rate of mmconvnext's backbone exported to ONNX and run on ``runtime``, as a
    user deploying it would; a skip (``{'skipped': why}``) where the export's outputs are not
    within the export's own tolerance (:data:`mmconvnext.deploy.TOLERANCE`, relative) of
    PyTorch's, since a fast wrong model is no peer."""
    model.eval()
    with torch.no_grad():
        reference = model(x)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = export_onnx(model, x, osp.join(tmp, 'backbone.onnx'))
        export_s = time.perf_counter() - start
        run = deployed_runner(runtime, path, threads)
        outs = run(x)
        error = relative_error(reference, outs)  # the export's own parity measure and tolerance
        if error > TOLERANCE:
            return {'skipped': f'its outputs differ from PyTorch by {error:.1e} relative > {TOLERANCE:.0e}'}
        seconds = median_time(lambda: run(x), warmup, repeats)
    return {
        'fwd_img_s': x.shape[0] / seconds,
        'max_rel_err_vs_fp32': error,
        'export_s': export_s,
    }


def run_impl(impl: str, arch: str, batch: int, size: int, warmup: int, repeats: int, threads: int) -> dict:
    """One row, in this process (the parent runs each in a subprocess): its rates, or
    ``{'skipped': why}`` where a package is missing or compiling fails on this machine."""
    if reason := missing_packages(impl):
        return {'skipped': reason}
    torch.manual_seed(0)
    model = build_backbone(impl, arch)
    x = torch.randn(batch, 3, size, size)
    if impl in DEPLOY:
        return time_deployed(impl, model, x, warmup, repeats, threads)
    try:
        result = time_backbone(model, x, warmup, repeats, bf16=impl == BF16, compile=impl in COMPILED)
    except Exception as error:
        if impl not in COMPILED:
            raise
        first_line = (str(error).strip().splitlines() or [''])[0][:300]
        return {'skipped': f'torch.compile failed here: {type(error).__name__}: {first_line}'}
    if impl.startswith('mmconvnext'):
        result['path'] = chosen_path(model)
    return result


# ---------------------------------------------------------------------------- whole models
#: the segmentation demo's training iteration (tools/demo.py, `make demo`): its config's model, optimizer
#: (AdamW with layer decay) and batch (8 x 128x128), without the data loading the demo's s/iter also holds
DEMO_CASE = 'seg-demo/mmconvnext'
DEMO_CONFIG = 'configs/upernet_convnext_atto_shapes_demo.py'
WHOLE_CASES = (
    'backbone/mmconvnext',
    'backbone/mmconvnext+with_cp',
    'upernet/mmconvnext',
    'upernet/mmpretrain',
    'upernet/mmconvnext+with_cp',
    'maskrcnn/mmconvnext',
    'maskrcnn/mmpretrain',
    DEMO_CASE,
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
    if case == DEMO_CASE:
        return run_demo_step(warmup, repeats)
    if task == 'backbone':  # the backbone alone at the benchmark's batch and size
        from mmconvnext.models import ConvNeXt

        torch.manual_seed(0)
        model = ConvNeXt(
            arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, with_cp=variant.endswith('with_cp')
        ).train()
        x = torch.randn(batch, 3, size, size)
        path_select.tune_model(model, x.shape, train=True)
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
    path_select.tune_model(model, (2, 3, h, w), train=True)
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


def run_demo_step(warmup: int, repeats: int) -> dict[str, float]:
    """Seconds per training iteration of the segmentation demo's model as ``tools/demo.py``
    trains it (its config's model and optimizer wrapper, a synthetic batch of its shape), so
    a reader can set the demo's printed s/iter beside it: the difference is data loading."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from mmconvnext.apis import build_model

    cfg = Config.fromfile(osp.join(ROOT, DEMO_CONFIG))
    batch = cfg.train_dataloader.batch_size
    h, w = cfg.crop_size
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg))  # as the runner does outside distributed training
    model.init_weights()
    model.train()
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    inputs, samples = dummy_batch('seg', batch, h, w, cfg.num_classes)
    path_select.tune_model(model, (batch, 3, h, w), train=True)

    def step():
        losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        wrapper.update_params(loss)  # backward, step, zero_grad: the runner's train_step

    before = _rss_bytes()
    seconds = median_time(step, warmup, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {'step_s': seconds, 'peak_mib': (peak - before) / 2**20, 'size': f'{h}x{w}', 'batch': batch}


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
    parser.add_argument('--json', help='also write the raw numbers here')
    parser.add_argument(
        '--results', metavar='FILE', help='write the tables, with command, machine, versions, date and commit'
    )
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
        print(
            json.dumps(run_impl(args.impl, args.arch, args.batch, args.size, args.warmup, args.repeats, args.threads))
        )
        return 0

    versions = {name: package_version(name) for name in VERSIONED}
    results: dict = {
        'machine': {
            'cpu': cpu_name(),
            'threads': args.threads,
            'torch': torch.__version__,
            'versions': versions,
            'date': time.strftime('%Y-%m-%d'),
        },
        'args': {k: v for k, v in vars(args).items() if k != 'case'},
    }
    rates = matmul_gflops(n=args.matmul_size)
    rate = rates['torch.mm']
    best = max(rates.values())
    results['machine']['matmul_gflops'] = rates
    from mmconvnext.models import ConvNeXt

    gflops = backbone_gflops(ConvNeXt(args.arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False), args.size)
    bound = rate / gflops
    if args.impls:
        impls = list(dict.fromkeys(args.impls))
    elif args.no_peers:
        impls = list(IMPLS[:2]) + ([COMPILE] if args.compile else [])
    else:
        impls = [i for i in IMPLS + DEPLOY + COMPILED if not (args.no_compile and i in COMPILED)]
    if args.bf16 and BF16 not in impls:
        impls.append(BF16)
    skipped = {}
    for impl in impls:
        if reason := missing_packages(impl):
            skipped[impl] = reason
    # each implementation in a process of its own: one's thread pools do not slow another's ops;
    # rounds interleave them (A B C A B C ...), so a slow spell of the machine touches every row
    rounds: dict[str, list[dict]] = {impl: [] for impl in impls if impl not in skipped}
    for _ in range(max(1, args.rounds)):
        for impl in [i for i in rounds if i not in skipped]:
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
    notes = [
        f'ConvNeXt-{args.arch} features, batch {args.batch}, {args.size}x{args.size}, {gflops:.2f} GFLOP/img; '
        f'fp32 matmul {", ".join(f"{k} {v:.1f}" for k, v in rates.items())} GFLOP/s; '
        + ', '.join(f'{impl} path {r["path"]}' for impl, r in backbone.items() if 'path' in r)
        + (f'; median of {args.rounds} interleaved rounds' if args.rounds > 1 else '')
    ]
    tables = {}
    if ours and args.rounds > 1:
        print('\nper-round forward ratios (mmconvnext / it):')
        for name, r in backbone.items():
            if name != 'mmconvnext':
                per_round = [o / t for o, t in zip(ours['rounds_fwd_img_s'], r['rounds_fwd_img_s'])]
                print(f'  {name}: {", ".join(f"{q:.3f}" for q in per_round)}')

    for name in COMPILED:
        if r_compile := backbone.get(name):
            print(
                f'\n{name}: compiling took {r_compile["compile_s"]:.1f} s (first forward + first forward/backward), '
                f'{r_compile["graph_breaks"]} graph break(s)'
            )

    if args.whole_model:
        cases = args.whole_cases or [c for c in WHOLE_CASES if 'mmpretrain' not in c or 'mmpretrain' in backbone]
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
        whole_rows = []
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
            elif case == DEMO_CASE:
                note = f"{DEMO_CONFIG}: compare tools/demo.py's s/iter (which adds data loading)"
            elif other is None and case == f'{task}/mmconvnext':
                note = '(no peer)'
            whole_rows.append([case, r['batch'], r['size'], f'{r["step_s"]:.2f}', f'{r["peak_mib"]:.0f}', note])
        whole_columns = ['training step (fwd, bwd, AdamW)', 'batch', 'size', 's / step', 'peak MiB', 'note']
        print('\n' + '\n'.join(markdown_table(whole_columns, whole_rows)))
        tables['whole_model'] = (whole_columns, whole_rows)
        if demo := whole.get(DEMO_CASE):
            print(
                f'\nsegmentation demo ({DEMO_CONFIG}, batch {demo["batch"]}, {demo["size"]}): '
                f'{demo["step_s"]:.3f} s per training iteration (model only; tools/demo.py prints its own s/iter)'
            )
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    if args.results:
        meta = results_meta(tool_command('tools/analysis/benchmark.py', argv), args.threads)
        table_results(args.results, meta, columns, rows, notes, tables, data=results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
