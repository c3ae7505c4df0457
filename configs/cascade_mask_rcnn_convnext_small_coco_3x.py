# Cascade Mask R-CNN + ConvNeXt-S, COCO 3x (paper: 51.9 box / 45.0 mask AP).
_base_ = './cascade_mask_rcnn_convnext_tiny_coco_3x.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_small_1k_224.pth'
model = dict(backbone=dict(arch='small', drop_path_rate=0.6, init_cfg=dict(checkpoint=checkpoint)))
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(decay_rate=0.7, num_layers=12))
