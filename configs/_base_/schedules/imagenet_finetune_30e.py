# Fine-tuning on ImageNet-1K (from 22K, or from 1K at 224 to 384): 30 epochs, AdamW lr 5e-5
# at batch 512, weight decay 1e-8, layer-wise lr decay (12 layers; arch configs set the
# rate: 0.8 from 22K, 0.7 for 1K->384), no warm-up, cosine to 1e-6 (per group: the
# official min lr is scaled by each group's decay, hence eta_min_ratio). Arch configs
# add the EMA hook where the official fine-tune used one (XL).
max_epochs = 30
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-8),
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=12),
)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / 5e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(base_batch_size=512, enable=True)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='mmconvnext.RawAndEMAValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = []
