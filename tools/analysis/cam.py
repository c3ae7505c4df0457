"""Class activation maps over user images: Grad-CAM for a classifier, per-class maps for a segmentor.

    python tools/analysis/cam.py CONFIG [CHECKPOINT] --images PATH [PATH ...] [--out-dir DIR]
                                 [--size H [W]] [--classes K ...] [--layer NAME]
                                 [--seg-mode prob|gradcam] [--alpha 0.5] [--cfg-options k=v ...]

Classifier configs (``mmconvnext.ConvNeXtClassifier``: configs/convnext_*_in1k.py, the roadmap steps):
Grad-CAM of each class of ``--classes`` (default: the predicted one) at ``--layer`` (default the backbone's
last stage, ``backbone.stages.3``; its maps are 1/32 of the input, so small inputs want an earlier stage).
Images are resized to ``--size`` (default the config's test crop, else 224).

Segmentor configs (mmseg UperNet, configs/upernet_*.py): for each class of ``--classes`` (default: every
class predicted somewhere in the image) its softmax probability at every pixel (``--seg-mode prob``, the
default), or the Grad-CAM of its logit summed over the pixels predicted as it (``--seg-mode gradcam``, at
``--layer``, default ``decode_head.fpn_bottleneck``: UperNet's fused 1/4-scale features). Images keep their
size rounded to a multiple of 32, unless ``--size`` is given.

The maps are drawn over the (resized) image as a jet colour map and written to ``--out-dir`` (default
``work_dirs/cam/<config name>``) as ``<image>_class<k>[_<name>].png``, with ``cam.json``: per image its
size, the predicted classes (classifier: the top 5 with their probabilities; segmentor: the fraction of the
pixels predicted as each class) and the files written. Without CHECKPOINT the model is untrained (the maps
then show nothing learned; useful only to try the tool).

Grad-CAM is written by hand in :mod:`mmconvnext.analysis.cam` (pytorch-grad-cam needs torchvision, which
does not load against this CPU torch). Details: docs/erf_cam.md.
"""

import argparse
import json
import os.path as osp
import re
from collections.abc import Sequence
from typing import Optional

import cv2
import torch

from mmconvnext.analysis.cam import (
    find_layer,
    grad_cam,
    load_analysis_model,
    overlay,
    segmentation_class_maps,
)
from mmconvnext.analysis.erf import image_paths, read_image, to_input
from mmconvnext.apis import add_analysis_args, analysis_setup, check_analysis_args

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Grad-CAM / per-class maps of a classifier or segmentor config')
    add_analysis_args(parser, images_help='image files or folders (searched recursively)', images_required=True)
    parser.add_argument('--classes', type=int, nargs='+', help='class indices to map (default: the predicted ones)')
    parser.add_argument('--layer', help='the layer Grad-CAM reads (a dotted module name)')
    parser.add_argument('--seg-mode', choices=('prob', 'gradcam'), default='prob', help='segmentor maps (see above)')
    parser.add_argument('--alpha', type=float, default=0.5, help='weight of the colour map over the image')
    args = parser.parse_args(argv)
    check_analysis_args(parser, args)
    if not 0 <= args.alpha <= 1:
        parser.error(f'--alpha must be in [0, 1], got {args.alpha}')
    return args


def _classifier_size(cfg) -> int:
    """The centre crop of the config's test pipeline, else 224."""
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') or cfg.get('test_pipeline') or []
    for t in pipeline:
        if str(t.get('type', '')).endswith('CenterCrop'):
            crop = t.get('crop_size')
            return int(crop if isinstance(crop, int) else crop[0])
    return 224


