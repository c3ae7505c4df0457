# ConvNeXt V2-N fine-tuned on ImageNet-1K from its FCMAE pre-training (V2 paper: 81.9
# top-1 at 224). TRAINING.md lists no V2-N command; the paper's appendix Table 9 gives the
# atto recipe (convnextv2_atto_fcmae_ft_in1k.py: 600 epochs, base lr 2e-4, weight decay
# 0.3, drop path 0.1, smoothing 0.2, ...) with Mixup 0.5 / CutMix 0.5; the 'single' decay
# 0.9 runs over nano's 14 blocks (num_layers 14).
# `checkpoint`: the official FCMAE encoder, or a configs/fcmae_convnextv2_nano_in1k.py
# checkpoint of this toolkit via --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = './convnextv2_atto_fcmae_ft_in1k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_nano_1k_224_fcmae.pt'
model = dict(
    backbone=dict(arch='nano', drop_path_rate=0.1, init_cfg=dict(checkpoint=checkpoint)),
    data_preprocessor=dict(mixup_cutmix=dict(_delete_=True, mixup_alpha=0.5, cutmix_alpha=0.5, switch_prob=0.5)),
)
optim_wrapper = dict(paramwise_cfg=dict(num_layers=14))
