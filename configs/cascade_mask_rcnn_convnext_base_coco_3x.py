# Cascade Mask R-CNN + ConvNeXt-B, COCO 3x (paper: 52.7 box / 45.6 mask AP).
_base_ = './cascade_mask_rcnn_convnext_small_coco_3x.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.7, init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[128, 256, 512, 1024]),
)
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
