# ConvNeXt-L ImageNet-22K -> 1K fine-tune at 224: 30 epochs, lr 5e-5, layer decay 0.8, drop path
# 0.3, head init scale 0.001, no Mixup/CutMix (RandAugment, Erasing, smoothing stay);
# 32 images x 16 processes = 512. `checkpoint` is the 22K model: the official file, or
# a convnext_large_in22k.py checkpoint of this toolkit (--cfg-options model.backbone.init_cfg.checkpoint=PATH).
_base_ = [
    './_base_/models/convnext_classifier_finetune.py',
    './_base_/datasets/imagenet_224.py',
    './_base_/schedules/imagenet_finetune_30e.py',
    './_base_/default_runtime_cls.py',
]
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_large_22k_224.pth'
model = dict(backbone=dict(arch='large', drop_path_rate=0.3, init_cfg=dict(checkpoint=checkpoint)))
train_dataloader = dict(batch_size=32)
