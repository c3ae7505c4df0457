"""A two-stage mmdet detector (Mask R-CNN, Cascade Mask R-CNN) as one traceable module, so that its ONNX graph
holds everything from the image to the detections: the anchors, the RPN's box decoding, per-level top-k and
level-wise NMS, multi-level RoIAlign, the box head(s) with the cascade's refinement and score averaging,
class-wise NMS and the mask head(s).

Only standard ONNX operators appear in the graph: ``NonMaxSuppression``, ``RoiAlign`` (opset 16's
``half_pixel`` mode, mmcv's ``aligned=True``), ``TopK``, ``Gather``, ``Where`` and arithmetic. When traced, two
``torch.autograd.Function`` s run mmcv's own ``nms`` and ``roi_align`` and write those ONNX nodes; everything
else is written here in torch operations, following mmdet 3.3's test-time code step by step (the functions
below name the mmdet code each follows), because mmdet's own post-processing is not traceable to ONNX
(data-dependent Python control flow, in-place clamps, a removed ``mmdet.core.export``) and mmdeploy's graphs use
its own custom operators (see docs/deployment.md). The graph's output is what mmdet's ``predict`` computes
before its last step: boxes in the input image's pixels, scores, labels and the masks at RoI resolution; the
paste into the original image (:func:`mmconvnext.deploy.standalone.paste_masks`, or mmdet's own at runtime) and
the rescale by the resize factor stay outside.

One image per run (batch 1): NMS and RoIAlign work per image.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import DeployError

__all__ = ['DetectorGraph', 'match_detections']


# ---------------------------------------------------------------------------- the two ONNX operators
def _const(g, value, dtype=None):
    return g.op('Constant', value_t=torch.tensor(value, dtype=dtype))


class _NonMaxSuppression(torch.autograd.Function):
    """Indices of the boxes NMS keeps, in decreasing score: mmcv's ``nms`` in PyTorch, ONNX's
    ``NonMaxSuppression`` (one class) in the graph. Boxes scoring ``<= score_threshold`` are dropped first."""

    @staticmethod
    def forward(ctx, boxes, scores, iou_threshold: float, score_threshold: float):
        from mmcv.ops import nms

        boxes, scores = boxes.float(), scores.float()  # mmcv's kernels are float32 (autocast gives bf16/fp16)
        valid = torch.nonzero(scores > score_threshold).squeeze(1)
        if valid.numel() == 0:
            return valid
        _, keep = nms(boxes[valid], scores[valid], iou_threshold)
        return valid[keep]

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold, score_threshold):
        boxes = g.op('Unsqueeze', boxes, _const(g, [0]))  # (1, N, 4): one batch
        scores = g.op('Unsqueeze', scores, _const(g, [0, 1]))  # (1, 1, N): one class
        selected = g.op(
            'NonMaxSuppression',
            boxes,
            scores,
            _const(g, [2**31 - 1]),  # no limit here: the caller keeps its max_per_img
            _const(g, [iou_threshold], torch.float32),
            _const(g, [score_threshold], torch.float32),
        )
        return g.op('Gather', selected, _const(g, 2), axis_i=1)  # (K, 3) -> the box index column


class _RoiAlign(torch.autograd.Function):
    """mmcv's ``roi_align`` (average, ``aligned=True``) in PyTorch; ONNX's ``RoiAlign`` with half-pixel
    coordinates in the graph. ``rois``: (K, 5), batch index then x1, y1, x2, y2."""

    @staticmethod
    def forward(ctx, feat, rois, out_h: int, out_w: int, scale: float, ratio: int):
        from mmcv.ops import roi_align

        # mmcv's CPU kernel is float32 only: under autocast the features come in bf16/fp16
        return roi_align(feat.float(), rois.float(), (out_h, out_w), scale, ratio, 'avg', True).to(feat.dtype)

    @staticmethod
    def symbolic(g, feat, rois, out_h, out_w, scale, ratio):
        batch = g.op('Cast', g.op('Gather', rois, _const(g, 0), axis_i=1), to_i=7)  # INT64
        boxes = g.op('Slice', rois, _const(g, [1]), _const(g, [5]), _const(g, [1]))
        return g.op(
            'RoiAlign',
            feat,
            boxes,
            batch,
            output_height_i=out_h,
            output_width_i=out_w,
            sampling_ratio_i=ratio,
            spatial_scale_f=scale,
            mode_s='avg',
            coordinate_transformation_mode_s='half_pixel',
        )


def nms(boxes, scores, iou_threshold: float, score_threshold: float):
    return _NonMaxSuppression.apply(boxes, scores, float(iou_threshold), float(score_threshold))


def _top_k(scores: torch.Tensor, k: int) -> tuple:
    """``scores.topk(min(k, len(scores)))`` with the length read in the graph (ONNX's TopK refuses k > n)."""
    if torch.jit.is_tracing():
        k = torch.clamp(torch._shape_as_tensor(scores)[0], max=k)
    else:
        k = min(k, scores.shape[0])
    return scores.topk(k)


# ---------------------------------------------------------------------------- the steps
def _check(condition: bool, what: str) -> None:
    if not condition:
        raise DeployError(f'--end2end: {what}')


def _coder_options(coder) -> dict:
    _check(type(coder).__name__ == 'DeltaXYWHBBoxCoder', f'box coder {type(coder).__name__} is not supported')
    return dict(means=coder.means, stds=coder.stds, ctr_clamp=coder.ctr_clamp if coder.add_ctr_clamp else None)


def decode(priors, deltas, bound, means, stds, ctr_clamp=None, wh_ratio_clip=16 / 1000):
    """mmdet's ``delta2bbox`` (DeltaXYWHBBoxCoder) with the boxes clipped to ``bound`` = (w, h, w, h)."""
    d = deltas * deltas.new_tensor(stds) + deltas.new_tensor(means)
    pxy = (priors[:, :2] + priors[:, 2:]) * 0.5
    pwh = priors[:, 2:] - priors[:, :2]
    dxy_wh = pwh * d[:, :2]
    max_ratio = abs(math.log(wh_ratio_clip))
    if ctr_clamp is not None:
        dxy_wh = torch.clamp(dxy_wh, max=ctr_clamp, min=-ctr_clamp)
        dwh = torch.clamp(d[:, 2:], max=max_ratio)
    else:
        dwh = d[:, 2:].clamp(min=-max_ratio, max=max_ratio)
    gxy = pxy + dxy_wh
    gwh = pwh * dwh.exp()
    boxes = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    return torch.clamp(torch.minimum(boxes, bound), min=0)


def grid_anchors(generator, level: int, feat: torch.Tensor) -> torch.Tensor:
    """mmdet's ``AnchorGenerator.single_level_grid_priors`` with the map's size read in the graph."""
    base = generator.base_anchors[level].to(feat)
    stride_w, stride_h = generator.strides[level]
    h, w = feat.shape[-2:]
    ys = torch.arange(h, dtype=torch.long).to(feat) * stride_h
    xs = torch.arange(w, dtype=torch.long).to(feat) * stride_w
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    xx, yy = xx.reshape(-1), yy.reshape(-1)
    shifts = torch.stack([xx, yy, xx, yy], dim=-1)
    return (base[None] + shifts[:, None]).reshape(-1, 4)


def batched_nms(boxes, scores, groups, nms_cfg: dict, score_threshold: float):
    """mmcv's ``batched_nms``: one NMS with each group's boxes moved apart by an offset from the largest
    coordinate of the boxes that take part. (Above 10000 boxes mmcv runs NMS group by group instead: the same
    boxes, up to float rounding in the overlaps of the moved boxes.)"""
    _check(nms_cfg.get('type', 'nms') == 'nms', f"NMS type {nms_cfg.get('type')!r} (only 'nms')")
    if not nms_cfg.get('class_agnostic', False):
        taking_part = (scores > score_threshold)[:, None]
        largest = torch.where(taking_part, boxes, torch.zeros_like(boxes)).max()
        boxes = boxes + (groups.to(boxes) * (largest + 1))[:, None]
    return nms(boxes, scores, nms_cfg['iou_threshold'], score_threshold)


def extract_rois(extractor, feats: tuple, rois: torch.Tensor) -> torch.Tensor:
    """mmdet's ``SingleRoIExtractor``: each RoI pooled from the level its size maps to. Every level pools every
    RoI and ``Where`` keeps the RoI's own level (the same numbers, no scatter in the graph)."""
    layers = extractor.roi_layers
    for layer in layers:
        _check(
            getattr(layer, 'aligned', False) and getattr(layer, 'pool_mode', 'avg') == 'avg',
            'RoIAlign must be aligned=True with average pooling',
        )
    n = len(extractor.featmap_strides)
    out_h, out_w = layers[0].output_size
    pooled = [
        _RoiAlign.apply(feats[i], rois, out_h, out_w, float(layers[i].spatial_scale), int(layers[i].sampling_ratio))
        for i in range(n)
    ]
    if n == 1:
        return pooled[0]
    level = extractor.map_roi_levels(rois, n)
    out = pooled[0]
    for i in range(1, n):
        out = torch.where((level == i)[:, None, None, None], pooled[i], out)
    return out


def _as_list(module_or_list) -> list:
    return list(module_or_list) if isinstance(module_or_list, nn.ModuleList) else [module_or_list]


# ---------------------------------------------------------------------------- the model
class DetectorGraph(nn.Module):
    """``model`` (an mmdet two-stage detector with an RPN and RoIAlign heads: Mask R-CNN, Cascade (Mask) R-CNN)
    from the image to its detections, as one traceable module.

    ``forward(image, image_hw)``: ``image`` (1, 3, H, W) as the data preprocessor makes it (normalised, padded);
    ``image_hw`` (2,) float, the height and width of the resized image before padding (mmdet's ``img_shape``:
    boxes are clipped to it). Returns ``boxes`` (N, 4) in the resized image's pixels, ``scores`` (N,),
    ``labels`` (N,) int64 and ``masks`` (N, M, M) probabilities at RoI resolution (M = 28 in mmdet's heads;
    (N, 1, 1) zeros without a mask head), highest score first, N <= ``test_cfg.rcnn.max_per_img``.

    Raises:
        DeployError: a detector this module does not reproduce, naming what (no RPN, another box coder or NMS,
            a shared head, unaligned RoIAlign).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        _check(getattr(model, 'with_rpn', False), f'{type(model).__name__} has no RPN')
        roi = model.roi_head
        _check(not getattr(roi, 'with_shared_head', False), 'RoI heads with a shared head are not supported')
        self.model = model
        self.rpn_cfg = dict(model.test_cfg.rpn)
        self.rcnn_cfg = dict(model.test_cfg.rcnn)
        self.bbox_heads = _as_list(roi.bbox_head)
        self.bbox_extractors = _as_list(roi.bbox_roi_extractor)
        with_mask = getattr(roi, 'with_mask', False)  # mmdet points a shared mask extractor at the box one
        self.mask_heads = _as_list(roi.mask_head) if with_mask else []
        self.mask_extractors = _as_list(roi.mask_roi_extractor) if with_mask else []
        self.rpn_coder = _coder_options(model.rpn_head.bbox_coder)
        self.coders = [_coder_options(h.bbox_coder) for h in self.bbox_heads]
        _check(model.rpn_head.use_sigmoid_cls, 'the RPN must score with a sigmoid')
        _check(type(model.rpn_head.prior_generator).__name__ == 'AnchorGenerator', 'the RPN needs an AnchorGenerator')
        for head in self.bbox_heads:
            _check(not head.custom_cls_channels, 'box heads with custom class channels are not supported')

    def forward(self, image: torch.Tensor, image_hw: torch.Tensor) -> tuple:
        feats = self.model.extract_feat(image)
        bound = image_hw[[1, 0, 1, 0]]
        proposals = self.proposals(feats, bound)
        boxes, scores, labels = self.detections(feats, proposals, bound)
        return boxes, scores, labels, self.masks(feats, boxes, labels)

    def proposals(self, feats: tuple, bound: torch.Tensor) -> torch.Tensor:
        """mmdet's ``RPNHead._predict_by_feat_single`` and ``_bbox_post_process``: per level the ``nms_pre``
        best anchors, decoded and clipped; boxes without area dropped; level-wise NMS; ``max_per_img`` kept."""
        head, cfg = self.model.rpn_head, self.rpn_cfg
        cls_scores, bbox_preds = head(feats)
        boxes, scores, levels = [], [], []
        for level, (cls, reg) in enumerate(zip(cls_scores, bbox_preds)):
            anchors = grid_anchors(head.prior_generator, level, cls)
            score = cls[0].permute(1, 2, 0).reshape(-1).sigmoid()
            delta = reg[0].permute(1, 2, 0).reshape(-1, 4)
            if cfg.get('nms_pre', -1) > 0:
                score, keep = _top_k(score, cfg['nms_pre'])
                delta, anchors = delta[keep], anchors[keep]
            boxes.append(decode(anchors, delta, bound, **self.rpn_coder))
            scores.append(score)
            levels.append(torch.zeros_like(score) + level)
        boxes, scores, levels = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
        threshold = -1.0  # every box takes part, but those that the area check drops (score -2)
        if cfg.get('min_bbox_size', -1) >= 0:
            wh = boxes[:, 2:] - boxes[:, :2]
            valid = (wh[:, 0] > cfg['min_bbox_size']) & (wh[:, 1] > cfg['min_bbox_size'])
            scores = torch.where(valid, scores, torch.full_like(scores, -2.0))
        keep = batched_nms(boxes, scores, levels, cfg['nms'], threshold)
        return boxes[keep[: cfg['max_per_img']]]

    def _box_stage(self, stage: int, feats: tuple, boxes: torch.Tensor) -> tuple:
        rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], dim=1)
        extractor = self.bbox_extractors[stage]
        roi_feats = extract_rois(extractor, feats[: len(extractor.featmap_strides)], rois)
        return self.bbox_heads[stage](roi_feats)

    def detections(self, feats: tuple, proposals: torch.Tensor, bound: torch.Tensor) -> tuple:
        """mmdet's ``StandardRoIHead.predict_bbox`` / ``CascadeRoIHead._refine_roi`` (each stage's boxes refined
        by its regression toward its top class, the stages' class logits averaged) and ``BBoxHead``'s
        ``_predict_by_feat_single`` with ``multiclass_nms``."""
        boxes, logits = proposals, []
        for stage, head in enumerate(self.bbox_heads):
            cls_score, bbox_pred = self._box_stage(stage, feats, boxes)
            logits.append(cls_score)
            if stage < len(self.bbox_heads) - 1:  # the cascade's refinement
                if not head.reg_class_agnostic:
                    label = cls_score[:, :-1].argmax(dim=1) * 4
                    bbox_pred = torch.gather(bbox_pred, 1, torch.stack([label + i for i in range(4)], 1))
                boxes = decode(boxes, bbox_pred, bound, **self.coders[stage])
        head, cfg = self.bbox_heads[-1], self.rcnn_cfg
        cls_score = logits[0] if len(logits) == 1 else sum(logits) / float(len(logits))
        scores = F.softmax(cls_score, dim=-1)[:, :-1]
        classes = head.num_classes
        if head.reg_class_agnostic:
            decoded = decode(boxes, bbox_pred, bound, **self.coders[-1]).repeat(1, classes)
        else:
            decoded = decode(
                boxes.repeat(1, classes).reshape(-1, 4), bbox_pred.reshape(-1, 4), bound, **self.coders[-1]
            )
        decoded = decoded.reshape(-1, 4)
        labels = torch.arange(classes, dtype=torch.long)[None].expand_as(scores).reshape(-1)
        scores = scores.reshape(-1)
        keep = batched_nms(decoded, scores, labels, cfg['nms'], cfg['score_thr'])
        keep = keep[: cfg['max_per_img']] if cfg.get('max_per_img', -1) > 0 else keep
        return decoded[keep], scores[keep], labels[keep]

    def masks(self, feats: tuple, boxes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """mmdet's ``predict_mask``: each mask head's sigmoid (the cascade's stages averaged, as
        ``merge_aug_masks`` does), the detected class's channel."""
        if not self.mask_heads:
            return torch.zeros_like(boxes[:, :1])[:, :, None]
        rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], dim=1)
        probs = []
        for stage, head in enumerate(self.mask_heads):
            extractor = self.mask_extractors[min(stage, len(self.mask_extractors) - 1)]
            roi_feats = extract_rois(extractor, feats[: len(extractor.featmap_strides)], rois)
            probs.append(head(roi_feats).sigmoid())
        prob = probs[0] if len(probs) == 1 else torch.stack(probs).mean(dim=0)
        if self.mask_heads[-1].class_agnostic:
            return prob[:, 0]
        size = prob.shape[-2:]
        index = labels[:, None, None, None].expand(-1, 1, *size)
        return torch.gather(prob, 1, index)[:, 0]


