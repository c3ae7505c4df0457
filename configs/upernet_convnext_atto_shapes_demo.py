# The embedded demo (tools/demo.py, `make demo`): configs/upernet_convnext_tiny_ade20k.py, whose
# model, optimizer (layer decay), runtime and tools it inherits, shrunk to a 2-core CPU and a few
# minutes: ConvNeXt-atto on the generated shapes dataset (ADE20K layout, 5 classes, 64x64 images as
# tools/demo.py writes them), narrower heads, 8 images a batch, 300 iterations. As it stands it trains
# from scratch; tools/demo.py also runs it with the backbone initialised from the demo's
# classification pretraining, by a config of two lines that sets the backbone's init_cfg:
#     _base_ = './upernet_convnext_atto_shapes_demo.py'
#     model = dict(backbone=dict(init_cfg=dict(
#         _delete_=True, type='Pretrained', checkpoint='work_dirs/shapes_pretrain/pretrain.pth')))
_base_ = './upernet_convnext_tiny_ade20k.py'
data_root = 'data/shapes_ade/ADEChallengeData2016'  # written by mmconvnext.datasets.make_shapes_dataset
crop_size = (64, 64)
num_classes = 5
classifier_init = dict(type='Normal', std=0.1, override=dict(name='conv_seg'))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='atto',
        drop_path_rate=0.0,
        init_cfg=None,
        # trained from scratch here: layer scale starts at 1e-6 as in the paper's from-scratch (ImageNet)
        # recipe, not at the dense configs' 1.0 (which a pretrained checkpoint overwrites anyway). With 1.0
        # the run from scratch stalled for a seed-dependent while: 28.8-40.2 mIoU over seeds 0-2 after 300
        # iterations, against 37.5-41.7 over seeds 0-5 with 1e-6 (400 validation images, AMD EPYC)
        layer_scale_init_value=1e-6,
        # the plain pointwise ops: at these sizes oneDNN's per-call cost dominates (a training step, batch 8:
        # 270 ms with oneDNN, 196 ms plain; 2 threads, AMD EPYC)
        onednn_cpu=False,
    ),
    # trained from scratch here: the classifiers' usual std-0.01 init (made for pretrained
    # backbones) left every pixel "background" for hundreds of iterations
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=64, num_classes=num_classes, init_cfg=classifier_init),
    auxiliary_head=dict(in_channels=160, channels=32, num_classes=num_classes, init_cfg=classifier_init),
    test_cfg=dict(_delete_=True, mode='whole'),
)

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
# batches made in the training process: a loader worker's batch of tiny images cost more to send
# through shared memory than to make, and took a core from the run beside it (see the pretraining config)
loader = dict(batch_size=8, num_workers=0, persistent_workers=False)
train_dataloader = dict(loader, dataset=dict(dataset, pipeline=train_pipeline))
val_dataloader = dict(loader, batch_size=16, dataset=dict(dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 300
warmup_iters = 30
val_interval = 100
optim_wrapper = dict(optimizer=dict(lr=4e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
