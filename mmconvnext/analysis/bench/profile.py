"""Where the time goes (``benchmark.py --profile``): ``torch.profiler`` over training steps (forward+backward) and
inference forwards (eval, no grad) of each eager backbone row (mmconvnext as shipped, the plain ops, timm,
mmpretrain), the operators' self CPU time summed into groups (matmuls, depthwise convs, GELU, LayerNorm, copies,
...) as a share of the step. Each row runs in a process of its own, after the same warm-up as the timed rows; the
step times are the profiled steps' wall time (the profiler adds a little to each).

mmconvnext's compiled depthwise kernels are not aten operators; they are recorded under
``mmconvnext::depthwise_*`` names (:mod:`mmconvnext.models.layers.depthwise_kernel`)."""

import re
import time

import torch

from mmconvnext.models.layers import path_select

from .backbone import build_backbone, missing_packages

__all__ = ['GROUPS', 'profile_impl', 'profile_rows']

#: (group, pattern on the operator's name): the first match takes the operator's self time
GROUPS = (
    ('matmuls (mm, addmm, oneDNN linear)', r'^aten::(mm|addmm|bmm|_addmm_activation)$|^mkldnn::_linear_pointwise'),
    ('depthwise conv, mmconvnext kernels', r'^mmconvnext::depthwise'),
    ('convolution_backward (aten/oneDNN)', r'^aten::convolution_backward$'),
    ('convolution forward (aten/oneDNN)', r'^aten::(mkldnn_convolution|_convolution|convolution|conv2d)$'),
    ('GELU forward + backward', r'gelu'),
    ('LayerNorm forward + backward', r'layer_norm'),
    ('copies (copy_, clone, contiguous)', r'^aten::(copy_|clone|contiguous|_to_copy|to)$'),
    ('elementwise (add, mul, sum, ...)', r'^aten::(add|add_|mul|mul_|sum|div|div_|sub|neg|fill_|zero_|mean)$'),
)


def profile_impl(impl: str, arch: str, batch: int, size: int, warmup: int, steps: int) -> dict:
    """For one row, per kind (``train``, ``infer``): self CPU milliseconds per step of each group (and ``other``)
    and the wall time per profiled step; ``{'skipped': why}`` where its package is missing."""
    if reason := missing_packages(impl):
        return {'skipped': reason}
    torch.manual_seed(0)
    model = build_backbone(impl, arch)
    x = torch.randn(batch, 3, size, size)
    for train in (False, True):  # the shipped default's kernels, chosen before running (as the timed rows)
        path_select.tune_model(model, x.shape, train=train)

    def train_step():
        model.train()
        model.zero_grad(set_to_none=True)
        sum(o.mean() for o in model(x)).backward()

    def infer_step():
        model.eval()
        with torch.no_grad():
            model(x)

    return {'train': _profile(train_step, warmup, steps), 'infer': _profile(infer_step, warmup, steps)}


def _profile(step, warmup: int, steps: int) -> dict:
    for _ in range(warmup):
        step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall = (time.perf_counter() - start) / steps
    groups = {name: 0.0 for name, _ in GROUPS} | {'other': 0.0}
    for event in prof.key_averages():
        name = next((g for g, pattern in GROUPS if re.search(pattern, event.key)), 'other')
        groups[name] += event.self_cpu_time_total / 1e3 / steps
    return {'step_ms': wall * 1e3, 'self_ms': groups}


def profile_rows(results: dict[str, dict], kind: str) -> tuple[list[str], list[list[str]]]:
    """The table of ``kind`` (``'train'`` or ``'infer'``): a row per group, a column per implementation (share of
    the summed self time, ms per step)."""
    impls = [name for name, r in results.items() if kind in r]
    columns = ['share of the step'] + [f'{name} ({results[name][kind]["step_ms"]:.0f} ms / step)' for name in impls]
    rows = []
    for group in [g for g, _ in GROUPS] + ['other']:
        row = [group]
        for name in impls:
            ms = results[name][kind]['self_ms']
            row.append(f'{ms[group] / sum(ms.values()):.1%} ({ms[group]:.0f} ms)')
        rows.append(row)
    return columns, rows
