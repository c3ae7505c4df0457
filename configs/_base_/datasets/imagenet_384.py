# ImageNet-1K at 384 (the fine-tunes): RandomResizedCrop 384 (bicubic) for training;
# evaluation resizes to 384x384 directly, without a centre crop (the official evaluation
# at 384). Not a dataset of its own but a switch laid over a 224 config: mmengine refuses
# two bases that define the same name, so these names end in _384, and the 384 config
# lists this file after its 224 base(s) and applies it:
#     img_size, train_pipeline, test_pipeline = _base_.img_size_384, _base_.train_pipeline_384, _base_.test_pipeline_384
#     train_dataloader = dict(batch_size=..., dataset=dict(pipeline=train_pipeline))
#     val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
#     test_dataloader = val_dataloader
img_size_384 = 384
train_pipeline_384 = [
    dict(type='LoadImageFromFile'),
    dict(type='mmconvnext.RandomResizedCrop', scale=img_size_384, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmconvnext.PackClsInputs'),
]
test_pipeline_384 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size_384, img_size_384), keep_ratio=False, interpolation='bicubic'),
    dict(type='mmconvnext.PackClsInputs'),
]
