# The embedded demo (tools/demo.py, `make demo`): UperNet + ConvNeXt-atto trained from
# scratch on the generated shapes dataset (ADE20K layout, 5 classes, 128x128 images),
# small enough for a 2-core CPU in a few minutes. The model, optimizer (layer decay),
# runtime and tools are the ADE20K configs' own; only sizes and the schedule shrink.
_base_ = ['./_base_/models/upernet_convnext.py', 'mmseg::_base_/default_runtime.py']
data_root = 'data/shapes_ade/ADEChallengeData2016'  # written by mmconvnext.datasets.make_shapes_dataset
crop_size = (128, 128)
num_classes = 5
classifier_init = dict(type='Normal', std=0.1, override=dict(name='conv_seg'))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='atto', drop_path_rate=0.0),
    # trained from scratch here: the classifiers' usual std-0.01 init (made for pretrained
    # backbones) left every pixel "background" for hundreds of iterations
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=64, num_classes=num_classes, init_cfg=classifier_init),
    auxiliary_head=dict(in_channels=160, channels=32, num_classes=num_classes, init_cfg=classifier_init),
    test_cfg=dict(_delete_=True, mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
dataset = dict(type='mmconvnext.ShapesADE20KDataset', data_root=data_root)
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 1200
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-3, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=50, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
