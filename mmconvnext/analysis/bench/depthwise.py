"""The depthwise-conv kernels alone (``benchmark.py --depthwise``): forward, input gradient and weight gradient of
each stage's 7x7 depthwise conv of a ConvNeXt at the benchmark's batch and size, by aten (oneDNN) and by
mmconvnext's compiled kernels (:mod:`mmconvnext.models.layers.depthwise_kernel`, the instruction set
:func:`~mmconvnext.models.layers.depthwise_kernel.isa` names), in milliseconds and GFLOP/s
(2 x K^2 x N x H x W x C per pass), and as a fraction of the machine's fp32 FMA rate measured by ``torch.mm``
(MKL's matmul runs at the FMA units' limit). Interleaved: each round times every variant once."""

import functools
from typing import Callable

import torch
import torch.nn.functional as F

from mmconvnext.analysis.timing import median_time
from mmconvnext.models.backbones.convnext import ARCH_SETTINGS
from mmconvnext.models.layers import depthwise_kernel

__all__ = ['depthwise_rows', 'time_depthwise']

PASSES = ('forward', 'input grad', 'weight grad')


def _variants(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor, k: int) -> dict[str, Callable]:
    channels, pad = x.shape[1], k // 2
    aten = functools.partial(depthwise_kernel.aten_grads, grad, x, weight, 1)
    return {
        'aten forward': lambda: F.conv2d(x, weight, None, padding=pad, groups=channels),
        'kernel forward': lambda: depthwise_kernel.forward(x, weight, None, 1),
        'aten input grad': lambda: aten(True, False),
        'kernel input grad': lambda: depthwise_kernel.input_grad(grad, weight, 1),
        'aten weight grad': lambda: aten(False, True),
        'kernel weight grad': lambda: depthwise_kernel.weight_grad(x, grad, k, 1),
    }


def time_depthwise(arch: str, batch: int, size: int, warmup: int, repeats: int, rounds: int) -> list[dict]:
    """Per stage: its map, channels and, per variant, the median over ``rounds`` of the median time (s)."""
    if not depthwise_kernel.built():
        raise RuntimeError(f'--depthwise: {depthwise_kernel.why_not_built()}')
    stages = []
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i, channels in enumerate(ARCH_SETTINGS[arch]['channels']):
            hw = size // (4 * 2**i)
            x = torch.randn(batch, channels, hw, hw, generator=gen).contiguous(memory_format=torch.channels_last)
            grad = torch.randn(batch, channels, hw, hw, generator=gen).contiguous(memory_format=torch.channels_last)
            weight = torch.randn(channels, 1, 7, 7, generator=gen) * 0.1
            variants = _variants(x, grad, weight, 7)
            times: dict[str, list] = {name: [] for name in variants}
            for _ in range(rounds):
                for name, fn in variants.items():
                    times[name].append(median_time(fn, warmup, repeats))
            stages.append(
                dict(
                    stage=i + 1,
                    map=hw,
                    channels=channels,
                    gflop=2 * 49 * batch * hw * hw * channels / 1e9,
                    seconds={n: sorted(t)[len(t) // 2] for n, t in times.items()},
                )
            )
    return stages


def depthwise_rows(stages: list[dict], fma_gflops: float) -> list[list[str]]:
    """Table rows: stage, then per pass aten and kernel ms (GFLOP/s, % of the FMA rate) and the speed-up."""
    rows = []
    for s in stages:
        row = [f'{s["stage"]} ({s["map"]}x{s["map"]}, {s["channels"]})']
        for p in PASSES:
            aten, kernel = s['seconds'][f'aten {p}'], s['seconds'][f'kernel {p}']
            for t in (aten, kernel):
                rate = s['gflop'] / t
                row.append(f'{t * 1e3:.2f} ms, {rate:.1f} GF/s ({rate / fma_gflops:.1%})')
            row.append(f'{aten / kernel:.2f}x')
        rows.append(row)
    return rows
