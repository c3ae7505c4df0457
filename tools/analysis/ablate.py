"""What ConvNeXt's borrowed design choices cost and buy: GELU vs ReLU, 7x7 vs 3x3/5x5
depthwise kernels, the inverted bottleneck on or off, measured on one backbone.

    python tools/analysis/ablate.py [--arch atto|tiny|JSON] [--variants convnext relu k3 k5 no_inverted_bottleneck]
        [--seeds 0 1 2] [--img-size 64] [--epochs 30] [--batch 64] [--lr 2e-3]
        [--data-root DIR | --classes 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ --num-train N --num-val N]
        [--bench-size 224] [--erf-size 128] [--reuse] [--cfg-options K=V ...] [--work-dir DIR] [--out-dir DIR]

Each variant is the ConvNeXt classifier of configs/convnext_tiny_in1k.py with ``--arch``
and one change to its blocks. For each it reports the parameters and GFLOPs at
``--bench-size``; the CPU latency at batch 1 and throughput at batch 8 there (eval, the
backbone's chosen CPU path, ``--threads`` threads); the effective receptive field of the
last stage (gradient of the centre, mmconvnext.analysis.erf) at ``--erf-size`` on the
validation images, for the trained models (mean over seeds) and an untrained one; and
the top-1 after ``--epochs`` of training on a proxy set (default: generated glyphs at
64x64, so the last stage is 2x2 rather than 1x1; ``--classes`` picks the characters),
per seed, with mean, spread, and the difference from ``convnext`` with its standard
error. Training is tools/train.py on the real config shrunk
(:func:`mmconvnext.analysis.proxy.proxy_config`: no RandAugment, Erasing, Mixup/CutMix
or EMA, which a short schedule cannot absorb); ``--cfg-options`` edits the training
configs only. ``--no-train`` skips the training; ``--reuse`` reads back runs already
trained under ``--work-dir`` with the same config, so a sweep can be run seed by seed
(or restarted) and then tabulated in one call.

Writes ablation.json, ablation.md and ablation.png (top-1 with its spread against batch-1
latency; ERF areas) to ``--out-dir``. A proxy, not ImageNet: what it can and cannot say
is in docs/roadmap.md.
"""

import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

import torch

from mmconvnext.analysis.ablation import markdown, plot, spread, table, versus_baseline

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = osp.join(ROOT, 'configs', 'convnext_tiny_in1k.py')
#: each variant's change to the backbone of CONFIG
VARIANTS = {
    'convnext': {},  # GELU, 7x7 depthwise, inverted bottleneck (hidden width 4x)
    'relu': dict(act_cfg=dict(type='ReLU')),
    'k3': dict(dw_kernel_size=3),
    'k5': dict(dw_kernel_size=5),
    'no_inverted_bottleneck': dict(mlp_ratio=1.0),
}


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='atto', help="a ConvNeXt arch name or a JSON dict of 'depths' and 'channels'")
    p.add_argument('--variants', nargs='+', choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--no-train', action='store_true', help='cost and untrained ERF only')
    p.add_argument('--results', help='also write the table with command, machine, versions, date and commit (JSON)')
    p.add_argument(
        '--reuse',
        action='store_true',
        help='read back runs already trained with the same config under --work-dir instead of training them again',
    )
    p.add_argument('--data-root', help='ImageNet folder layout (default: generated glyphs under the work dir)')
    p.add_argument('--generate-size', type=int, default=64)
    p.add_argument(
        '--classes',
        default='0123456789',
        help='characters of the generated glyph set, one class each (e.g. the digits and A-Z for a harder set)',
    )
    p.add_argument('--num-train', type=int, default=2000)
    p.add_argument('--num-val', type=int, default=500)
    p.add_argument('--img-size', type=int, default=64, help='training crop')
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--warmup-epochs', type=int, default=2)
    p.add_argument('--val-interval', type=int, default=5, help='validate every N epochs (and after the last)')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=2e-3)
    p.add_argument('--crop-scale', type=float, default=0.35, help='RandomResizedCrop minimum area')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help="overrides of the training runs' configs, e.g. model.backbone.onednn_cpu=False (the cost columns "
        'keep the variant as it is)',
    )
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--bench-size', type=int, default=224)
    p.add_argument('--bench-repeats', type=int, default=5)
    p.add_argument('--erf-size', type=int, default=128)
    p.add_argument('--erf-images', type=int, default=32)
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'ablation'))
    p.add_argument('--out-dir', help='where the table, JSON and plot go (default: <work-dir>/out)')
    return p.parse_args(argv)


def variant_config(arch, variant: str):
    from mmengine.config import Config

    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.arch = arch
    cfg.model.backbone.update(VARIANTS[variant])
    return cfg


def cost(cfg, size: int, threads: int, repeats: int) -> dict:
    """Parameters, GFLOPs (mmengine's FlopAnalyzer, multiply-adds) and eval CPU timing at ``size``."""
    from mmconvnext.analysis import median_time
    from mmconvnext.apis import build_model
    from mmconvnext.models.layers import path_select

    torch.set_num_threads(threads)
    model = build_model(cfg.copy(), 'cpu').eval()
    from mmengine.analysis import FlopAnalyzer

    x1 = torch.randn(1, 3, size, size)
    for batch in (1, 8):  # the CPU kernels chosen before timing, as a run does
        path_select.tune_model(model, (batch, 3, size, size), train=False)
    with torch.no_grad():
        flops = FlopAnalyzer(model, (x1,))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        gflops = flops.total() / 1e9
        latency = median_time(lambda: model(x1), 2, repeats)
        x8 = torch.randn(8, 3, size, size)
        batch8 = median_time(lambda: model(x8), 1, repeats)
    return dict(
        params_m=sum(p.numel() for p in model.parameters()) / 1e6,
        gflops=gflops,
        latency_b1_ms=latency * 1e3,
        throughput_b8=8 / batch8,
    )


