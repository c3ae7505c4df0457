# UperNet + ConvNeXt-B, ADE20K, 512x512 (paper: 49.1 / 49.9 mIoU).
_base_ = './upernet_convnext_small_ade20k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
)
