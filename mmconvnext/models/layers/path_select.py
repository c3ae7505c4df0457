"""Per-machine choice between the plain eager pointwise layers and the oneDNN ones, by measurement,
made before a run and recorded with it.

Why measure: which fp32 matmul is faster depends on the CPU. On the AMD EPYC machines
here oneDNN's reached ~430 GFLOP/s against MKL's ~190 (so the oneDNN path doubled the
blocks' speed); on an Intel Xeon with AVX-512 MKL's reached ~327 against oneDNN's ~294,
and the oneDNN path made training slower than the plain ops. No rule on CPU flags
predicts that reliably, so for a backbone left at ``onednn_cpu='auto'`` (the default) both
implementations of a block's pointwise layers are timed on each shape the run uses
(``_measure``) and the faster is kept. oneDNN must win by ``_MARGIN`` (ties go to the plain
ops), so the automatic choice is not slower than the plain path beyond the measurement noise.

When: never inside ``forward``. The choices form the process's *plan* (shape -> kernel), filled
before the model runs by :func:`tune` / :func:`tune_model` -- which the runner's
:class:`mmconvnext.engine.ComputePathHook` calls on the first batch's shape, the benchmark tools on
theirs, ``tools/analysis/tune_cpu.py`` for a config -- or by :func:`use_record` from a run's record
(a checkpoint's ``meta['compute_paths']``, a work dir's ``compute_paths.json``). ``forward`` only
looks the plan up: a shape without a choice takes the choice of the nearest row count planned for
the same layer and kind, else the plain ops (logged once). :func:`record` is what a run saves, so a
resumed run (or one started ``load_from`` it) continues on the same kernels, bit for bit, even on a
machine whose cache is empty.

Measurements are cached in a JSON file per machine (CPU model, thread count, torch version) in
``$MMCONVNEXT_CACHE_DIR`` or the user's cache directory (``$XDG_CACHE_HOME/mmconvnext``, else
``~/.cache/mmconvnext``), never in the work tree, and :func:`tune` reads it before measuring.
Writes merge under a file lock and replace the file atomically, so concurrent processes (DDP
ranks, parallel jobs) do not lose each other's entries; an unreadable file is ignored with a
warning and rewritten. ``MMCONVNEXT_CPU_PATH=onednn|plain`` forces a path for every backbone left at
``'auto'``; ``onednn_cpu=True|False`` forces it for one; neither measures.

Status: the choice is made per block shape from kernel timings; it is the default since it was
measured on the Intel Xeon (AVX-512, 2 cores; docs/benchmarks.md) where the uniform oneDNN path
trained 0.78-0.80x as fast as the plain ops: there ``'auto'`` chose the plain ops for every
training shape and oneDNN for the inference shapes with the most rows (stages 1-2), and trained
1.27-1.32x as fast as the oneDNN path (1.02-1.06x the plain one) while inferring 1.13x as fast
as the plain ops (ConvNeXt-T, batch 8, 224). On a 2-core AMD EPYC with AVX2 only, with the
earlier, noisier measurement (the median of 3 calls), it matched the oneDNN path in inference
but, in one of two runs, trained 0.88x as fast as either uniform path (run-to-run noise there
was 10-30%); the new default has not been measured on an AMD EPYC yet.

The depthwise convs are a second choice of the same plan: aten's (oneDNN's) kernels or mmconvnext's
compiled ones (:mod:`.depthwise_kernel`), separately for the forward (inference and training), the input
gradient and the weight gradient, timed per map shape (``dw:h=H:w=W:c=C:k=K:d=D``;
:func:`prefers_dw_kernel`). The kernel must win by the same margin. The machine a choice is made for
includes the compiled kernels' version and instruction set (:func:`depthwise_kernel.build_id`), so a new
kernel version or a missing extension chooses anew. ``MMCONVNEXT_CPU_PATH=onednn`` (``onednn_cpu=True``) takes every
hand-written kernel (oneDNN's pointwise layers, the three depthwise passes), ``plain`` none.

Written by hand: neither PyTorch nor mmengine selects eager kernels per shape (inductor's
autotuning does, but only inside ``torch.compile``).
"""

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import os.path as osp
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from mmconvnext.device import cpu_name

