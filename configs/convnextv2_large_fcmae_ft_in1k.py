# ConvNeXt V2-L fine-tuned on ImageNet-1K from its FCMAE pre-training (V2 paper: 85.8
# top-1 at 224). TRAINING.md lists no V2-L command; the paper's appendix Table 11 gives
# V2-L the V2-B recipe (convnextv2_base_fcmae_ft_in1k.py: 100 epochs, 'group' layer decay
# 0.6, ...) with drop path 0.2. Base lr 6.25e-4 per 256 images as TRAINING.md's V2-B
# (the table prints 6.25e-3 for B and L). 32 images x 32 processes = 1024.
# `checkpoint`: the official FCMAE encoder, or a configs/fcmae_convnextv2_large_in1k.py
# checkpoint of this toolkit via --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = './convnextv2_base_fcmae_ft_in1k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_large_1k_224_fcmae.pt'
model = dict(backbone=dict(arch='large', drop_path_rate=0.2, init_cfg=dict(checkpoint=checkpoint)))
