"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7 runner
checkpoints (what ``--resume`` and ``load_from`` read) hold a few non-tensor objects:
the message hub's ``HistoryBuffer`` with its numpy arrays. Rather than turning
``weights_only`` off, which would execute whatever a file asks for, exactly those
classes are allow-listed; a file that asks for anything else is still refused.
"""
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _numpy_globals() -> list:
    # numpy 2 moved multiarray under numpy._core; pickles name whichever wrote them.
    found = [np.ndarray, np.dtype]
    for module_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            module = __import__(module_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        found += [(module._reconstruct, f'{module_name}._reconstruct'), (module.scalar, f'{module_name}.scalar')]
    # dtype classes of the arrays/scalars mmengine stores (float/int/bool histories, seeds)
    found += [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)]
    return found


MMENGINE_SAFE_GLOBALS = [HistoryBuffer, *_numpy_globals()]


def register_safe_globals() -> None:
    """Allow-list :data:`MMENGINE_SAFE_GLOBALS` for ``torch.load(weights_only=True)``
    (idempotent)."""
    torch.serialization.add_safe_globals(MMENGINE_SAFE_GLOBALS)