from . import depthwise_kernel, onednn

__all__ = [
    'MODES',
    'cache_file',
    'collect',
    'describe',
    'effective_mode',
    'format_table',
    'parse_mode',
    'prefers_dw_kernel',
    'prefers_onednn',
    'record',
    'reset',
    'shapes_asked',
    'tune',
    'tune_model',
    'use_record',
]

#: ``onednn_cpu`` values, normalised: measure, force oneDNN, force the plain ops
MODES = ('auto', 'onednn', 'plain')
ENV_PATH = 'MMCONVNEXT_CPU_PATH'
ENV_CACHE = 'MMCONVNEXT_CACHE_DIR'
#: rows of the measurement: the call's rows rounded up to a power of two, at most this many
#: (per-row cost is flat well before it; the cap bounds the one-off cost at large inputs)
_MAX_ROWS = 8192
#: oneDNN is chosen only when it takes less than this fraction of the plain ops' time
_MARGIN = 0.97
_WARMUP = 2
_REPEATS = 5

_lock = threading.Lock()
_plan: dict[str, dict] = {}  # key -> {'onednn': bool, 'plain_ms', 'onednn_ms'}: what forward follows
_used: set[str] = set()  # the planned keys forward looked up
_collecting: list[set] = []  # the sets of asked shapes being collected (:func:`collect`)
_warned: set[str] = set()


def parse_mode(value: Union[bool, str]) -> str:
    """``onednn_cpu`` as one of :data:`MODES` (``True`` forces oneDNN, ``False`` the plain ops)."""
    if value is True:
        return 'onednn'
    if value is False:
        return 'plain'
    if value in MODES:
        return value
    raise ValueError(f'onednn_cpu must be True, False or one of {MODES}, got {value!r}')


def effective_mode(mode: str) -> str:
    """``mode``, with ``$MMCONVNEXT_CPU_PATH`` deciding for ``'auto'``."""
    if mode != 'auto':
        return mode
    forced = os.environ.get(ENV_PATH, 'auto').strip().lower() or 'auto'
    if forced not in MODES:
        raise ValueError(f'${ENV_PATH} must be one of {MODES}, got {forced!r}')
    return forced


def _machine() -> dict[str, Union[str, int]]:
    return {
        'cpu': cpu_name(),
        'threads': torch.get_num_threads(),
        'torch': str(torch.__version__),
        'kernels': depthwise_kernel.build_id(),
    }


def cache_file() -> str:
    """The cache file of this machine (CPU model, current thread count, torch version)."""
    root = os.environ.get(ENV_CACHE) or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache'), 'mmconvnext'
    )
    return _cache_file(root, torch.get_num_threads())


@functools.cache
def _cache_file(root: str, threads: int) -> str:
    """Memoised per cache root and thread count (the parts of the key that can change in a process)."""
    digest = hashlib.sha1(json.dumps(_machine(), sort_keys=True).encode()).hexdigest()[:12]
    return osp.join(root, f'compute_paths-{digest}.json')


def _warn_once(key: str, message: str, level: int = logging.WARNING) -> None:
    if key not in _warned:
        _warned.add(key)
        print_log(message, logger='current', level=level)


