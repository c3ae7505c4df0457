# The official FCMAE pre-training schedule (ConvNeXt-V2 TRAINING.md and main_pretrain.py):
# AdamW, betas (0.9, 0.95), base lr 1.5e-4 per 256 images (2.4e-3 at the batch of 4096;
# mmengine rescales it to the actual batch, auto_scale_lr), weight decay 0.05 except on
# biases and other 1-D parameters (timm's rule in the official script; GRN's gamma/beta,
# (1, C) there, stay decayed), 40 warm-up epochs from 0, then cosine to 0, per iteration.
# TRAINING.md pre-trains V2-Base for 1600 epochs (main_pretrain.py's default is 800).
max_epochs = 1600
warmup_epochs = 40
optim_wrapper = dict(
    type='OptimWrapper',  # tools/train.py --amp: AmpOptimWrapper
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        bias_decay_mult=0.0, norm_decay_mult=0.0, flat_decay_mult=0.0, custom_keys={'.grn.': dict(decay_mult=1.0)}
    ),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(base_batch_size=4096, enable=True)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='mmconvnext.ReconstructionVisualizationHook', num_images=8)]
