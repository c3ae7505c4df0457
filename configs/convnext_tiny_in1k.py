# ConvNeXt-T on ImageNet-1K, 300 epochs at 224 (the paper's recipe; drop path 0.1).
# 128 images x 32 processes = 4096; another batch scales the lr (auto_scale_lr).
_base_ = [
    './_base_/models/convnext_classifier.py',
    './_base_/datasets/imagenet_224.py',
    './_base_/schedules/imagenet_300e.py',
    './_base_/default_runtime_cls.py',
]
model = dict(backbone=dict(arch='tiny', drop_path_rate=0.1))
