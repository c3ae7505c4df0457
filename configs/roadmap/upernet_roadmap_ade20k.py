# UperNet on ADE20K (512x512, 160k iterations: the ConvNeXt-T setup) with a roadmap step as
# its backbone, so the roadmap can be measured on segmentation too. Here `resnet50`; for
# another step set `step` and the heads' `in_channels` (listed by
# `python tools/analysis/roadmap.py`), and `checkpoint` to that step's ImageNet weights
# (a checkpoint of its configs/roadmap/ classification config). The BatchNorm steps train
# with SyncBN across GPU processes when `sync_bn='torch'` is added (mmengine converts them).
_base_ = ['../upernet_convnext_tiny_ade20k.py']
step = 'resnet50'
in_channels = [256, 512, 1024, 2048]
checkpoint = None  # e.g. 'work_dirs/01_resnet50/epoch_300.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmconvnext.RoadmapNet',
        step=step,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.') if checkpoint else None,
    ),
    decode_head=dict(in_channels=in_channels),
    auxiliary_head=dict(in_channels=in_channels[2]),
)
