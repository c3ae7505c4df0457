# The demo's classification pretraining (tools/demo.py, `make demo`): configs/convnext_tiny_in1k.py --
# model, optimizer (AdamW, weight decay 0.05, no decay on norms and biases), label smoothing, schedule shape
# (linear warm-up, cosine), runtime -- shrunk in size and schedule to a 2-core CPU and about two minutes:
# ConvNeXt-atto on generated shapes in the ImageNet folder layout (4 classes: disc, box, triangle, ring;
# 3200 object-centred 32x32 training and 1600 validation images as tools/demo.py writes them), 32 images
# a batch, 5 epochs.
# What five epochs on a few thousand images cannot absorb is switched off: RandAugment, Random Erasing,
# Mixup/CutMix, EMA, drop path (the recipe's regularisers for 300 ImageNet epochs) and the random
# resized crop (at 32x32 its crops cut the shape off and its resampling blurs the fill textures that tell
# the classes apart; with it, the run stayed at chance for three epochs). Its checkpoint initialises the
# backbone of the segmentation and detection demos.
_base_ = './convnext_tiny_in1k.py'
data_root = 'data/shapes_cls/imagenet'  # written by mmconvnext.datasets.make_shapes_imagenet
img_size = 32
model = dict(
    # the plain pointwise ops: at 32x32 the layers are so small that oneDNN's per-call cost dominates
    # (a training step of this model, batch 32: 306 ms with oneDNN, 232 ms plain; 1 thread, AMD EPYC)
    backbone=dict(arch='atto', drop_path_rate=0.0, onednn_cpu=False),
    num_classes=4,
    data_preprocessor=dict(rand_augment=None, random_erasing=None, mixup_cutmix=None),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmconvnext.PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmconvnext.PackClsInputs'),  # the images are already img_size
]
# batches made in the training process: with one loader worker, receiving each batch of 32 tiny images
# (a shared-memory file per tensor) cost more than making it; two epochs took 61 s, without the worker 54 s
# (1 thread, AMD EPYC), the same images in the same order
loader = dict(batch_size=32, num_workers=0, persistent_workers=False, pin_memory=False)
train_dataloader = dict(loader, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(loader, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 5
warmup_epochs = 1
optim_wrapper = dict(optimizer=dict(lr=5e-4))
auto_scale_lr = dict(enable=False)  # the lr above is for this batch, not scaled from 4096
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
val_cfg = dict(_delete_=True, type='ValLoop')
custom_hooks = []
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
