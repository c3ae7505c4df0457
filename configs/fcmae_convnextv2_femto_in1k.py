# ConvNeXt V2-Femto FCMAE pre-training on ImageNet-1K images (no labels): the official
# recipe (see the _base_ files); its checkpoint initialises configs/convnextv2_femto_fcmae_ft_in1k.py
# and the V2 dense configs through their backbone init_cfg (the encoder is saved as backbone.*).
_base_ = [
    './_base_/models/fcmae_convnextv2.py',
    './_base_/datasets/imagenet_fcmae.py',
    './_base_/schedules/fcmae_1600e.py',
    './_base_/default_runtime_cls.py',
]
model = dict(backbone=dict(arch='femto'))
