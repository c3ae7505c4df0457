# ConvNeXt-L on ImageNet-1K, 300 epochs at 224 (the paper's recipe; drop path 0.5).
# 64 images x 64 processes = 4096; another batch scales the lr (auto_scale_lr).
_base_ = [
    './_base_/models/convnext_classifier.py',
    './_base_/datasets/imagenet_224.py',
    './_base_/schedules/imagenet_300e.py',
    './_base_/default_runtime_cls.py',
]
model = dict(backbone=dict(arch='large', drop_path_rate=0.5))
train_dataloader = dict(batch_size=64)
