# ConvNeXt V2-B fine-tuned on ImageNet-1K from its FCMAE pre-training (V2 paper: 84.9
# top-1 at 224). Sources: ConvNeXt-V2 TRAINING.md (the V2-B command) and the paper's
# appendix Table 11: 100 epochs, 20 warm-up, base lr 6.25e-4 per 256 images, 'group' layer
# decay 0.6, weight decay 0.05, drop path 0.1, Random Erasing 0.25, Mixup 0.8 / CutMix
# 1.0, label smoothing 0.1, EMA 0.9999 (see the _base_ files). The official batch is 1024
# (32 images x 32 GPUs): 32 images x 32 processes here; another batch rescales the lr.
# `checkpoint` is the official FCMAE encoder; a checkpoint of this toolkit's
# configs/fcmae_convnextv2_base_in1k.py (its encoder saved as backbone.*) goes in with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    './_base_/models/convnextv2_classifier_finetune.py',
    './_base_/datasets/imagenet_224.py',
    './_base_/schedules/imagenet_v2_finetune_100e.py',
    './_base_/default_runtime_cls.py',
]
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_base_1k_224_fcmae.pt'
model = dict(backbone=dict(arch='base', drop_path_rate=0.1, init_cfg=dict(checkpoint=checkpoint)))
train_dataloader = dict(batch_size=32)
