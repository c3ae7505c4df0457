# Cascade Mask R-CNN + ConvNeXt-XL with ImageNet-22K weights, COCO 3x (paper: 55.2 box / 47.7 mask AP).
_base_ = './cascade_mask_rcnn_convnext_large_in22k_coco_3x.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_xlarge_22k_224.pth'
model = dict(
    backbone=dict(arch='xlarge', drop_path_rate=0.8, init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)
