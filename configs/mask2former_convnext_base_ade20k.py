# Mask2Former + ConvNeXt-B, ADE20K semantic segmentation, 512x512 (recipe: the T config).
_base_ = './mask2former_convnext_tiny_ade20k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224.pth'
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
)
