"""What the tools and the training parts need to know about the machine they run on."""

import functools
import platform

import torch

__all__ = ['cpu_features', 'cpu_has_native_bf16', 'cpu_name']


@functools.cache
def _cpuinfo(key: str) -> str:
    """The first ``key : value`` line's value in ``/proc/cpuinfo`` ('' off Linux or if absent)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                name, sep, value = line.partition(':')
                if sep and name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return ''


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for every number a tool records."""
    return _cpuinfo('model name') or platform.processor() or 'unknown CPU'


#: the instruction-set extensions that decide which kernels are fast, in the order a results file lists them
SPEED_FEATURES = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_bf16', 'amx_int8')


def cpu_features() -> list[str]:
    """Those of :data:`SPEED_FEATURES` this CPU has (``/proc/cpuinfo``; empty off Linux), for every number a tool
    records: the same model name has been seen with and without AVX-512."""
    flags = frozenset(_cpuinfo('flags').split())
    return [f for f in SPEED_FEATURES if f in flags]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 products natively (AVX512-BF16 or AMX-BF16).
    Without them oneDNN emulates bf16 matmuls through fp32 and converts on every
    load and store, so bf16 autocast saves memory but may not save time."""
    flags = frozenset(_cpuinfo('flags').split())
    if flags:
        return bool({'avx512_bf16', 'amx_bf16'} & flags)
    cpu = getattr(torch._C, '_cpu', None)  # not Linux: ask torch's own cpuinfo
    probes = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(getattr(cpu, p, lambda: False)() for p in probes)
