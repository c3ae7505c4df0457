# Mask2Former + ConvNeXt-L with ImageNet-22K weights, COCO instance segmentation: the T recipe
# with 200 queries (the Mask2Former paper's choice for its largest backbone).
_base_ = './mask2former_convnext_tiny_coco.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    panoptic_head=dict(in_channels=[192, 384, 768, 1536], num_queries=200),
    test_cfg=dict(max_per_image=200),
)