def _read(path: str) -> dict[str, dict]:
    """The choices stored in ``path``; empty (with a warning) when it is unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
        choices = data['choices']
        if not isinstance(choices, dict) or not all(_valid(k, e) for k, e in choices.items()):
            raise ValueError('entries are not {"onednn": bool, ...} / {"input": bool, "weight": bool, ...} objects')
        return choices
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as e:
        _warn_once(path, f'mmconvnext: ignoring the unreadable compute-path cache {path} ({e}); it is rewritten')
        return {}


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    with open(path + '.lock', 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: str, key: str, entry: dict) -> None:
    """Add ``key`` to the file: merged with what other processes wrote, replaced atomically."""
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        with _file_lock(path):
            choices = _read(path)
            choices[key] = entry
            fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), prefix='.compute_paths-', suffix='.tmp')
            with os.fdopen(fd, 'w') as f:
                json.dump({'machine': _machine(), 'choices': choices}, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
    except OSError as e:
        _warn_once(
            path + ':write',
            f'mmconvnext: cannot write the compute-path cache {path} ({e}); choices are kept for this process only',
        )


def _time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _measure(kind: str, rows: int, channels: int, hidden: int) -> tuple[float, float]:
    """Milliseconds of (plain, oneDNN) for a block's pointwise layers on ``rows`` x ``channels``
    inputs: inference (no grad; oneDNN fused with GELU, layer scale and the residual) or
    training (forward and backward); the fastest of ``_REPEATS`` interleaved calls after
    ``_WARMUP`` (about 5 s for ConvNeXt-T's 8 shapes on 2 cores of the Intel Xeon). The
    median of 3 after one warm-up was too noisy there: in 4 fresh processes it picked 3
    different sets of training paths (oneDNN/plain time ratios 0.90-1.44 for one shape);
    this choice gave the same set in 4 of 4 (ratios within +-0.04, except one shape's
    1.06-1.33, always the same side). Random operands from a private generator, so the
    caller's random stream is untouched."""
    gen = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.1

    x, shortcut = rand(rows, channels), rand(rows, channels)
    w1, b1, w2, b2, gamma = rand(hidden, channels), rand(hidden), rand(channels, hidden), rand(channels), rand(channels)
    if kind == 'infer':

        def plain() -> torch.Tensor:
            return shortcut + F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2) * gamma

        def fast() -> torch.Tensor:
            h = onednn.linear_gelu(x, w1, b1)
            return onednn.linear_add(h, w2 * gamma[:, None], b2 * gamma, shortcut)

        context = torch.no_grad()
    else:
        for t in (x, w1, b1, w2, b2):
            t.requires_grad_(True)
        grad = rand(rows, channels)

        def plain() -> None:
            (shortcut + F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2) * gamma).backward(grad)

        def fast() -> None:
            (shortcut + onednn.linear(F.gelu(onednn.linear(x, w1, b1)), w2, b2) * gamma).backward(grad)

        context = torch.enable_grad()
    with context:
        for _ in range(_WARMUP):  # first-call allocations, oneDNN primitive creation, thread pools
            plain(), fast()
        t_plain, t_fast = [], []
        for _ in range(_REPEATS):  # interleaved, so a drift in clock speed or load hits both
            t_plain.append(_time_ms(plain))
            t_fast.append(_time_ms(fast))
    # the fastest call of each: interference on a shared machine only ever adds time
    return min(t_plain), min(t_fast)


