# ImageNet-1K at 384 (the fine-tunes): RandomResizedCrop 384 for training; evaluation
# resizes to 384x384 directly, without a centre crop (the official evaluation at 384).
_base_ = './imagenet_224.py'
img_size = 384
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmconvnext.RandomResizedCrop', scale=img_size, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmconvnext.PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False, interpolation='bicubic'),
    dict(type='mmconvnext.PackClsInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
