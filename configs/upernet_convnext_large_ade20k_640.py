# UperNet + ConvNeXt-L with ImageNet-22K weights, ADE20K, 640x640 (paper: 53.2 / 53.7 mIoU).
_base_ = './upernet_convnext_base_ade20k_640.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768),
)
