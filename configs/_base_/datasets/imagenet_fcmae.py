# ImageNet-1K images for FCMAE pre-training (labels unused): the official "simple
# augmentation", RandomResizedCrop 224 over 20-100% of the image area (bicubic) and a
# horizontal flip. Validation (this toolkit's addition; the official script has none): the
# masked-patch loss on the val images at 224 (short side 256, centre crop), with a fixed
# mask per image, and pictures of the reconstructions. 128 images x 32 processes = 4096.
_base_ = ['./imagenet_224.py']
img_size = 224
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmconvnext.RandomResizedCrop', scale=img_size, crop_scale=(0.2, 1.0), interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmconvnext.PackClsInputs'),
]
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(_delete_=True, type='mmconvnext.ReconstructionLoss')
test_evaluator = val_evaluator
