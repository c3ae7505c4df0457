# UperNet + ConvNeXt V2-L, ADE20K, 512x512 crops (V2 paper, Table 7: 53.7 mIoU with the
# multi-scale test; 235M params, 1573 GFLOPs at 2048x512). Sources and the settings the
# paper leaves open: see upernet_convnextv2_base_ade20k.py, whose recipe this keeps; lr 1e-4
# and drop path 0.4 are those of the V1-L config (upernet_convnext_large_ade20k_640.py).
_base_ = './upernet_convnextv2_base_ade20k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_large_1k_224_ema.pt'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768),
)
