"""The backbone rows of the benchmark: mmconvnext as shipped (and forced onto each CPU path), the peers a user
would pick instead (timm, mmpretrain), what a user would deploy instead (the ONNX export on onnxruntime and
OpenVINO) and ``torch.compile``; and the bound (the machine's fp32 matmul rate over the model's FLOPs). Each row
is timed in a process of its own (:mod:`.worker`)."""

import importlib.metadata
import importlib.util
import os.path as osp
import tempfile
import time
from typing import Optional

import torch

from mmconvnext.analysis.backbones import pyramid_backbone
from mmconvnext.analysis.timing import median_time
from mmconvnext.deploy import TOLERANCE, BackendGraph, export_onnx, relative_error
from mmconvnext.models.layers import path_select

__all__ = [
    'ALL_IMPLS',
    'BF16',
    'COMPILE',
    'COMPILED',
    'DEPLOY',
    'IMPLS',
    'ONEDNN',
    'TIMM_COMPILE',
    'VERSIONED',
    'backbone_gflops',
    'build_backbone',
    'chosen_path',
    'matmul_gflops',
    'missing_packages',
    'package_version',
    'run_impl',
    'time_backbone',
    'time_deployed',
]


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
