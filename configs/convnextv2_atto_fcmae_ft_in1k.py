# ConvNeXt V2-A fine-tuned on ImageNet-1K from its FCMAE pre-training (V2 paper: 76.7
# top-1 at 224). Sources: ConvNeXt-V2 TRAINING.md (the V2-A command) and the paper's
# appendix Table 9: 600 epochs, no warm-up (cosine from the first step), base lr 2e-4 per
# 256 images, 'single' layer decay 0.9 (one lr per block, 12 blocks -> num_layers 12;
# mmconvnext's decay_type 'block_wise'), weight decay 0.3, drop path 0.1, Random Erasing
# 0.25, no Mixup/CutMix, label smoothing 0.2, EMA 0.9999. Batch 1024 (32 images x 32
# processes here). The femto/pico/nano configs start from this one.
# `checkpoint`: the official FCMAE encoder, or a configs/fcmae_convnextv2_atto_in1k.py
# checkpoint of this toolkit via --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    './_base_/models/convnextv2_classifier_finetune.py',
    './_base_/datasets/imagenet_224.py',
    './_base_/schedules/imagenet_v2_finetune_100e.py',
    './_base_/default_runtime_cls.py',
]
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_atto_1k_224_fcmae.pt'
model = dict(
    backbone=dict(arch='atto', drop_path_rate=0.1, init_cfg=dict(checkpoint=checkpoint)),
    label_smoothing=0.2,
    data_preprocessor=dict(mixup_cutmix=None),
)
train_dataloader = dict(batch_size=32)
max_epochs = 600
lr = 2e-4 * 1024 / 256
optim_wrapper = dict(
    optimizer=dict(lr=lr, weight_decay=0.3),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='block_wise', num_layers=12),
)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / lr,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=max_epochs)