def _measure_dw(n: int, h: int, w: int, channels: int, k: int, d: int) -> dict:
    """Milliseconds of the forward, the input gradient and the weight gradient of a depthwise conv (``k`` x
    ``k``, dilation ``d``, "same" padding) on an (n, channels, h, w) channels-last map, by aten and by the
    compiled kernels; timed like :func:`_measure` (interleaved, the fastest of ``_REPEATS`` after ``_WARMUP``)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, channels, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(n, channels, h, w, generator=gen).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(channels, 1, k, k, generator=gen) * 0.1
    ops = {
        'aten_forward': functools.partial(F.conv2d, x, weight, None, 1, d * (k // 2), d, channels),
        'kernel_forward': functools.partial(depthwise_kernel.forward, x, weight, None, d),
        'aten_input': functools.partial(depthwise_kernel.aten_grads, grad, x, weight, d, True, False),
        'kernel_input': functools.partial(depthwise_kernel.input_grad, grad, weight, d),
        'aten_weight': functools.partial(depthwise_kernel.aten_grads, grad, x, weight, d, False, True),
        'kernel_weight': functools.partial(depthwise_kernel.weight_grad, x, grad, k, d),
    }
    with torch.no_grad():
        for _ in range(_WARMUP):
            for op in ops.values():
                op()
        times: dict[str, list] = {name: [] for name in ops}
        for _ in range(_REPEATS):
            for name, op in ops.items():
                times[name].append(_time_ms(op))
    ms = {name: round(min(t), 3) for name, t in times.items()}
    return {p: ms[f'kernel_{p}'] < _MARGIN * ms[f'aten_{p}'] for p in _DW_PASSES} | {'ms': ms}


_KEY = re.compile(r'^(train|infer):rows=(\d+):c=(\d+):h=(\d+)$')
_DW_KEY = re.compile(r'^dw:h=(\d+):w=(\d+):c=(\d+):k=(\d+):d=(\d+)$')
#: the depthwise passes a choice covers (a record without ``forward`` ran aten's forward)
_DW_PASSES = ('forward', 'input', 'weight')


def _valid(key: str, entry: object) -> bool:
    """Whether ``entry`` is a choice of the kind ``key`` names."""
    if not isinstance(entry, dict):
        return False
    if _DW_KEY.match(key):
        return (
            isinstance(entry.get('input'), bool)
            and isinstance(entry.get('weight'), bool)
            and isinstance(entry.get('forward', False), bool)
        )
    return _KEY.match(key) is not None and isinstance(entry.get('onednn'), bool)


def _dw_key(h: int, w: int, channels: int, k: int, d: int) -> str:
    return f'dw:h={h}:w={w}:c={channels}:k={k}:d={d}'


def _dw_batch(n: int, h: int, w: int) -> int:
    """The batch a depthwise choice is timed at: the call's, at most ``_MAX_ROWS`` positions (both
    implementations cost about the same per row once rows fill the threads)."""
    return max(1, min(n, _MAX_ROWS // max(h * w, 1)))


def _nearest_dw(h: int, w: int, channels: int, k: int, d: int) -> Optional[str]:
    """The planned depthwise key of the same layer (channels, kernel, dilation) whose map area is nearest
    ``h * w`` (in powers of two; the larger on a tie), or None."""
    best = None
    for key in _plan:
        m = _DW_KEY.match(key)
        if m and (int(m[3]), int(m[4]), int(m[5])) == (channels, k, d):
            area = int(m[1]) * int(m[2])
            rank = (abs(area.bit_length() - (h * w).bit_length()), -area)
            if best is None or rank < best[0]:
                best = rank, key
    return None if best is None else best[1]


def prefers_dw_kernel(mode: str, n: int, h: int, w: int, channels: int, k: int, d: int) -> tuple[bool, bool, bool]:
    """Whether a block in ``mode`` computes its depthwise conv's (forward, input gradient, weight gradient)
    with the compiled kernels, for an (n, channels, h, w) map, a ``k`` x ``k`` kernel of dilation ``d``. Call
    only where :func:`depthwise_kernel.available` holds. ``'auto'`` follows the plan as :func:`prefers_onednn`
    does (a map without a choice takes the nearest planned one, else aten)."""
    mode = effective_mode(mode)
    if mode != 'auto':
        return (mode == 'onednn',) * 3
    with _lock:
        if _collecting:
            _collecting[-1].add(('dw', n, h, w, channels, k, d))
            return False, False, False
        key = _dw_key(h, w, channels, k, d)
        planned = key if key in _plan else _nearest_dw(h, w, channels, k, d)
        if planned is None:
            _warn_once(
                'unplanned:' + key,
                f'mmconvnext compute path: no choice was made for {key} before the run; aten runs it '
                '(choose before running: mmconvnext.engine.ComputePathHook, path_select.tune_model or '
                'tools/analysis/tune_cpu.py)',
                level=logging.INFO,
            )
            return False, False, False
        _used.add(planned)
        return tuple(_plan[planned][p] for p in _DW_PASSES)


def _key(kind: str, rows: int, channels: int, hidden: int) -> tuple[str, int]:
    bucket = min(_MAX_ROWS, 1 << max(rows - 1, 0).bit_length())
    return f'{kind}:rows={bucket}:c={channels}:h={hidden}', bucket


def _nearest(kind: str, bucket: int, channels: int, hidden: int) -> Optional[str]:
    """The planned key of the same layer and kind whose row bucket is nearest ``bucket`` (in
    powers of two; the larger on a tie), or None."""
    best = None
    for key in _plan:
        m = _KEY.match(key)
        if m and m[1] == kind and int(m[3]) == channels and int(m[4]) == hidden:
            rank = (abs(int(m[2]).bit_length() - bucket.bit_length()), -int(m[2]))
            if best is None or rank < best[0]:
                best = rank, key
    return None if best is None else best[1]


def prefers_onednn(mode: str, kind: str, rows: int, channels: int, hidden: int) -> bool:
    """Whether a block in ``mode`` (:func:`parse_mode`) runs its pointwise layers on oneDNN for a
    call of ``rows`` positions (N*H*W) of ``channels`` -> ``hidden`` -> ``channels``, ``kind``
    ``'infer'`` (no gradient through them) or ``'train'``. Call only where
    :func:`onednn.available` holds. ``'auto'`` follows the plan (module docstring); it never
    measures: a shape without a planned choice takes the nearest planned one, else the plain ops."""
    mode = effective_mode(mode)
    if mode != 'auto':
        return mode == 'onednn'
    with _lock:
        if _collecting:
            _collecting[-1].add((kind, rows, channels, hidden))
            return False
        key, bucket = _key(kind, rows, channels, hidden)
        planned = key if key in _plan else _nearest(kind, bucket, channels, hidden)
        if planned is None:
            _warn_once(
                'unplanned:' + key,
                f'mmconvnext compute path: no choice was made for {key} before the run; the plain ops run it '
                '(choose before running: mmconvnext.engine.ComputePathHook, path_select.tune_model or '
                'tools/analysis/tune_cpu.py)',
                level=logging.INFO,
            )
            return False
        _used.add(planned)
        return _plan[planned]['onednn']


@contextlib.contextmanager
def collect() -> Iterator[set]:
    """Within the block, blocks left at ``'auto'`` take the plain ops and add what they would ask,
    ``(kind, rows, channels, hidden)``, to the yielded set (nothing is measured or planned)."""
    asked: set = set()
    with _lock:
        _collecting.append(asked)
    try:
        yield asked
    finally:
        with _lock:
            _collecting.remove(asked)


def tune(asked, measure: bool = True, log: bool = True) -> dict[str, dict]:
    """Plan a choice for each ``(kind, rows, channels, hidden)`` of ``asked`` whose shape bucket has
    none yet: from this machine's cache file, else measured (with ``measure``) and written there.
    Logs the new choices (with ``log``), as a table. Returns the plan's entries for ``asked``'s keys, each with
    its ``source`` (``'planned'`` for one already there)."""
    keys = sorted({_asked_key(a) for a in asked})
    dw_batch = {}  # dw key -> the batch to time it at (the largest asked)
    for a in asked:
        if a[0] == 'dw':
            key = _asked_key(a)
            dw_batch[key] = max(dw_batch.get(key, 1), _dw_batch(*a[1:4]))
    table = {}
    with _lock:
        path = cache_file()
        cached = None
        for key in keys:
            if key in _plan:
                table[key] = dict(_plan[key], source='planned')
                continue
            if cached is None:
                cached = _read(path)
            entry, source = cached.get(key), 'cached'
            if entry is None:
                if not measure or (key in dw_batch and not depthwise_kernel.built()):
                    continue
                if key in dw_batch:
                    h, w, channels, k, d = (int(v) for v in _DW_KEY.match(key).groups())
                    entry = _measure_dw(dw_batch[key], h, w, channels, k, d)
                else:
                    kind, bucket, channels, hidden = _parse(key)
                    t_plain, t_fast = _measure(kind, bucket, channels, hidden)
                    entry = {
                        'onednn': t_fast < _MARGIN * t_plain,
                        'plain_ms': round(t_plain, 3),
                        'onednn_ms': round(t_fast, 3),
                    }
                _write(path, key, entry)
                source = 'measured'
            _plan[key] = _entry(key, entry)
            table[key] = dict(_plan[key], source=source)
    new = {k: e for k, e in table.items() if e['source'] != 'planned'}
    if new and log:
        print_log(format_table(new, f'chosen ({path})'), logger='current')
    return table


def _parse(key: str) -> tuple[str, int, int, int]:
    m = _KEY.match(key)
    if m is None:
        raise ValueError(f'not a compute-path key: {key!r} (expected "train|infer:rows=R:c=C:h=H")')
    return m[1], int(m[2]), int(m[3]), int(m[4])


def _asked_key(asked: tuple) -> str:
    """The plan's key for an asked shape: ``(kind, rows, channels, hidden)`` of the pointwise layers or
    ``('dw', n, h, w, channels, k, d)`` of a depthwise conv."""
    if asked[0] == 'dw':
        return _dw_key(*asked[2:])
    return _key(*asked)[0]


def _entry(key: str, entry: dict) -> dict:
    if _DW_KEY.match(key):
        return {p: bool(entry.get(p, False)) for p in _DW_PASSES} | {'ms': entry.get('ms')}
    return {'onednn': bool(entry['onednn']), 'plain_ms': entry.get('plain_ms'), 'onednn_ms': entry.get('onednn_ms')}


def format_table(entries: dict[str, dict], how: str) -> str:
    """``entries`` (key -> entry with ``source``) as the table the log and ``tune_cpu`` print."""
    machine = _machine()
    lines = [
        f'mmconvnext compute paths ({machine["cpu"]}, {machine["threads"]} threads, torch {machine["torch"]}), {how}:',
        f'{"shape":<34} {"kernel":<9} {"plain ms":>9} {"oneDNN ms":>10}  from',
    ]
    depthwise = []
    for key, e in sorted(entries.items()):
        if 'onednn' not in e:
            depthwise.append((key, e))
            continue
        kernel = 'oneDNN' if e['onednn'] else 'plain'
        lines.append(
            f'{key:<34} {kernel:<9} {e.get("plain_ms")!s:>9} {e.get("onednn_ms")!s:>10}  {e.get("source", "")}'
        )
    if depthwise:  # the depthwise convs' passes: aten or the compiled kernel, ms of each
        lines.append(
            f'{"depthwise conv":<34} {"forward":<8} {"input":<8} {"weight":<8} aten/kernel ms (forward; input; weight)'
        )
        for key, e in depthwise:
            ms = e.get('ms') or {}
            which = ''.join(f'{"kernel" if e[p] else "aten":<9}' for p in _DW_PASSES)
            times = '; '.join(f'{ms.get(f"aten_{p}")}/{ms.get(f"kernel_{p}")}' for p in _DW_PASSES)
            lines.append(f'{key:<34} {which}{times}  {e.get("source", "")}')
    return '\n'.join(lines)


def _owners(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The outermost modules of ``model`` that choose a CPU path (the backbones: a ``cpu_path``
    attribute and blocks inside)."""
    owners, seen = [], []
    for name, module in model.named_modules():
        if any(name.startswith(p + '.') for p in seen) or not hasattr(module, 'cpu_path'):
            continue
        if any(hasattr(m, 'cpu_path') for m in module.modules() if m is not module):
            owners.append(module)
            seen.append(name)
    return owners


