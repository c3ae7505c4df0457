"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints, and the official
ConvNeXt trainers', inside :func:`safe_loading` (the allow-list is passed at load time, not installed at
import).

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7 runner
checkpoints (what ``--resume`` and ``load_from`` read) hold a few non-tensor objects:
the message hub's ``HistoryBuffer`` objects, their numpy arrays and scalars, and the
buffer's statistics functions, which pickle refers to as ``getattr(HistoryBuffer,
'mean')``. The official ConvNeXt / ConvNeXt-V2 training scripts save their command
line as an ``argparse.Namespace`` beside the weights (``'args'``): a plain attribute
holder, restored by setting attributes. Rather than turning ``weights_only`` off, which
would execute whatever a file asks for, exactly those are allow-listed; ``getattr``
itself is not: the name ``builtins.getattr`` resolves to :func:`history_buffer_statistic`,
which hands out HistoryBuffer's statistics methods and refuses everything else.
"""

import argparse
import contextlib
import pickle
from collections.abc import Iterator

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(obj, name: str):
    """The only ``getattr`` a checkpoint may call: a statistics method of HistoryBuffer."""
    allowed = set(_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if (obj is HistoryBuffer or type(obj) is HistoryBuffer) and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({type(obj).__name__}, {name!r}); only HistoryBuffer '
        f'statistics {sorted(allowed)} are allowed'
    )


def _numpy_globals() -> list:
    # numpy 2 moved multiarray under numpy._core; a pickle names whichever wrote it.
    found = [np.ndarray, np.dtype]
    for module_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            module = __import__(module_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        found += [(module._reconstruct, f'{module_name}._reconstruct'), (module.scalar, f'{module_name}.scalar')]
    # the dtype classes whose instances get their state restored (BUILD) on load
    found += [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)]
    return found


MMENGINE_SAFE_GLOBALS = [
    HistoryBuffer,
    argparse.Namespace,
    (history_buffer_statistic, 'builtins.getattr'),
    *_numpy_globals(),
]


@contextlib.contextmanager
def safe_loading() -> Iterator[None]:
    """Inside: ``torch.load(weights_only=True)`` also accepts :data:`MMENGINE_SAFE_GLOBALS`; outside, torch's
    allow-list is as it was (``torch.serialization.safe_globals``, the context form of the allow-list). What
    the checkpoint reader, the resumable-checkpoint checks and :class:`ResumableRunner`'s loads run in."""
    with torch.serialization.safe_globals(MMENGINE_SAFE_GLOBALS):
        yield


def register_safe_globals() -> None:
    """Allow-list :data:`MMENGINE_SAFE_GLOBALS` for ``torch.load(weights_only=True)`` for the rest of the
    process (idempotent): for code of your own that calls ``torch.load`` on mmengine checkpoints. Nothing in
    mmconvnext calls it; its loads use :func:`safe_loading`."""
    torch.serialization.add_safe_globals(MMENGINE_SAFE_GLOBALS)
