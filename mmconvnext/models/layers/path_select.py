"""Per-machine choice between the plain eager pointwise layers and the oneDNN ones, by measurement.

Why measure: which fp32 matmul is faster depends on the CPU. On the AMD EPYC machines
here oneDNN's reached ~430 GFLOP/s against MKL's ~190 (so the oneDNN path doubled the
blocks' speed); on an Intel Xeon with AVX-512 MKL's reached ~327 against oneDNN's ~294,
and the oneDNN path made training slower than the plain ops. No rule on CPU flags
predicts that reliably, so with ``onednn_cpu='auto'`` (the default) the first call of a
block shape in a mode (inference or training) on a machine times both implementations of
the block's pointwise layers on that shape (``_measure``) and keeps the faster. oneDNN
must win by ``_MARGIN`` (ties go to the plain ops), so the automatic choice is not slower
than the plain path beyond the measurement noise.

Choices are cached in memory and in a JSON file per machine (CPU model, thread count,
torch version) in ``$MMCONVNEXT_CACHE_DIR`` or the user's cache directory
(``$XDG_CACHE_HOME/mmconvnext``, else ``~/.cache/mmconvnext``), never in the work tree.
Writes merge under a file lock and replace the file atomically, so concurrent processes
(DDP ranks, parallel jobs) do not lose each other's entries; an unreadable file is
ignored with a warning and rewritten. ``MMCONVNEXT_CPU_PATH=onednn|plain`` forces a path
for every backbone left at ``'auto'``; ``onednn_cpu=True|False`` forces it for one.

Status: the choice is made per block shape from kernel timings; it is the default since it was
measured on the Intel Xeon (AVX-512, 2 cores; docs/benchmarks.md) where the uniform oneDNN path
trained 0.78-0.80x as fast as the plain ops: there ``'auto'`` chose the plain ops for every
training shape and oneDNN for the inference shapes with the most rows (stages 1-2), and trained
1.27-1.32x as fast as the oneDNN path (1.02-1.06x the plain one) while inferring 1.13x as fast
as the plain ops (ConvNeXt-T, batch 8, 224). On a 2-core AMD EPYC with AVX2 only, with the
earlier, noisier measurement (the median of 3 calls), it matched the oneDNN path in inference
but, in one of two runs, trained 0.88x as fast as either uniform path (run-to-run noise there
was 10-30%); the new default has not been measured on an AMD EPYC yet.

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
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Callable, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from mmconvnext.device import cpu_name

from . import onednn

__all__ = ['MODES', 'cache_file', 'describe', 'effective_mode', 'parse_mode', 'prefers_onednn', 'reset']

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
_choices: dict[str, dict[str, dict]] = {}  # machine file -> key -> entry
_logged: set[tuple[str, str]] = set()
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
    return {'cpu': cpu_name(), 'threads': torch.get_num_threads(), 'torch': torch.__version__}


def cache_file() -> str:
    """The cache file of this machine (CPU model, current thread count, torch version)."""
    root = os.environ.get(ENV_CACHE) or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.join(osp.expanduser('~'), '.cache'), 'mmconvnext'
    )
    return _cache_file(root, torch.get_num_threads())


@functools.cache
def _cache_file(root: str, threads: int) -> str:
    """Memoised per cache root and thread count (the parts of the key that can change in a
    process): :func:`prefers_onednn` asks on every block call."""
    digest = hashlib.sha1(json.dumps(_machine(), sort_keys=True).encode()).hexdigest()[:12]
    return osp.join(root, f'compute_paths-{digest}.json')


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        print_log(message, logger='current', level=logging.WARNING)


def _read(path: str) -> dict[str, dict]:
    """The choices stored in ``path``; empty (with a warning) when it is unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
        choices = data['choices']
        if not isinstance(choices, dict) or not all(
            isinstance(e, dict) and isinstance(e.get('onednn'), bool) for e in choices.values()
        ):
            raise ValueError('entries are not {"onednn": bool, ...} objects')
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


def _key(kind: str, rows: int, channels: int, hidden: int) -> tuple[str, int]:
    bucket = min(_MAX_ROWS, 1 << max(rows - 1, 0).bit_length())
    return f'{kind}:rows={bucket}:c={channels}:h={hidden}', bucket


def prefers_onednn(mode: str, kind: str, rows: int, channels: int, hidden: int) -> bool:
    """Whether a block in ``mode`` (:func:`parse_mode`) runs its pointwise layers on oneDNN for a
    call of ``rows`` positions (N*H*W) of ``channels`` -> ``hidden`` -> ``channels``, ``kind``
    ``'infer'`` (no gradient through them) or ``'train'``. Call only where
    :func:`onednn.available` holds. ``'auto'`` measures once per machine and shape bucket."""
    mode = effective_mode(mode)
    if mode != 'auto':
        return mode == 'onednn'
    path = cache_file()
    key, bucket = _key(kind, rows, channels, hidden)
    with _lock:
        choices = _choices.get(path)
        if choices is None:
            choices = _choices[path] = _read(path)
        entry = choices.get(key)
        measured = entry is None
        if measured:
            t_plain, t_fast = _measure(kind, bucket, channels, hidden)
            entry = {'onednn': t_fast < _MARGIN * t_plain, 'plain_ms': round(t_plain, 3), 'onednn_ms': round(t_fast, 3)}
            choices[key] = entry
            _write(path, key, entry)
        if (path, key) not in _logged:
            _logged.add((path, key))
            how = 'measured' if measured else f'cached in {path}'
            print_log(
                f'mmconvnext compute path ({cpu_name()}, {torch.get_num_threads()} threads) {key}: '
                f'{"oneDNN" if entry["onednn"] else "plain ops"} (plain {entry.get("plain_ms")} ms, '
                f'oneDNN {entry.get("onednn_ms")} ms; {how})',
                logger='current',
            )
        return entry['onednn']


def describe() -> str:
    """The choices this process made or read, one short line (for benchmark reports)."""
    mode = effective_mode('auto')
    if mode != 'auto':
        return f'forced by ${ENV_PATH}={mode}'
    path = cache_file()
    choices = _choices.get(path, {})
    used = [k for (p, k) in sorted(_logged) if p == path and k in choices]
    if not used:
        return 'auto (no block measured yet)'
    return 'auto: ' + ', '.join(f'{k} -> {"oneDNN" if choices[k]["onednn"] else "plain"}' for k in used)


def reset() -> None:
    """Forget the in-memory choices and log state (tests; a changed cache directory)."""
    with _lock:
        _choices.clear()
        _logged.clear()
        _warned.clear()
