# ImageNet-22K pre-training: 90 epochs, 5 warm-up, otherwise the 300-epoch recipe. No
# validation set and, as in the official runs, no EMA.
_base_ = './imagenet_300e.py'
max_epochs = 90
warmup_epochs = 5
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
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
val_cfg = None
custom_hooks = []
