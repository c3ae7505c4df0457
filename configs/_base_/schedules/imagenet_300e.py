# The paper's ImageNet-1K schedule: 300 epochs, AdamW lr 4e-3 at batch 4096 (scaled
# linearly to the actual batch by mmengine: auto_scale_lr is on), weight decay 0.05 (none
# on biases, norms and layer scale: the layer-decay constructor with decay_rate 1.0),
# 20 warm-up epochs from ~0, then cosine to 1e-6; EMA 0.9999 of the weights, validated
# beside the raw weights (RawAndEMAValLoop).
max_epochs = 300
warmup_epochs = 20
optim_wrapper = dict(
    type='OptimWrapper',  # tools/train.py --amp: AmpOptimWrapper
    optimizer=dict(type='AdamW', lr=4e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=1.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(base_batch_size=4096, enable=True)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='mmconvnext.RawAndEMAValLoop')
test_cfg = dict(type='TestLoop')
# mmengine's momentum is 1 - decay
custom_hooks = [dict(type='EMAHook', momentum=1e-4, update_buffers=False, priority='ABOVE_NORMAL')]
