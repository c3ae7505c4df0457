"""A ready GPU check: the mixed-precision training path at real sizes and the backbone's
speed against the peers, in one command and one table (at most ~8 minutes on one GPU).

    python tools/analysis/gpu_check.py [--out FILE.md] [--json FILE] [--results FILE] [--max-minutes 8]
    PYTHONPATH=.peers:tools/peers/stub python tools/analysis/gpu_check.py   # with timm / mmpretrain
    python tools/analysis/gpu_check.py --smoke    # tiny sizes on the CPU, bf16 (the test suite runs this)

(a) Training steps through the real configs and the real ``--amp`` switch
    (:func:`mmconvnext.apis.enable_amp`: mmengine's ``AmpOptimWrapper``, fp16 with a
    dynamic loss scale, on a GPU; bf16 autocast on a CPU), ``model.train_step`` as the
    runner calls it: UperNet-T (2 x 512x512), Mask R-CNN-T (2 x 800x1333) and the
    classifier (ConvNeXt-T, 128 x 224x224, its RandAugment/Erasing/Mixup/CutMix
    preprocessor on the GPU), each with and without ``with_cp`` and channels_last
    memory: median seconds per step, peak memory, the last loss (must be finite).
(b) Backbone throughput (ConvNeXt-T pyramid, batch 64 at 224): forward (no grad) and
    forward+backward img/s in fp32 and under autocast, contiguous and channels_last, for
    mmconvnext and, where importable, timm and mmpretrain; peak memory.
(c) One markdown table (``--out`` writes it too), headed by the device, torch and date.

Exit status 1 when a loss or an output is not finite. Cases past ``--max-minutes`` are
skipped and listed as such, so the command stays within a lent GPU's time.
"""

import argparse
import json
import math
import os.path as osp
import sys
import time
from typing import Optional

import torch

from mmconvnext.analysis import PEERS, dummy_batch, fit_heads, median_time, pyramid_backbone
from mmconvnext.analysis.results import markdown_table
from mmconvnext.device import cpu_name

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: (batch, height, width) of each training case and of the backbone benchmark
FULL = dict(
    arch='tiny',
    seg=(2, 512, 512),
    det=(2, 800, 1333),
    cls=(128, 224, 224),
    backbone=(64, 224, 224),
    warmup=3,
    repeats=10,
)
SMOKE = dict(arch='atto', seg=(2, 64, 64), det=(2, 96, 128), cls=(4, 32, 32), backbone=(2, 64, 64), warmup=0, repeats=1)
CONFIGS = {
    'seg': 'upernet_convnext_tiny_ade20k.py',
    'det': 'mask_rcnn_convnext_tiny_coco_1x.py',
    'cls': 'convnext_tiny_in1k.py',
}
NAMES = {'seg': 'UperNet', 'det': 'Mask R-CNN', 'cls': 'classifier'}


def _peak_mib(device: str) -> Optional[float]:
    return torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else None


