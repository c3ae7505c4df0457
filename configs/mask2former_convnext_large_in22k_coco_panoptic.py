# Mask2Former + ConvNeXt-L with ImageNet-22K weights, COCO panoptic segmentation: the T recipe
# with 200 queries, as the Mask2Former paper gives its largest backbone (Swin-L). The paper also
# trains Swin-L for 100 epochs; this config keeps the 50 of the recipe.
_base_ = './mask2former_convnext_tiny_coco_panoptic.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    panoptic_head=dict(in_channels=[192, 384, 768, 1536], num_queries=200),
    test_cfg=dict(max_per_image=200),
)
