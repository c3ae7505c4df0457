"""The effective receptive field (ERF) of a config's backbone, stage by stage, by the gradient of the centre.

    python tools/analysis/erf.py CONFIG [CHECKPOINT] [--images PATH ...] [--num-images 32] [--size 224]
                                 [--batch-size 4] [--reduce sum|relu] [--area-scale linear|log]
                                 [--fractions 0.2 0.5 0.9] [--out-dir DIR] [--seed 0]
                                 [--cfg-options k=v ...]

Any config of the project (classification, the roadmap steps of configs/roadmap/, segmentation, detection):
its ``model.backbone`` is built, initialised as the config says (a ``Pretrained`` init is skipped: pass the
weights as CHECKPOINT, a checkpoint of any of the project's configs or of a format mmconvnext reads), and
without CHECKPOINT left untrained. For every stage, the gradient of the central feature (summed over its
channels) with respect to the input is accumulated over the images, ``--images`` (files or folders, searched
recursively; ``--num-images`` of them spread over the sorted list) or, without it, uniform noise images.
Every image is resized to ``--size`` and normalised as the config's data preprocessor does.

Writes to ``--out-dir`` (default ``work_dirs/erf/<config name>``):

- ``erf_stage{i}.png``: the map of stage i on a log scale (``log10(1 + 1000 m / max m) / 3``), with the
  squares holding 20/50/90% of the gradient mass drawn on it; ``erf.png``: all stages side by side;
- ``erf.json``: per stage its feature size and stride, the centre of mass and, for each fraction, the side,
  pixels and fraction of the input of the smallest square around that centre holding it (``square``,
  RepLKNet's measure) and the fewest pixels holding it (``pixels``);
- ``erf_maps.npz``: the accumulated maps (``stage0`` ...), for other plots.

The method and what the numbers mean: docs/erf_cam.md; the computation: :mod:`mmconvnext.analysis.erf`.
"""

import argparse
import json
import os.path as osp
import sys
from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch

from mmconvnext.analysis.erf import (
    DEFAULT_FRACTIONS,
    accumulate_erf,
    build_stage_model,
    display_map,
    image_paths,
    mass_areas,
    noise_images,
    read_image,
    to_input,
)
from mmconvnext.apis import add_analysis_args, analysis_setup, check_analysis_args

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Effective receptive field of a config's backbone, per stage")
    add_analysis_args(parser, images_help='image files or folders (default: uniform noise images)')
    parser.set_defaults(size=[224])
    parser.add_argument('--num-images', type=int, default=32, help='images to average over (default 32)')
    parser.add_argument('--batch-size', type=int, default=4, help='images per forward pass (default 4)')
    parser.add_argument(
        '--reduce',
        choices=('sum', 'relu'),
        default='sum',
        help="the central feature's channels summed as they are (default) or their positive parts (RepLKNet's)",
    )
    parser.add_argument(
        '--area-scale',
        choices=('linear', 'log'),
        default='linear',
        help='measure the areas on the accumulated map (default) or on log10(1 + map) (RepLKNet)',
    )
    parser.add_argument('--fractions', type=float, nargs='+', default=list(DEFAULT_FRACTIONS))
    parser.add_argument('--seed', type=int, default=0, help='seed of the noise images')
    args = parser.parse_args(argv)
    check_analysis_args(parser, args, positive=('num_images', 'batch_size'))
    if not all(0 < f <= 1 for f in args.fractions):
        parser.error(f'--fractions must be in (0, 1], got {args.fractions}')
    return args


def _batches(args: argparse.Namespace, cfg, size: tuple[int, int]):
    """The normalised input batches and a description of where the images came from."""
    if args.images:
        paths = image_paths(args.images, args.num_images)
        source = dict(kind='images', paths=args.images, count=len(paths))

        def images(chunk):
            return [read_image(p) for p in chunk]

        items = paths
    else:
        items = list(range(args.num_images))
        source = dict(kind='uniform noise', seed=args.seed, count=len(items))
        noise = noise_images(len(items), size, args.seed)

        def images(chunk):
            return [noise[i] for i in chunk]

    def generate():
        for start in range(0, len(items), args.batch_size):
            yield to_input(images(items[start : start + args.batch_size]), size, cfg)

    return generate(), source


