# DINO (mmdet's 4-scale DINO) + ConvNeXt-T, COCO detection, 12 epochs: the example of putting the
# backbone under any other mmdet/mmseg head (README, "Under any other head"). Everything but the
# backbone, the neck's input widths and the lr rule is mmdet's dino-4scale_r50_8xb2-12e_coco.py:
# AdamW lr 1e-4, weight decay 1e-4, backbone lr x0.1, gradient clipping at 0.1, 900 queries.
# No published ConvNeXt figure for this pairing.
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
custom_imports = dict(imports=['mmconvnext'], allow_failed_imports=False)
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True,  # the base's ResNet arguments do not apply
        type='mmconvnext.ConvNeXt',
        arch='tiny',
        out_indices=(1, 2, 3),  # the strides 8/16/32 DINO's neck takes (ResNet's out_indices 1-3)
        gap_before_final_norm=False,
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    neck=dict(in_channels=[192, 384, 768]),
)
# mmdet's lr rule through mmconvnext's constructor: the same backbone multiplier (decay_rate 1.0: no
# layer decay; the ConvNeXt detection recipes use 0.7-0.95 over 6 or 12 groups), biases and norms undecayed
optim_wrapper = dict(
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg=dict(_delete_=True, decay_rate=1.0, custom_keys={'backbone': dict(lr_mult=0.1)}),
)
