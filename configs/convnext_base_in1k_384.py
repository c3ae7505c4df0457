# ConvNeXt-B ImageNet-1K fine-tune from 224 to 384: 30 epochs, lr 5e-5, layer decay 0.7, drop
# path 0.8, head init scale 0.001, no Mixup/CutMix; 32 images x 16 processes = 512.
# `checkpoint`: the official 1K model (EMA weights) or a convnext_base_in1k.py checkpoint
# (--cfg-options model.backbone.init_cfg.checkpoint=PATH).
_base_ = [
    './_base_/models/convnext_classifier_finetune.py',
    './_base_/datasets/imagenet_224.py',
    './_base_/schedules/imagenet_finetune_30e.py',
    './_base_/default_runtime_cls.py',
    './_base_/datasets/imagenet_384.py',
]
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_base_1k_224_ema.pth'
model = dict(backbone=dict(arch='base', drop_path_rate=0.8, init_cfg=dict(checkpoint=checkpoint)))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.7))
img_size, train_pipeline, test_pipeline = _base_.img_size_384, _base_.train_pipeline_384, _base_.test_pipeline_384
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
