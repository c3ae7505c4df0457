"""Synthetic batches shaped like each task's real ones, and model configs narrowed for quick runs: what the
analysis tools (benchmark, gpu_check) and the tests feed a model without a dataset."""

from typing import Optional, Union

import torch

__all__ = ['dummy_batch', 'fit_heads']


def fit_heads(model_cfg: dict, channels: list[int], width: Optional[int] = None) -> None:
    """Point a UperNet / DeepLabV3+ / Mask2Former / (Cascade) Mask R-CNN / classifier model config's necks and
    heads at a backbone with ``channels`` per stage, in place; with ``width``, also narrow every head (FPN, RPN,
    RoI heads, UPerHead, ASPP, Mask2Former's pixel decoder and transformer) to about ``width`` channels, for
    quick runs (a bf16 conv on a CPU without bf16 units is ~30x slower than fp32). Detectors also sample fewer
    RoIs (64 proposals, 32 sampled; 16 at test); Mask2Former keeps 8 queries, one pixel-decoder layer, three
    decoder layers and 256 points per mask."""
    mask2former = model_cfg.get('panoptic_head') or model_cfg.get('decode_head')
    if mask2former is not None and 'Mask2Former' in str(mask2former.get('type')):
        _fit_mask2former(model_cfg, mask2former, channels, width)
        return
    if 'decode_head' in model_cfg and isinstance(model_cfg['decode_head'].get('in_channels'), int):  # DeepLabV3+
        head, aux = model_cfg['decode_head'], model_cfg['auxiliary_head']
        stages = list(model_cfg['backbone'].get('out_indices', range(len(channels))))  # in_index: of the outputs
        head.update(in_channels=channels[stages[head['in_index']]], c1_in_channels=channels[stages[0]])
        aux.update(in_channels=channels[stages[aux['in_index']]])
        if width:
            head.update(channels=2 * width, c1_channels=width)
            aux.update(channels=width)
        return
    if 'decode_head' in model_cfg:  # UperNet
        model_cfg['decode_head'].update(in_channels=list(channels))
        model_cfg['auxiliary_head'].update(in_channels=channels[2])
        if width:
            model_cfg['decode_head'].update(channels=2 * width)
            model_cfg['auxiliary_head'].update(channels=width)
        return
    if 'neck' not in model_cfg:  # the classifier: nothing beyond the backbone's own width
        return
    model_cfg['neck'].update(in_channels=list(channels))
    if not width:
        return
    model_cfg['neck'].update(out_channels=width)
    model_cfg['rpn_head'].update(in_channels=width, feat_channels=width)
    roi = model_cfg['roi_head']
    roi['bbox_roi_extractor'].update(out_channels=width)
    roi['mask_roi_extractor'].update(out_channels=width)
    for head in roi['bbox_head'] if isinstance(roi['bbox_head'], list) else [roi['bbox_head']]:
        head.update(in_channels=width, fc_out_channels=2 * width)
        if head.get('num_shared_convs'):
            head.update(conv_out_channels=width)
    roi['mask_head'].update(in_channels=width, conv_out_channels=width)
    model_cfg['train_cfg']['rpn_proposal'].update(max_per_img=64)
    rcnn = model_cfg['train_cfg']['rcnn']
    for stage in rcnn if isinstance(rcnn, list) else [rcnn]:
        stage['sampler'].update(num=32)
    model_cfg['test_cfg']['rpn'].update(max_per_img=16)


def _fit_mask2former(model_cfg: dict, head: dict, channels: list[int], width: Optional[int]) -> None:
    head.update(in_channels=list(channels))
    if not width:
        return
    dims, ffn = 2 * width, 4 * width
    head.update(feat_channels=dims, out_channels=dims, num_queries=8)
    head['positional_encoding'].update(num_feats=width)
    decoder = head['pixel_decoder']
    decoder['positional_encoding'].update(num_feats=width)
    decoder['encoder'].update(num_layers=1)
    decoder['norm_cfg'] = dict(decoder.get('norm_cfg') or dict(type='GN'), num_groups=dims // 4)  # 4 channels a group
    decoder['encoder']['layer_cfg']['self_attn_cfg'].update(embed_dims=dims)
    decoder['encoder']['layer_cfg']['ffn_cfg'].update(embed_dims=dims, feedforward_channels=ffn)
    layer = head['transformer_decoder']['layer_cfg']
    head['transformer_decoder'].update(num_layers=3)
    layer['self_attn_cfg'].update(embed_dims=dims)
    layer['cross_attn_cfg'].update(embed_dims=dims)
    layer['ffn_cfg'].update(embed_dims=dims, feedforward_channels=ffn)
    # mmdet's Mask2Former hands its train_cfg to the head; mmseg's head carries its own
    train_cfg = model_cfg['train_cfg'] if 'panoptic_head' in model_cfg else head['train_cfg']
    train_cfg.update(num_points=256)


def dummy_batch(
    task: str, batch: int, h: int, w: int, num_classes: int = 80, device: str = 'cpu', seed: int = 0
) -> tuple[Union[torch.Tensor, list[torch.Tensor]], list]:
    """Inputs and data samples as a task's data preprocessor hands them to the model.

    ``task``: ``'seg'`` (``SegDataSample`` with a label map), ``'det'`` (``DetDataSample``
    with 8 boxes, labels and bitmap masks per image) or ``'cls'`` (``gt_label``). The
    inputs are a normalised-looking float batch; for ``'cls'`` uint8 images in a list,
    which :class:`mmconvnext.ClsDataPreprocessor` takes (its augmentations run on them).
    """
    from mmengine.structures import InstanceData, PixelData

    g = torch.Generator().manual_seed(seed)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w), scale_factor=(1.0, 1.0))
    if task == 'cls':
        from mmengine.structures import BaseDataElement

        images = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8).to(device) for _ in range(batch)]
        labels = torch.randint(0, num_classes, (batch,), generator=g)
        return images, [BaseDataElement(gt_label=labels[i : i + 1].to(device)) for i in range(batch)]
    inputs = torch.randn(batch, 3, h, w, generator=g).to(device)
    if task == 'seg':
        from mmseg.structures import SegDataSample

        samples = []
        for _ in range(batch):
            s = SegDataSample(metainfo=meta)
            s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, h, w), generator=g).to(device))
            samples.append(s)
        return inputs, samples
    if task != 'det':
        raise ValueError(f"task must be 'seg', 'det' or 'cls', got {task!r}")
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks

    samples = []
    for _ in range(batch):
        s = DetDataSample(metainfo=meta)
        xy = torch.rand(8, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
        wh = 32 + torch.rand(8, 2, generator=g) * torch.tensor([w * 0.25, h * 0.25])
        boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([w - 1.0, h - 1.0]))], 1)
        masks = torch.zeros(8, h, w, dtype=torch.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.round().long().tolist()):
            masks[i, y1:y2, x1:x2] = 1
        s.gt_instances = InstanceData(
            bboxes=boxes.to(device),
            labels=torch.randint(0, num_classes, (8,), generator=g).to(device),
            masks=BitmapMasks(masks.numpy(), h, w),
        )
        samples.append(s)
    return inputs, samples
