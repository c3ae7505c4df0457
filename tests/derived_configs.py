"""Derived configs the tool tests share: a real config shrunk to a tiny model and small images."""

#: Mask R-CNN / Cascade Mask R-CNN shrunk: an 8..64-channel backbone, a 32-channel FPN / RPN / RoI heads,
#: 160x128 images, one epoch. ``{base}``: the real config; ``{bbox_head}``: entries for the bbox head(s)
#: (a dict for Mask R-CNN; Cascade's list of three is shrunk with --cfg-options instead), ``{rcnn}``: the
#: R-CNN sampler's entries of ``train_cfg``.
DET_TINY = """
_base_ = '{base}'
model = dict(
    backbone=dict(arch=dict(_delete_=True, depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]), init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict({bbox_head}
        bbox_roi_extractor=dict(out_channels=32),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32)),
    train_cfg=dict(rpn_proposal=dict(max_per_img=200){rcnn}),
    test_cfg=dict(rpn=dict(max_per_img=100), rcnn=dict(score_thr=0.0)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(loader, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(loader, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
"""
#: the Mask R-CNN entries of DET_TINY
MASK_RCNN_HEADS = dict(
    bbox_head='\n        bbox_head=dict(in_channels=32, fc_out_channels=64),', rcnn=', rcnn=dict(sampler=dict(num=64))'
)


def det_tiny(base: str, mask_rcnn: bool = True) -> str:
    """DET_TINY over ``base``, with the Mask R-CNN bbox head entries or none (Cascade)."""
    return DET_TINY.format(base=base, **(MASK_RCNN_HEADS if mask_rcnn else dict(bbox_head='', rcnn='')))


