# UperNet + ConvNeXt V2-B, ADE20K, 512x512 crops, 160k iterations x 16 images (V2 paper,
# Table 7: 52.1 mIoU with the multi-scale test; 122M params, 1170 GFLOPs at 2048x512).
# Sources. V2 paper (Woo et al., CVPR 2023, arXiv 2301.00808), section 6 and appendix A.4:
# mmseg's UperNet; AdamW, weight decay 0.05, batch 16, 160k iterations on 512x512 crops;
# the backbone starts from the FCMAE model after its supervised ImageNet-1K fine-tuning
# (the released convnextv2_*_1k_224_ema.pt; the paper found it better than the FCMAE
# encoder alone); test at 0.75/0.875/1/1.125/1.25 of 2048x512 (_base_/datasets/ade20k_tta_v2.py,
# tools/test.py --tta). The official V2 repository has no segmentation code.
# Where the paper is silent: it lists only the grids it searched (layer decay 0.8/0.9, lr
# 1e-4/2e-4/3e-4, drop path 0.1-0.4), not the value each model ended with, and says
# nothing of warm-up, lr schedule, decay type or flipping at test time. Those follow
# upernet_convnext_base_ade20k.py (V1-B): lr 1e-4, stage_wise decay 0.9 over 12 groups,
# drop path 0.4 (all inside the grids), 1500 warm-up iterations then poly; the test
# keeps mmseg's horizontal flip. V2 blocks: GRN, no layer scale.
_base_ = [
    './_base_/models/upernet_convnext.py',
    './_base_/datasets/ade20k.py',
    './_base_/datasets/ade20k_tta_v2.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/adamw_layer_decay_160k.py',
]
# FCMAE pre-training + ImageNet-1K fine-tuning (official release); any format mmconvnext reads
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/im1k/convnextv2_base_1k_224_ema.pt'
model = dict(
    backbone=dict(
        arch='base',
        use_grn=True,
        layer_scale_init_value=0.0,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512),
)
optim_wrapper = dict(
    optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12)
)
tta_pipeline = {{_base_.v2_tta_pipelines.crop512}}  # the paper's multi-scale test, in place of mmseg's