def shapes_asked(model: torch.nn.Module, shape, train: bool) -> set:
    """What a CPU run of ``model``'s backbones left at ``'auto'`` on inputs of ``shape`` (N, C, H, W)
    asks the plan (``train``: with gradients, as in training; else inference): ``(kind, rows,
    channels, hidden)`` tuples, read from one forward of each backbone at batch 1 under
    :func:`collect` (eval mode, the random generators untouched) and scaled to ``N``. Measures nothing."""
    n, *rest = (int(v) for v in shape)
    asked: set = set()
    for owner in _owners(model):
        param = next(owner.parameters(), None)
        if effective_mode(owner.cpu_path) != 'auto' or (param is not None and param.device.type != 'cpu'):
            continue
        modes = [(m, m.training) for m in owner.modules()]
        owner.eval()
        try:
            with torch.random.fork_rng(devices=[]), collect() as got, torch.set_grad_enabled(train):
                owner(torch.zeros(1, *rest))
        finally:
            for m, mode in modes:
                m.training = mode
        asked |= {(a[0], a[1] * n, *a[2:]) for a in got}  # rows (pointwise) or the batch (depthwise) x n
    return asked


def tune_model(model: torch.nn.Module, shape, train: bool, measure: bool = True, log: bool = True) -> dict[str, dict]:
    """:func:`tune` for what ``model`` asks on inputs of ``shape`` (:func:`shapes_asked`); {} where no
    backbone leaves the choice to the machine."""
    return tune(shapes_asked(model, shape, train), measure=measure, log=log)


