"""Timing that reads the work a device did, not the time it took to queue it."""

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ['median_time', 'synchronize']


def synchronize(device: torch.device) -> None:
    """Wait for ``device``'s queued kernels (a no-op on a CPU), so a timer reads the work."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], object], warmup: int, repeats: int, device: str = 'cpu') -> float:
    """Median wall time of ``fn`` in seconds over ``repeats`` calls after ``warmup`` ones."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
