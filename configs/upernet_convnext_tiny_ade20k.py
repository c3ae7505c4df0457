# UperNet + ConvNeXt-T, ADE20K, 512x512, 160k iterations x 16 images (paper: 46.0 / 46.7 mIoU).
_base_ = [
    './_base_/models/upernet_convnext.py',
    './_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/adamw_layer_decay_160k.py',
]
# ImageNet-1K weights of the backbone: a path or URL, any format mmconvnext reads
# (official, timm, mmpretrain, or a checkpoint of our own classification configs).
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
model = dict(backbone=dict(arch='tiny', drop_path_rate=0.4, init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(num_layers=6))