def _draw(erf: np.ndarray, areas: dict, title: str, ax) -> None:
    from matplotlib.patches import Rectangle

    ax.imshow(display_map(erf), cmap='magma', vmin=0, vmax=1, interpolation='nearest')
    cy, cx = areas['centre']
    for (frac, sq), colour in zip(areas['square'].items(), ('#7fff7f', '#3fbfff', '#ffffff')):
        s = sq['side']
        y0, x0 = round(cy - (s - 1) / 2), round(cx - (s - 1) / 2)
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), s, s, fill=False, lw=1, ec=colour, label=f'{float(frac):.0%}'))
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc='lower right', fontsize=6, framealpha=0.5)


def save_figures(maps: list, stages: list, out_dir: str, name: str) -> list[str]:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written = []
    titles = []
    for st in stages:
        big = st['square'][max(st['square'], key=float)]
        titles.append(
            f'{name} stage {st["stage"]} (stride {st["stride"]}): {float(max(st["square"], key=float)):.0%} '
            f'in {big["side"]}x{big["side"]} ({big["fraction_of_input"]:.1%})'
        )
    for erf, st, title in zip(maps, stages, titles):
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        _draw(erf, st, title, ax)
        path = osp.join(out_dir, f'erf_stage{st["stage"]}.png')
        fig.savefig(path, bbox_inches='tight')
        plt.close(fig)
        written.append(path)
    fig, axes = plt.subplots(1, len(maps), figsize=(3.2 * len(maps), 3.4), dpi=100, squeeze=False)
    for erf, st, title, ax in zip(maps, stages, titles, axes[0]):
        _draw(erf, st, title.replace(f'{name} ', ''), ax)
    fig.suptitle(f'ERF of {name}', fontsize=9)
    path = osp.join(out_dir, 'erf.png')
    fig.savefig(path, bbox_inches='tight')
    plt.close(fig)
    return [path] + written


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg, name, out_dir = analysis_setup(args, 'erf')
    size = (args.size[0], args.size[-1])

    torch.manual_seed(args.seed)
    model = build_stage_model(cfg, args.checkpoint)
    batches, source = _batches(args, cfg, size)
    maps = accumulate_erf(model, batches, reduce=args.reduce)
    with torch.no_grad():
        shapes = [tuple(y.shape[-2:]) for y in model(torch.zeros(1, 3, *size))]

    stages = []
    for i, (erf, (h, w)) in enumerate(zip(maps, shapes)):
        areas = mass_areas(erf, args.fractions, args.area_scale)
        if erf.max() <= 0:
            print(f'warning: stage {i}: the gradient is zero everywhere', file=sys.stderr)
        stride = size[0] / h
        stages.append(
            dict(stage=i, feature_size=[h, w], stride=int(stride) if stride.is_integer() else stride, **areas)
        )
    figures = save_figures(maps, stages, out_dir, name)
    np.savez_compressed(osp.join(out_dir, 'erf_maps.npz'), **{f'stage{i}': m for i, m in enumerate(maps)})
    record = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        trained=bool(args.checkpoint),
        input_size=list(size),
        images=source,
        reduce=args.reduce,
        area_scale=args.area_scale,
        fractions=list(args.fractions),
        stages=stages,
    )
    with open(osp.join(out_dir, 'erf.json'), 'w') as f:
        json.dump(record, f, indent=2)

    fracs = [f'{f:g}' for f in args.fractions]
    print(
        f'ERF of {name} ({"checkpoint " + args.checkpoint if args.checkpoint else "untrained"}), input {size[0]}x'
        f'{size[1]}, {source["count"]} {source["kind"]}'
    )
    print('| stage | stride | ' + ' | '.join(f'{float(f):.0%} square (side, % of input)' for f in fracs) + ' |')
    print('|---|---|' + '---|' * len(fracs))
    for st in stages:
        cells = [f'{st["square"][f]["side"]} px, {st["square"][f]["fraction_of_input"]:.1%}' for f in fracs]
        print(f'| {st["stage"]} | {st["stride"]} | ' + ' | '.join(cells) + ' |')
    print(f'wrote {osp.join(out_dir, "erf.json")}, {osp.join(out_dir, "erf_maps.npz")}, ' + ', '.join(figures))
    return record


if __name__ == '__main__':
    main()
