# Mask R-CNN + ConvNeXt V2-B from FCMAE weights, COCO, large-scale jitter, 36 epochs
# (mmdet 3.x projects/ConvNeXt-V2: 52.9 box / 46.4 mask AP; V2 paper, Table 6: 52.9 / 46.6,
# 486 GFLOPs at 1280x800).
# Sources. mmdet's projects/ConvNeXt-V2/configs/mask-rcnn_convnext-v2-b_fpn_lsj-3x-fcmae_coco.py
# (its README: a pre-release, made before any official V2 detection recipe): the FCMAE
# encoder of V2-B, drop path 0.4, AdamW lr 1e-4, weight decay 0.05, layer_wise decay 0.95
# over 12 groups, 1000 linear warm-up iterations, steps at epochs 27 and 33, 8 GPUs x 4
# images, AMP (here: tools/train.py --amp), soft-NMS in the box head at test time (the RPN
# keeps plain NMS), and LSJ: RandomResize of 1024x1024 over ratios 0.1-2.0, RandomCrop
# 1024x1024 (boxes recomputed, empty crops allowed), tiny boxes filtered, flip; batches
# are padded to a multiple of 32 only (no fixed-size pad in that config). The V2 paper
# (appendix A.3) agrees on batch 32, lr, weight decay, LSJ at 1024 over 0.1-2.0, 36 epochs
# and soft-NMS, and searched decay 0.9/0.95 and drop path 0.2-0.5 without saying which won.
# It initialises "from ImageNet-1K pre-training", which may mean the fine-tuned weights
# (convnextv2_base_1k_224_ema.pt); this config follows mmdet's FCMAE encoder. The test is
# single scale (1333x800), as both.
_base_ = [
    './_base_/models/mask_rcnn_convnext_fpn.py',
    './_base_/datasets/coco_instance.py',
    './_base_/schedules/adamw_layer_decay_3x.py',
    'mmdet::_base_/default_runtime.py',
]
# the official FCMAE encoder (pre-training only); a checkpoint of this toolkit's
# configs/fcmae_convnextv2_base_in1k.py: --cfg-options model.backbone.init_cfg.checkpoint=PATH
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_base_1k_224_fcmae.pt'
image_size = (1024, 1024)
model = dict(
    backbone=dict(
        arch='base',
        use_grn=True,
        layer_scale_init_value=0.0,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    neck=dict(in_channels=[128, 256, 512, 1024]),
    test_cfg=dict(rcnn=dict(nms=dict(type='soft_nms', iou_threshold=0.5))),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_type='absolute_range',
        crop_size=image_size,
        recompute_bbox=True,
        allow_negative_crop=True,
    ),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=8, dataset=dict(pipeline=train_pipeline))  # x 8 processes = 32
optim_wrapper = dict(
    optimizer=dict(lr=1e-4), paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=12)
)
auto_scale_lr = dict(enable=False, base_batch_size=32)  # tools/train.py --auto-scale-lr
