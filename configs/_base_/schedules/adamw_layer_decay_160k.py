# The paper's ADE20K schedule: AdamW, weight decay 0.05, stage-wise lr decay 0.9, 1500
# linear warm-up iterations, then poly (power 1) to 160k iterations; batch 16. Validation
# and a checkpoint every 16k iterations. A config that changes max_iters, warmup_iters or
# val_interval restates param_scheduler, train_cfg and the checkpoint hook that use them.
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'
max_iters = 160000
warmup_iters = 1500
val_interval = 16000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=val_interval, max_keep_ckpts=3))
auto_scale_lr = dict(enable=False, base_batch_size=16)  # tools/train.py --auto-scale-lr