# ---------------------------------------------------------------------------- parity
def match_detections(reference: tuple, outputs: tuple, box_tol: float = 1.0, score_tol: float = 1e-3) -> dict:
    """How well ``outputs`` (boxes, scores, labels[, masks]) reproduce ``reference``'s detections: each
    reference detection is matched by an unused output of the same label whose every box coordinate is within
    ``box_tol`` pixels and whose score is within ``score_tol``. Returns the matched fraction (1.0 for no
    reference detections), the counts, and the largest box, score and mask-probability differences over the
    matches."""
    ref = [torch.as_tensor(x).float() for x in reference]
    out = [torch.as_tensor(x).float() for x in outputs]
    used, matched, box_diff, score_diff, mask_diff = set(), 0, 0.0, 0.0, 0.0
    for i in range(len(ref[0])):
        close = (out[0] - ref[0][i]).abs().amax(dim=1) if len(out[0]) else torch.zeros(0)
        ok = (close <= box_tol) & ((out[1] - ref[1][i]).abs() <= score_tol) & (out[2] == ref[2][i])
        candidates = [j for j in torch.nonzero(ok).flatten().tolist() if j not in used]
        if not candidates:
            continue
        j = min(candidates, key=lambda j: float(close[j]))
        used.add(j)
        matched += 1
        box_diff = max(box_diff, float(close[j]))
        score_diff = max(score_diff, float((out[1][j] - ref[1][i]).abs()))
        if len(ref) > 3 and len(out) > 3:
            mask_diff = max(mask_diff, float((out[3][j] - ref[3][i]).abs().max()))
    n = len(ref[0])
    return {
        'matched': matched / n if n else 1.0,
        'reference': n,
        'outputs': len(out[0]),
        'box_diff': box_diff,
        'score_diff': score_diff,
        'mask_diff': mask_diff,
    }
