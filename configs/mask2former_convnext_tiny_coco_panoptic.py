# Mask2Former (mmdet's) + ConvNeXt-T, COCO panoptic segmentation (133 classes: 80 things, 53
# stuff), large-scale jitter at 1024, 50 epochs (368750 iterations x 16 images). No published
# ConvNeXt figure for this pairing: the configs table states the parameter count measured here.
# The recipe is the Mask2Former paper's for COCO, as mmdet's mask2former_r50 panoptic config
# carries it and this config inherits: AdamW, lr 1e-4, weight decay 0.05, backbone lr x0.1,
# steps (x0.1) at 0.9 and 0.95 of training, gradient clipping at 0.01, 100 queries, 9 decoder
# layers, random resize 0.1-2.0 of 1024x1024 + 1024 crops, single-scale test (1333x800). The lr
# rule goes through mmconvnext's one layer-decay constructor (_base_/schedules/mask2former_lr.py).
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
    './_base_/schedules/mask2former_lr.py',
]
custom_imports = dict(imports=['mmconvnext'], allow_failed_imports=False)
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmconvnext.ConvNeXt',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    panoptic_head=dict(in_channels=[96, 192, 384, 768]),
)
optim_wrapper = dict(
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg={{_base_.mask2former_paramwise_cfg}},
)
