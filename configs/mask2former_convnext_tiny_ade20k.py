# Mask2Former (mmseg's Mask2FormerHead over mmdet's) + ConvNeXt-T, ADE20K semantic segmentation,
# 512x512, 160k iterations x 16 images. No published ConvNeXt figure for this pairing: the
# configs table states the parameter count and FLOPs measured here.
# The recipe is the Mask2Former paper's for ADE20K (Cheng et al., CVPR 2022, sec. 4 and its
# appendix), as mmseg's mask2former_r50 config carries it and this config inherits: AdamW,
# lr 1e-4, weight decay 0.05, backbone lr x0.1, no weight decay on the query features, query
# and level embeddings and on norms, poly (power 0.9) over 160k iterations, batch 16 (8 x 2),
# gradient clipping at 0.01, 100 queries, 9 decoder layers, a 6-layer deformable-attention
# pixel decoder over strides 8/16/32, large-scale jitter (shortest edge 256..1024) + 512 crops.
# The lr rule goes through mmconvnext's one layer-decay constructor (_base_/schedules/mask2former_lr.py).
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
    './_base_/schedules/mask2former_lr.py',
]
custom_imports = dict(imports=['mmdet.models', 'mmconvnext'], allow_failed_imports=False)
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
    decode_head=dict(in_channels=[96, 192, 384, 768]),
)
optim_wrapper = dict(
    constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
    paramwise_cfg={{_base_.mask2former_paramwise_cfg}},
)
# mmconvnext's ADE20KDataset: the same data with errors that name the missing file
dataset = dict(type='mmconvnext.ADE20KDataset', data_root='data/ade/ADEChallengeData2016')
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