#: the UperNet tests' schedule: two iterations, validated and saved at the end
SEG_SCHEDULE = """train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""
#: the segmentation demo's multi-scale test (two scales, flipped), for --tta
SEG_TTA = """tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0)],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]]),
]
"""


def seg_tiny(
    base: str,
    depths: tuple = (1, 1, 1, 1),
    test_cfg: str = "dict(_delete_=True, mode='whole')",
    photometric: bool = True,
    cat_max_ratio: bool = True,
    train_batch: int = 0,
    workers: int = 0,
    tta: bool = False,
    schedule: str = SEG_SCHEDULE,
) -> str:
    """The UperNet config ``base`` shrunk: an 8..64-channel backbone of ``depths``, 16/8-channel heads, 32x32
    crops of 64x32-resized images (random resize, crop, flip and, with ``photometric``, colour distortion),
    ``test_cfg`` for the model, ``workers`` loader processes (persistent when any), a training batch of
    ``train_batch`` (0: the config's), the ``schedule`` text, and the ``tta`` pipeline."""
    crop = "dict(type='RandomCrop', crop_size=crop_size" + (', cat_max_ratio=0.75)' if cat_max_ratio else ')')
    photo = "    dict(type='PhotoMetricDistortion'),\n" if photometric else ''
    batch = f'batch_size={train_batch}, ' if train_batch else ''
    return f"""
_base_ = '{base}'
crop_size = (32, 32)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=dict(_delete_=True, depths={list(depths)}, channels=[8, 16, 32, 64]), init_cfg=None),
    decode_head=dict(in_channels=[8, 16, 32, 64], channels=16),
    auxiliary_head=dict(in_channels=32, channels=8),
    test_cfg={test_cfg})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(64, 32), ratio_range=(0.5, 2.0), keep_ratio=True),
    {crop},
    dict(type='RandomFlip', prob=0.5),
{photo}    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 32), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
{SEG_TTA if tta else ''}loader = dict(num_workers={workers}, persistent_workers={workers > 0})
train_dataloader = dict(loader, {batch}dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
{schedule}"""


#: Mask2Former heads shrunk (mmseg's ``decode_head`` or mmdet's ``panoptic_head``): 32-channel features and
#: queries, a one-layer pixel decoder, three decoder layers (one per feature level), 8 queries; ``{extra}``:
#: more entries of the head
MASK2FORMER_TINY_HEAD = """dict(
        in_channels=[8, 16, 32, 64], feat_channels=32, out_channels=32, num_queries=8,
        pixel_decoder=dict(
            encoder=dict(num_layers=1, layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=32, num_heads=4), ffn_cfg=dict(embed_dims=32, feedforward_channels=64))),
            positional_encoding=dict(num_feats=16)),
        positional_encoding=dict(num_feats=16),
        transformer_decoder=dict(num_layers=3, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=32, num_heads=4), cross_attn_cfg=dict(embed_dims=32, num_heads=4),
            ffn_cfg=dict(embed_dims=32, feedforward_channels=64))){extra})"""
MASK2FORMER_BACKBONE = 'dict(arch=dict(_delete_=True, depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]), init_cfg=None)'


def mask2former_seg_tiny(base: str) -> str:
    """The semantic Mask2Former config ``base`` shrunk: the tiny backbone and heads, 64x64 crops of 64x64-resized
    images (the recipe's transforms otherwise), one iteration, validated at its end."""
    return f"""
_base_ = '{base}'
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone={MASK2FORMER_BACKBONE},
    decode_head={MASK2FORMER_TINY_HEAD.format(extra=', train_cfg=dict(num_points=256)')})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomChoiceResize', scales=[48, 64, 80], resize_type='ResizeShortestEdge', max_size=160),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(loader, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(loader, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=1, val_interval=1)
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=1, by_epoch=False)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, save_best=None))
"""


def mask2former_det_tiny(base: str, data_root: str, panoptic: bool) -> str:
    """mmdet's Mask2Former config ``base`` shrunk for the shapes data of ``make_shapes_coco(_panoptic)`` at
    ``data_root``: the tiny backbone and head, 256 sampled points, 64x64 large-scale-jitter crops (0.5-1.5),
    64x64 test images, one iteration, validated at its end. Panoptic: the four shapes as things and
    ``background`` as stuff; instances: the config's 80 classes, for ``--data-root`` to set from the json."""
    things, stuff = ('disc', 'box', 'triangle', 'ring'), ('background',)
    classes = things + stuff
    # panoptic: the config names its classes; instances: --data-root sets them from the json (80 -> 4)
    head = MASK2FORMER_TINY_HEAD.format(
        extra=', num_things_classes=4, num_stuff_classes=1, loss_cls=dict(class_weight=[1.0] * 5 + [0.1])'
        if panoptic
        else ''
    )
    fusion = 'dict(num_things_classes=4, num_stuff_classes=1)' if panoptic else 'dict()'
    metainfo = dict(classes=classes, thing_classes=things, stuff_classes=stuff) if panoptic else None
    load = (
        "dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True)"
        if panoptic
        else "dict(type='LoadAnnotations', with_bbox=True, with_mask=True)"
    )
    return f"""
_base_ = '{base}'
image_size = (64, 64)
model = dict(
    data_preprocessor=dict(batch_augments=[dict(
        type='BatchFixedSizePad', size=image_size, img_pad_value=0, pad_mask=True, mask_pad_value=0,
        pad_seg={panoptic}, seg_pad_value=255)]),
    backbone={MASK2FORMER_BACKBONE},
    panoptic_head={head},
    panoptic_fusion_head={fusion},
    train_cfg=dict(num_points=256),
    test_cfg=dict(max_per_image=10))
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    {load},
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.5, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute', recompute_bbox=True, allow_negative_crop=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    {load},
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
loader = dict(batch_size=2, num_workers=0, persistent_workers=False)
dataset = dict(data_root='{data_root}'{f', metainfo={metainfo!r}' if metainfo else ''})
train_dataloader = dict(loader, dataset=dict(dataset, pipeline=train_pipeline))
val_dataloader = dict(loader, dataset=dict(dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
max_iters = 1
train_cfg = dict(max_iters=max_iters, val_interval=1, dynamic_intervals=None)
param_scheduler = dict(end=max_iters, milestones=[1])
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
log_processor = dict(window_size=1)
"""