def _reset_peak(device: str) -> None:
    if device == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def build_task(task: str, arch: str, with_cp: bool, smoke: bool, device: str):
    """The config's model (arch swapped, no pretrained weights) on ``device`` and the
    optimizer wrapper ``--amp`` gives it there."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from mmconvnext.apis import build_model, enable_amp
    from mmconvnext.models import ConvNeXt

    cfg = Config.fromfile(f'{ROOT}/configs/{CONFIGS[task]}')
    cfg.model.backbone.update(arch=arch, init_cfg=None, with_cp=with_cp)
    fit_heads(cfg.model, list(ConvNeXt.arch_settings[arch]['channels']), width=16 if smoke else None)
    if smoke and task == 'seg':
        cfg.model.data_preprocessor.size = SMOKE['seg'][1:]
    if task == 'cls':
        cfg.model.num_classes = 1000
    enable_amp(cfg, device)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg))  # one process: plain BN
    model.init_weights()
    model.to(device)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, wrapper


def time_train_step(model, wrapper, data: dict, s: dict, device: str) -> dict:
    """``model.train_step`` as the runner calls it: median seconds, peak memory, losses."""
    losses = []

    def step():
        losses.append(float(model.train_step(dict(data), wrapper)['loss']))

    _reset_peak(device)
    seconds = median_time(step, s['warmup'], s['repeats'], device)
    return dict(
        value=seconds,
        unit='s/step',
        peak_mib=_peak_mib(device),
        loss=losses[-1],
        finite=all(math.isfinite(v) for v in losses),
    )


def training_cases(s: dict, smoke: bool, device: str, deadline: float) -> list[dict]:
    rows = []
    for task in ('seg', 'det', 'cls'):
        batch, h, w = s[task]
        for with_cp in (False, True):
            if time.time() > deadline:
                rows.append(dict(kind='train', what=NAMES[task], with_cp=with_cp, skipped='time budget'))
                continue
            model, wrapper = build_task(task, s['arch'], with_cp, smoke, device)
            model.train()
            precision = f'amp {wrapper.cast_dtype or torch.float16}'.replace('torch.', '')
            for channels_last in (False, True):
                if channels_last:
                    model.to(memory_format=torch.channels_last)
                classes = {'seg': 150, 'det': 80, 'cls': 1000}[task]
                inputs, samples = dummy_batch(task, batch, h, w, num_classes=classes, device=device)
                result = time_train_step(model, wrapper, dict(inputs=inputs, data_samples=samples), s, device)
                rows.append(
                    dict(
                        kind='train',
                        what=NAMES[task],
                        with_cp=with_cp,
                        channels_last=channels_last,
                        precision=precision,
                        shape=f'{batch}x{h}x{w}',
                        **result,
                    )
                )
                print(f'[gpu_check] {rows[-1]}', flush=True)
    return rows


def time_backbone(
    model: torch.nn.Module, x: torch.Tensor, mode: str, amp_dtype: Optional[torch.dtype], s: dict, device: str
) -> dict:
    """Forward (no grad) or forward+backward img/s of ``model`` on ``x``, under autocast
    to ``amp_dtype`` unless it is None; peak memory; whether the outputs are finite."""
    outs = []

    def run():
        with torch.autocast(device, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            if mode == 'fwd':
                model.eval()  # (mmpretrain's train() returns None: no chaining)
                with torch.no_grad():
                    outs[:] = model(x)
                return
            model.train()
            model.zero_grad(set_to_none=True)
            outs[:] = model(x)
        sum(o.float().mean() for o in outs).backward()

    _reset_peak(device)
    seconds = median_time(run, s['warmup'], s['repeats'], device)
    return dict(
        value=x.shape[0] / seconds,
        unit='img/s',
        peak_mib=_peak_mib(device),
        finite=all(bool(torch.isfinite(o).all()) for o in outs),
    )


def backbone_cases(s: dict, device: str, deadline: float) -> list[dict]:
    batch, h, w = s['backbone']
    amp_dtype = torch.float16 if device == 'cuda' else torch.bfloat16
    rows = []
    x0 = torch.randn(batch, 3, h, w, device=device)
    for impl in ('mmconvnext',) + PEERS:
        try:
            torch.manual_seed(0)
            model = pyramid_backbone(impl, s['arch']).to(device)
        except Exception as e:  # a peer that is not importable here
            rows.append(dict(kind='backbone', what=impl, skipped=f'{type(e).__name__}: {str(e)[:80]}'))
            continue
        for channels_last in (False, True):
            x = x0.contiguous(memory_format=torch.channels_last) if channels_last else x0
            if channels_last:
                model.to(memory_format=torch.channels_last)
            for dtype in (None, amp_dtype):
                for mode in ('fwd', 'fwd+bwd'):
                    if time.time() > deadline:
                        rows.append(dict(kind='backbone', what=impl, skipped='time budget'))
                        continue
                    precision = 'fp32' if dtype is None else f'amp {dtype}'.replace('torch.', '')
                    rows.append(
                        dict(
                            kind='backbone',
                            what=impl,
                            mode=mode,
                            channels_last=channels_last,
                            precision=precision,
                            shape=f'{batch}x{h}x{w}',
                            **time_backbone(model, x, mode, dtype, s, device),
                        )
                    )
                    print(f'[gpu_check] {rows[-1]}', flush=True)
    ours = {
        (r['mode'], r['channels_last'], r['precision']): r['value']
        for r in rows
        if r['what'] == 'mmconvnext' and 'value' in r
    }
    for r in rows:
        key = (r.get('mode'), r.get('channels_last'), r.get('precision'))
        if 'value' in r and key in ours:
            r['ours_vs_it'] = ours[key] / r['value']
    return rows


GPU_CHECK_COLUMNS = ['check', 'model / impl', 'with_cp', 'channels_last', 'precision', 'batch x size', 'rate']
GPU_CHECK_COLUMNS += ['peak MiB', 'note']


def table_cells(rows: list[dict]) -> list[list[str]]:
    """One row of cells per case, under :data:`GPU_CHECK_COLUMNS`."""
    cells = []
    for r in rows:
        if 'skipped' in r:
            cells.append([r['kind'], r['what'], '', '', '', '', 'skipped', '', r['skipped']])
            continue
        check = 'train step' if r['kind'] == 'train' else f'backbone {r["mode"]}'
        rate = f'{r["value"]:.3f} s/step' if r['unit'] == 's/step' else f'{r["value"]:.1f} img/s'
        peak = '-' if r['peak_mib'] is None else f'{r["peak_mib"]:.0f}'
        note = [] if r['finite'] else ['NOT FINITE']
        if 'loss' in r:
            note.append(f'loss {r["loss"]:.3f}')
        if 'ours_vs_it' in r and r['what'] != 'mmconvnext':
            note.append(f'mmconvnext {r["ours_vs_it"]:.2f}x')
        with_cp = {True: 'yes', False: 'no'}.get(r.get('with_cp'), '-')
        channels_last = 'yes' if r['channels_last'] else 'no'
        cells.append(
            [check, r['what'], with_cp, channels_last, r['precision'], r['shape'], rate, peak, ', '.join(note)]
        )
    return cells


def table(rows: list[dict], header: str) -> str:
    """The header line, then the Markdown table."""
    return '\n'.join([header, '', *markdown_table(GPU_CHECK_COLUMNS, table_cells(rows))])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--smoke', action='store_true', help='tiny sizes on the CPU (bf16 autocast): a rot check')
    parser.add_argument('--max-minutes', type=float, default=8.0, help='skip the cases that would start later')
    parser.add_argument('--out', help='also write the table (markdown) here')
    parser.add_argument('--json', help='also write every row here')
    parser.add_argument('--results', help='write the table with command, machine, versions, date and commit (JSON)')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads (--smoke)')
    args = parser.parse_args(argv)
    if args.smoke:
        device, settings = 'cpu', SMOKE
        torch.set_num_threads(args.threads)
    elif torch.cuda.is_available():
        device, settings = 'cuda', FULL
        torch.backends.cudnn.benchmark = True
    else:
        raise SystemExit(
            'gpu_check: no CUDA device here; run it on a GPU machine, or with --smoke for the CPU '
            'rot check at tiny sizes'
        )
    start = time.time()
    deadline = start + 60 * args.max_minutes
    name = torch.cuda.get_device_name() if device == 'cuda' else f'{cpu_name()} ({args.threads} threads)'
    header = (
        f'gpu_check{" --smoke" if args.smoke else ""}: {name}, torch {torch.__version__}, '
        f'{time.strftime("%Y-%m-%d")}; ConvNeXt-{settings["arch"]}'
    )
    print(f'[gpu_check] {header}', flush=True)
    rows = training_cases(settings, args.smoke, device, deadline) + backbone_cases(settings, device, deadline)
    elapsed = f'(whole check: {time.time() - start:.0f} s)'
    text = table(rows, header) + f'\n\n{elapsed}'
    print('\n' + text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(header=header, device=name, rows=rows), f, indent=2)
    if args.results:
        from mmconvnext.analysis.results import results_meta, table_results, tool_command

        meta = results_meta(tool_command('tools/analysis/gpu_check.py', argv), torch.get_num_threads())
        if device == 'cuda':
            meta['gpu'] = name
        notes = [header, elapsed]
        table_results(args.results, meta, GPU_CHECK_COLUMNS, table_cells(rows), notes, cases=rows)
    bad = [r for r in rows if r.get('finite') is False]
    if bad:
        print(f'[gpu_check] NOT FINITE: {bad}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
