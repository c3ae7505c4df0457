"""Segmentation (mmseg ``EncoderDecoder``: UperNet): one graph, ``segmentor``, image batch -> the decode head's
logits resized to the input size (what ``encode_decode`` returns for a whole image or a slide crop); at runtime
it replaces ``encode_decode``, mmseg's whole/slide inference and resizing stay; a record holds the pixels per
class."""

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from . import DeployTask, image_part, register


class _Logits(nn.Module):
    """``encode_decode`` without metas: the decode head's logits resized to the input's size."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.model.decode_head
        feats = self.model.extract_feat(x)
        if 'batch_data_samples' in inspect.signature(head.forward).parameters:
            # a mask-classification head (Mask2Former): its predict gives the per-class logits at the input size
            # (class probabilities x mask probabilities, what mmseg resizes and arg-maxes like any head's)
            size = tuple(x.shape[2:])
            metas = [dict(img_shape=size, pad_shape=size, batch_input_shape=size)] * x.shape[0]
            return head.predict(feats, metas, self.model.test_cfg)
        logits = head.forward(feats)
        return F.interpolate(logits, size=x.shape[2:], mode='bilinear', align_corners=head.align_corners)


def _seg_logits(graph, inputs: torch.Tensor, metas: list, head: nn.Module) -> torch.Tensor:
    """What mmseg's ``encode_decode`` returns: the graph already resizes to the input, which is the size mmseg's
    ``predict_by_feat`` resizes to (the slide crop, or the padded batch)."""
    out = graph(inputs)[0]
    meta = metas[0]
    size = meta['img_shape'] if isinstance(meta['img_shape'], torch.Size) else meta.get('pad_shape', meta['img_shape'])
    if tuple(size[:2]) != tuple(out.shape[2:]):
        from mmseg.models.utils import resize

        out = resize(out, size=tuple(size[:2]), mode='bilinear', align_corners=head.align_corners)
    return out


@register
class Segmentation(DeployTask):
    name = 'segmentation'

    def matches(self, model: nn.Module) -> bool:
        from mmseg.models.segmentors import EncoderDecoder

        return isinstance(model, EncoderDecoder)

    def parts(self, model, image, image_axes, dynamic) -> list:
        return [image_part('segmentor', _Logits(model), image, image_axes, 'seg_logits')]

    def attach(self, model, graph) -> None:
        seg = graph('segmentor')
        model.encode_decode = lambda inputs, metas: _seg_logits(seg, inputs, metas, model.decode_head)

    def record(self, sample, class_name) -> dict:
        labels, counts = torch.unique(sample.pred_sem_seg.data, return_counts=True)
        return {'pixels_per_class': {str(class_name(int(k))): int(c) for k, c in zip(labels, counts)}}