def record() -> dict:
    """The plan as a run saves it (JSON, ``torch.load(weights_only=True)``-safe): the machine and the
    choices, for :func:`use_record`."""
    with _lock:
        return {'machine': _machine(), 'choices': {k: dict(e) for k, e in sorted(_plan.items())}}


def use_record(rec: dict, origin: str, check_machine: bool = True) -> bool:
    """Follow the choices of ``rec`` (:func:`record`, from ``origin``: a checkpoint, a file) from now
    on, over any planned for the same shapes. Refused, with a warning, when it was made on another
    machine (CPU model, threads, torch), unless not ``check_machine``. Returns whether it was used."""
    if not isinstance(rec, dict) or not isinstance(rec.get('choices'), dict):
        raise ValueError(f'{origin}: a compute-path record is {{"machine": ..., "choices": {{...}}}}, got {rec!r:.200}')
    if check_machine and rec.get('machine') != _machine():
        _warn_once(
            'record:' + origin,
            f'mmconvnext compute path: not following the choices recorded in {origin}: they were made on '
            f'{rec.get("machine")}, this is {_machine()}; this machine chooses its own',
        )
        return False
    entries = {}
    for key, entry in rec['choices'].items():
        if not isinstance(key, str) or (_KEY.match(key) is None and _DW_KEY.match(key) is None):
            raise ValueError(
                f'{origin}: {key!r} is not a compute-path shape ("train|infer:rows=R:c=C:h=H" or '
                '"dw:h=H:w=W:c=C:k=K:d=D")'
            )
        if not _valid(key, entry):
            raise ValueError(
                f'{origin}: compute-path choice {key} is not {{"onednn": bool, ...}} ({{"input": bool, "weight": '
                f'bool, ...}} for a depthwise conv): {entry!r}'
            )
        entries[key] = _entry(key, entry)
    with _lock:
        _plan.update(entries)
    if entries:
        print_log(
            format_table({k: dict(e, source='recorded') for k, e in entries.items()}, f'recorded in {origin}'),
            logger='current',
        )
    return True


def describe() -> str:
    """The choices this process followed, one short line (for benchmark reports)."""
    mode = effective_mode('auto')
    if mode != 'auto':
        return f'forced by ${ENV_PATH}={mode}'
    with _lock:
        used = sorted(_used)
        if not used:
            return 'auto (no planned choice used yet)'
        return 'auto: ' + ', '.join(f'{k} -> {_chosen(_plan[k])}' for k in used)


def _chosen(entry: dict) -> str:
    if 'onednn' in entry:
        return 'oneDNN' if entry['onednn'] else 'plain'
    return '/'.join(f'{p} {"kernel" if entry[p] else "aten"}' for p in _DW_PASSES)


def reset() -> None:
    """Forget the plan and the log state (tests; a changed cache directory)."""
    with _lock:
        _plan.clear()
        _used.clear()
        _warned.clear()