def erf_of(cfg, checkpoint, images, size: int) -> dict:
    """ERF of the last stage: areas holding 50% and 90% of the gradient mass (pixels of
    any shape, most massive first), at ``size``."""
    from mmconvnext.analysis import accumulate_erf, mass_areas
    from mmconvnext.analysis.erf import build_stage_model, to_input

    model = build_stage_model(cfg, checkpoint)
    batches = [to_input(images[i : i + 8], (size, size), cfg) for i in range(0, len(images), 8)]
    last = accumulate_erf(model, batches, stages=[-1])[0]
    areas = mass_areas(last)['pixels']
    return {f'area{int(float(f) * 100)}_px': a['area_px'] for f, a in areas.items() if f in ('0.5', '0.9')}


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out_dir = args.out_dir or osp.join(args.work_dir, 'out')
    from mmconvnext.analysis.erf import image_paths, read_image
    from mmconvnext.analysis.proxy import proxy_config, train_proxy
    from mmconvnext.device import cpu_name

    arch = json.loads(args.arch) if args.arch.strip().startswith('{') else args.arch
    start = time.time()
    data_root = args.data_root
    if data_root is None:
        from mmconvnext.datasets import make_glyphs_imagenet

        data_root = make_glyphs_imagenet(
            osp.join(args.work_dir, 'data'),
            num_train=args.num_train,
            num_val=args.num_val,
            size=args.generate_size,
            classes=args.classes,
        )
    num_classes = len(
        [d for d in os.listdir(osp.join(data_root, 'train')) if osp.isdir(osp.join(data_root, 'train', d))]
    )
    images = [read_image(p) for p in image_paths([osp.join(data_root, 'val')], limit=args.erf_images)]
    rows = []
    for variant in args.variants:
        cfg = variant_config(arch, variant)
        row = dict(
            variant=variant, change=VARIANTS[variant], **cost(cfg, args.bench_size, args.threads, args.bench_repeats)
        )
        row['erf_untrained'] = erf_of(cfg, None, images, args.erf_size)
        if not args.no_train:
            runs, erfs, losses = [], [], []
            for seed in args.seeds:
                trained = variant_config(arch, variant)
                trained.merge_from_dict(args.cfg_options)
                shrunk = proxy_config(
                    trained,
                    data_root,
                    num_classes,
                    osp.join(args.work_dir, variant, f'seed{seed}'),
                    args.epochs,
                    args.warmup_epochs,
                    args.batch,
                    args.lr,
                    args.img_size,
                    workers=args.workers,
                    seed=seed,
                    crop_scale=args.crop_scale,
                    flip=False,  # digits are not mirror-symmetric
                    val_interval=args.val_interval,
                )
                result = train_proxy(shrunk, variant, args.threads, reuse=args.reuse)
                runs.append(result['top1'])
                losses.append(result.get('final_train_loss'))
                erfs.append(erf_of(cfg, result['checkpoint'], images, args.erf_size))
            row['top1'] = spread(runs)
            row['final_train_loss'] = statistics.mean(losses) if None not in losses else None
            row['erf_trained'] = {k: statistics.mean(e[k] for e in erfs) for k in erfs[0]}
        rows.append(row)
        print(f'{variant}: ' + json.dumps({k: v for k, v in row.items() if k != 'change'}), flush=True)

    meta = dict(
        date=time.strftime('%Y-%m-%d'),
        cpu=cpu_name(),
        torch=torch.__version__,
        arch=arch,
        bench_size=args.bench_size,
        threads=args.threads,
        erf_size=args.erf_size,
        trained=not args.no_train,
        epochs=args.epochs,
        img_size=args.img_size,
        seeds=args.seeds,
        lr=args.lr,
        batch=args.batch,
        train_cfg_options=args.cfg_options,
        data=data_root
        if args.data_root
        else f'generated glyphs of {len(args.classes)} classes ({args.num_train} train / {args.num_val} val)',
        minutes=round((time.time() - start) / 60, 1),
    )
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'ablation.json'), 'w') as f:
        json.dump(dict(meta=meta, rows=rows, versus_convnext=versus_baseline(rows)), f, indent=1)
    text = markdown(rows, meta)
    with open(osp.join(args.out_dir, 'ablation.md'), 'w') as f:
        f.write(text)
    plot(rows, osp.join(args.out_dir, 'ablation.png'), f'ConvNeXt design choices ({arch}, {meta["cpu"]})')
    print(text)
    print(f'{meta["minutes"]} min; wrote {args.out_dir}/ablation.json, ablation.md, ablation.png')
    if args.results:
        from mmconvnext.analysis.results import results_meta, table_results, tool_command

        command = tool_command('tools/analysis/ablate.py', argv)
        caption, columns, cells = table(rows, meta)
        table_results(args.results, results_meta(command, args.threads), columns, cells, [caption], ablation=meta)
    return 0


if __name__ == '__main__':
    sys.exit(main())
