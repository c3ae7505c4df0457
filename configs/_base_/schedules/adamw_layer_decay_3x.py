# 36 epochs, steps at 27 and 33 (the paper's 3x), otherwise as the 1x schedule.
_base_ = './adamw_layer_decay_1x.py'
max_epochs = 36
milestones = [27, 33]
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=_base_.warmup_iters),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=milestones, gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs)
