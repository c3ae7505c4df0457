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
