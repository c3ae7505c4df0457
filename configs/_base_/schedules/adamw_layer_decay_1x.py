# 12 epochs, steps at 8 and 11, AdamW (weight decay 0.05) with layer-wise lr decay;
# 1000 linear warm-up iterations; batch 16. Arch configs set lr, decay_rate, num_layers.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'
max_epochs = 12
milestones = [8, 11]
warmup_iters = 1000
optim_wrapper = dict(
    type='OptimWrapper',  # tools/train.py --amp: AmpOptimWrapper
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=6),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=milestones, gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs)
