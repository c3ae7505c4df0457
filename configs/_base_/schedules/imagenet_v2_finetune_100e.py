# Fine-tuning ConvNeXt V2 on ImageNet-1K from FCMAE weights: the recipe of V2-Base and -Large
# (V2 paper, appendix Table 11; ConvNeXt-V2 TRAINING.md, main_finetune.py, optim_factory.py).
# AdamW, base lr 6.25e-4 per 256 images (TRAINING.md; the paper's table prints 6.25e-3),
# i.e. 2.5e-3 at the recipe's batch of 1024 (mmengine rescales it to the actual batch:
# auto_scale_lr is on); weight decay 0.05 except on biases and 1-D parameters (norms and
# GRN's gamma/beta, as the official optimizer); layer-wise lr decay 0.6 in the official
# 'group' form (stage 2 in threes, 12 groups: mmconvnext's layer_wise, num_layers 12);
# 20 warm-up epochs from ~0, then cosine to 1e-6 at epoch 100, per iteration (the
# official minimum is scaled by each group's decay, as its lr is: eta_min_ratio); EMA
# 0.9999 of the weights, validated beside the raw weights. A size config that changes
# lr, max_epochs or warmup_epochs restates param_scheduler and train_cfg.
max_epochs = 100
warmup_epochs = 20
lr = 6.25e-4 * 1024 / 256
optim_wrapper = dict(
    type='OptimWrapper',  # tools/train.py --amp: AmpOptimWrapper (the official runs used AMP)
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.6, decay_type='layer_wise', num_layers=12),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / lr,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(base_batch_size=1024, enable=True)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='mmconvnext.RawAndEMAValLoop')
test_cfg = dict(type='TestLoop')
# mmengine's momentum is 1 - decay
custom_hooks = [dict(type='EMAHook', momentum=1e-4, update_buffers=False, priority='ABOVE_NORMAL')]
