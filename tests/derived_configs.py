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
