# Mask R-CNN + ConvNeXt-T, COCO, 36 epochs, multi-scale (DETR recipe) (paper: 46.2 box / 41.7 mask AP).
_base_ = [
    './_base_/models/mask_rcnn_convnext_fpn.py',
    './_base_/datasets/coco_instance_ms_crop.py',
    './_base_/schedules/adamw_layer_decay_3x.py',
    'mmdet::_base_/default_runtime.py',
]
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
model = dict(backbone=dict(arch='tiny', drop_path_rate=0.4, init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.95, num_layers=6))
