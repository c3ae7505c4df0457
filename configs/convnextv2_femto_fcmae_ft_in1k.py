# ConvNeXt V2-F fine-tuned on ImageNet-1K from its FCMAE pre-training (V2 paper: 78.5
# top-1 at 224). TRAINING.md lists no V2-F command; the paper's appendix Table 9 gives the
# atto recipe (convnextv2_atto_fcmae_ft_in1k.py: 600 epochs, base lr 2e-4, 'single' decay
# 0.9 over the 12 blocks, smoothing 0.2, ...) with weight decay 0.05, drop path 0 and
# Mixup 0.3 / CutMix 0.3.
# `checkpoint`: the official FCMAE encoder, or a configs/fcmae_convnextv2_femto_in1k.py
# checkpoint of this toolkit via --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = './convnextv2_atto_fcmae_ft_in1k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_femto_1k_224_fcmae.pt'
model = dict(
    backbone=dict(arch='femto', drop_path_rate=0.0, init_cfg=dict(checkpoint=checkpoint)),
    data_preprocessor=dict(mixup_cutmix=dict(_delete_=True, mixup_alpha=0.3, cutmix_alpha=0.3, switch_prob=0.5)),
)
optim_wrapper = dict(optimizer=dict(weight_decay=0.05))
