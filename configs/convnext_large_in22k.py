# ConvNeXt-L pre-trained on ImageNet-22K (21841 classes), 90 epochs at 224, drop
# path 0.1; 32 images x 128 processes = 4096. No validation and no EMA, as the official run.
_base_ = [
    './_base_/models/convnext_classifier.py',
    './_base_/datasets/imagenet22k.py',
    './_base_/schedules/imagenet22k_90e.py',
    './_base_/default_runtime_cls.py',
]
model = dict(backbone=dict(arch='large', drop_path_rate=0.1), num_classes=21841)
