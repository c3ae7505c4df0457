# UperNet + ConvNeXt V2-H, ADE20K, 512x512 crops (V2 paper, Table 7: 55.0 mIoU with the
# multi-scale test; 707M params, 3272 GFLOPs at 2048x512). Sources and the settings the
# paper leaves open: see upernet_convnextv2_base_ade20k.py, whose recipe this keeps. V1 has
# no Huge: lr 1e-4 and drop path 0.4 are the V1-B/L values (both inside the paper's grids;
# the V1-XL config's 8e-5 is not).
_base_ = './upernet_convnextv2_base_ade20k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_huge_1k_224_ema.pt'
model = dict(
    backbone=dict(arch='huge', drop_path_rate=0.4, init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[352, 704, 1408, 2816]),
    auxiliary_head=dict(in_channels=1408),
)
