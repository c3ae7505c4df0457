# Cascade Mask R-CNN + ConvNeXt-L with ImageNet-22K weights, COCO 3x (paper: 54.8 box / 47.6 mask AP).
_base_ = './cascade_mask_rcnn_convnext_base_in22k_coco_3x.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.7, init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[192, 384, 768, 1536]),
)
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.7, num_layers=12))
