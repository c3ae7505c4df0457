"""Detection (mmdet two-stage detectors with an RPN: Mask R-CNN, Cascade Mask R-CNN): every learned layer as a
graph with dynamic sizes -- ``backbone_neck`` (image -> FPN levels), ``rpn_head`` (levels -> objectness and box
deltas), ``bbox_head{i}`` and ``mask_head{i}`` per stage (RoI features -> class scores and box deltas / mask
logits). What has no weights stays outside the graphs and runs in mmdet/mmcv at runtime: anchors, box decoding,
NMS, multi-level RoIAlign and mask pasting. (mmdeploy 1.3.1, which puts them into one graph with its own
custom operators, is not used: see docs/deployment.md.) A record holds the boxes, scores and labels."""

import torch
from torch import nn

from ..base import ExportPart, Flatten
from . import DeployTask, register


def heads(roi_head: nn.Module, name: str) -> list:
    """``roi_head.<name>`` as a list: one module (Mask R-CNN), one per stage (Cascade), or none."""
    found = getattr(roi_head, name, None)
    if found is None:
        return []
    return list(found) if isinstance(found, nn.ModuleList) else [found]


def _roi_shape(extractor: nn.Module) -> tuple:
    size = extractor.roi_layers[0].output_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    return (extractor.out_channels, *size)


@register
class Detection(DeployTask):
    name = 'detection'

    def matches(self, model: nn.Module) -> bool:
        from mmdet.models.detectors import TwoStageDetector

        return isinstance(model, TwoStageDetector) and getattr(model, 'with_rpn', False)

    def parts(self, model, image, image_axes, dynamic) -> list:
        # dynamic sizes throughout, since test images are resized keeping their aspect ratio
        with torch.no_grad():
            feats = tuple(model.extract_feat(image))
        levels = [f'feat{i}' for i in range(len(feats))]
        level_axes = {n: {0: 'batch', 2: f'h{i}', 3: f'w{i}'} for i, n in enumerate(levels)}
        image_axes = {0: 'batch', 2: 'height', 3: 'width'}
        parts = [
            ExportPart(
                'backbone_neck',
                Flatten(model, model.extract_feat),
                (image,),
                ['input'],
                levels,
                {'input': image_axes, **level_axes},
            )
        ]
        rpn_out = [f'rpn_cls{i}' for i in range(len(feats))] + [f'rpn_reg{i}' for i in range(len(feats))]
        n = len(feats)
        rpn_axes = {**level_axes, **{o: {0: 'batch', 2: f'h{i % n}', 3: f'w{i % n}'} for i, o in enumerate(rpn_out)}}
        rpn = Flatten(model.rpn_head, lambda *x: model.rpn_head(x))
        parts.append(ExportPart('rpn_head', rpn, feats, levels, rpn_out, rpn_axes))
        extractors = heads(model.roi_head, 'bbox_roi_extractor')
        for i, head in enumerate(heads(model.roi_head, 'bbox_head')):
            rois = torch.randn(4, *_roi_shape(extractors[min(i, len(extractors) - 1)]))
            names = ['cls_score', 'bbox_pred']
            axes = {'roi_feats': {0: 'rois'}, **{o: {0: 'rois'} for o in names}}
            parts.append(ExportPart(f'bbox_head{i}', Flatten(head, head), (rois,), ['roi_feats'], names, axes))
        extractors = heads(model.roi_head, 'mask_roi_extractor') or extractors
        for i, head in enumerate(heads(model.roi_head, 'mask_head')):
            rois = torch.randn(4, *_roi_shape(extractors[min(i, len(extractors) - 1)]))
            axes = {'roi_feats': {0: 'rois'}, 'mask_pred': {0: 'rois'}}
            parts.append(ExportPart(f'mask_head{i}', Flatten(head, head), (rois,), ['roi_feats'], ['mask_pred'], axes))
        return parts

    def attach(self, model, graph) -> None:
        neck, rpn = graph('backbone_neck'), graph('rpn_head')
        model.extract_feat = lambda x: tuple(neck(x))

        def rpn_forward(feats):
            outs = rpn(*feats)
            half = len(outs) // 2
            return outs[:half], outs[half:]

        model.rpn_head.forward = rpn_forward
        for kind in ('bbox_head', 'mask_head'):
            for i, head in enumerate(heads(model.roi_head, kind)):  # one per cascade stage
                g = graph(f'{kind}{i}')
                if kind == 'bbox_head':
                    head.forward = lambda x, g=g: tuple(g(x))
                else:
                    head.forward = lambda x, g=g: g(x)[0]

    def record(self, sample, class_name) -> dict:
        inst = sample.pred_instances
        return {
            'boxes': inst.bboxes.tolist(),
            'scores': inst.scores.tolist(),
            'labels': [class_name(int(i)) for i in inst.labels],
        }