def _class_names(cfg) -> Optional[list]:
    """The class names of the config's test dataset (its metainfo, else its type's METAINFO), if any."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {}) or {}
    names = (dataset.get('metainfo') or {}).get('classes')
    if names is None and dataset.get('type'):
        try:
            from mmengine.registry import DATASETS, DefaultScope

            with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
                dataset_cls = DATASETS.get(dataset['type'])
            names = getattr(dataset_cls, 'METAINFO', {}).get('classes')
        except Exception:  # names are a nicety: a registry that cannot resolve the type leaves them out
            names = None
    return list(names) if names else None


def _file_name(stem: str, k: int, names: Optional[list]) -> str:
    label = f'_{re.sub(r"[^A-Za-z0-9_-]+", "_", str(names[k]))}' if names and k < len(names) else ''
    return f'{stem}_class{k}{label}.png'


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg, name, out_dir = analysis_setup(args, 'cam')

    torch.manual_seed(0)  # an untrained model: the same one every run
    model = load_analysis_model(cfg, args.checkpoint)
    segmentor = hasattr(model, 'decode_head')
    if not segmentor and not (hasattr(model, 'head') and hasattr(model, 'backbone')):
        raise SystemExit(
            f'cam.py: {type(model).__name__} is neither a classifier (backbone + head) nor a segmentor (decode_head)'
        )
    stages = getattr(model.backbone, 'stages', None)
    if args.layer:
        layer_name = args.layer
    elif segmentor and hasattr(model.decode_head, 'fpn_bottleneck'):
        layer_name = 'decode_head.fpn_bottleneck'
    elif stages is not None:
        layer_name = f'backbone.stages.{len(stages) - 1}'
    else:
        raise SystemExit('cam.py: give --layer (the backbone has no `stages` to default to)')
    layer = find_layer(model, layer_name)
    names = _class_names(cfg) if segmentor else None

    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x, mode='tensor')

    records = []
    for path in image_paths(args.images):
        image = read_image(path)
        if args.size:
            size = (args.size[0], args.size[-1])
        elif segmentor:
            size = tuple(max(32, round(s / 32) * 32) for s in image.shape[:2])
        else:
            size = (_classifier_size(cfg),) * 2
        x = to_input([image], size, cfg)
        shown = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        stem = osp.splitext(osp.basename(path))[0]
        record = dict(image=path, input_size=list(size))
        written = {}
        if segmentor:
            maps, labels = segmentation_class_maps(forward, x, args.classes, args.seg_mode, layer)
            counts = torch.bincount(labels.flatten())
            record['predicted'] = {
                str(k): dict(
                    name=names[k] if names and k < len(names) else None,
                    pixels=round(float(counts[k]) / labels.numel(), 5),
                )
                for k in range(len(counts))
                if counts[k] > 0
            }
        else:
            with torch.no_grad():
                probs = forward(x).float().softmax(1)[0]
            top = probs.topk(min(5, probs.numel()))
            record['top5'] = [dict(cls=int(k), prob=round(float(p), 5)) for p, k in zip(top.values, top.indices)]
            classes = args.classes or [int(top.indices[0])]
            bad = [k for k in classes if not 0 <= k < probs.numel()]
            if bad:
                raise SystemExit(f"cam.py: --classes {bad} are outside the model's {probs.numel()} classes")
            maps = {k: grad_cam(forward, x, layer, lambda out, k=k: out[:, k]) for k in classes}
        for k, cam in maps.items():
            file = osp.join(out_dir, _file_name(stem, k, names))
            cv2.imwrite(file, overlay(shown, cam[0].detach().numpy(), args.alpha))
            written[str(k)] = file
        record['maps'] = written
        records.append(record)
        print(f'{path}: ' + ', '.join(f'class {k} -> {f}' for k, f in written.items()))

    result = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        task='segmentation' if segmentor else 'classification',
        method=('softmax probability' if args.seg_mode == 'prob' else 'Grad-CAM') if segmentor else 'Grad-CAM',
        layer=None if segmentor and args.seg_mode == 'prob' else layer_name,
        images=records,
    )
    with open(osp.join(out_dir, 'cam.json'), 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {osp.join(out_dir, "cam.json")}')
    return result


if __name__ == '__main__':
    main()
