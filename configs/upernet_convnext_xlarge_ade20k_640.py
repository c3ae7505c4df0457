# UperNet + ConvNeXt-XL with ImageNet-22K weights, ADE20K, 640x640 (paper: 53.6 / 54.0 mIoU).
_base_ = './upernet_convnext_base_ade20k_640.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_xlarge_22k_224.pth'
model = dict(
    backbone=dict(arch='xlarge', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[256, 512, 1024, 2048]),
    auxiliary_head=dict(in_channels=1024),
)
optim_wrapper = dict(optimizer=dict(lr=8e-5))
