# Cascade Mask R-CNN + ConvNeXt-B with ImageNet-22K weights, COCO 3x (paper: 54.0 box / 46.9 mask AP).
_base_ = './cascade_mask_rcnn_convnext_base_coco_3x.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_224.pth'
model = dict(backbone=dict(drop_path_rate=0.6, init_cfg=dict(checkpoint=checkpoint)))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
