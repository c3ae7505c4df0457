# ImageNet-1K at 224: data/imagenet/{train,val}/<class>/<image> (the ImageFolder layout;
# for the annotation-file layout set ann_file='meta/train.txt' etc.). Training crops
# RandomResizedCrop 224 (bicubic) + horizontal flip per image; the batch augmentations
# live in the model's data preprocessor. Evaluation: short side to 224/0.875 = 256
# (bicubic), centre crop 224. 128 images per process (x 32 processes = 4096).
dataset_type = 'mmconvnext.ImageNetDataset'
data_root = 'data/imagenet/'
img_size = 224
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmconvnext.RandomResizedCrop', scale=img_size, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmconvnext.PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # scale=(long edge bound, short edge): keep_ratio resizes the short side to 256
    dict(type='Resize', scale=(100_000, int(img_size / 0.875)), keep_ratio=True, interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='mmconvnext.PackClsInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='val', pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='mmconvnext.Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
