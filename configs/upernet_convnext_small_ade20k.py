# UperNet + ConvNeXt-S, ADE20K, 512x512 (paper: 48.7 / 49.6 mIoU).
_base_ = './upernet_convnext_tiny_ade20k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_small_1k_224.pth'
model = dict(backbone=dict(arch='small', drop_path_rate=0.3, init_cfg=dict(checkpoint=checkpoint)))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
