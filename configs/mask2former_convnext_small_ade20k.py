# Mask2Former + ConvNeXt-S, ADE20K semantic segmentation, 512x512 (recipe: the T config).
_base_ = './mask2former_convnext_tiny_ade20k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_small_1k_224.pth'
model = dict(backbone=dict(arch='small', drop_path_rate=0.3, init_cfg=dict(checkpoint=checkpoint)))
