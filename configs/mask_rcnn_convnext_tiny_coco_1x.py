# Mask R-CNN + ConvNeXt-T, COCO, 12 epochs, single scale 1333x800.
_base_ = [
    './_base_/models/mask_rcnn_convnext_fpn.py',
    './_base_/datasets/coco_instance.py',
    './_base_/schedules/adamw_layer_decay_1x.py',
    'mmdet::_base_/default_runtime.py',
]
# ImageNet-1K weights of the backbone: a path or URL in any format mmconvnext reads.
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
model = dict(backbone=dict(arch='tiny', drop_path_rate=0.4, init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.95, num_layers=6))
