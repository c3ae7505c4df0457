# UperNet + ConvNeXt-B with ImageNet-22K weights, ADE20K, 640x640 (paper: 52.6 / 53.1 mIoU).
_base_ = [
    './_base_/models/upernet_convnext.py',
    './_base_/datasets/ade20k_640.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/adamw_layer_decay_160k.py',
]
crop_size = (640, 640)  # as in the dataset base
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_22k_224.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='base', drop_path_rate=0.4, init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
    test_cfg=dict(crop_size=crop_size, stride=(426, 426)),
)
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(num_layers=12))
