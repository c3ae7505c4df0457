# ConvNeXt V2-T fine-tuned on ImageNet-1K from its FCMAE pre-training (V2 paper: 83.0
# top-1 at 224). Sources: ConvNeXt-V2 TRAINING.md (the V2-T command) and the paper's
# appendix Table 10: 300 epochs, 40 warm-up, base lr 8e-4 per 256 images, 'single' layer
# decay 0.9 (one lr per block, 18 blocks -> num_layers 18; mmconvnext's decay_type
# 'block_wise'), weight decay 0.05, drop path 0.2, Random Erasing 0.25, Mixup 0.8 / CutMix
# 1.0, label smoothing 0.1, EMA 0.9999. Batch 1024 (32 images x 32 processes here).
# `checkpoint`: the official FCMAE encoder, or a configs/fcmae_convnextv2_tiny_in1k.py
# checkpoint of this toolkit via --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    './_base_/models/convnextv2_classifier_finetune.py',
    './_base_/datasets/imagenet_224.py',
    './_base_/schedules/imagenet_v2_finetune_100e.py',
    './_base_/default_runtime_cls.py',
]
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_tiny_1k_224_fcmae.pt'
model = dict(backbone=dict(arch='tiny', drop_path_rate=0.2, init_cfg=dict(checkpoint=checkpoint)))
train_dataloader = dict(batch_size=32)
max_epochs = 300
warmup_epochs = 40
lr = 8e-4 * 1024 / 256
optim_wrapper = dict(optimizer=dict(lr=lr), paramwise_cfg=dict(decay_rate=0.9, decay_type='block_wise', num_layers=18))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / lr,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=max_epochs)
