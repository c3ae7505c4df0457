# Mask R-CNN + FPN (mmdet's base) with the mmconvnext backbone; ConvNeXt-T dims here.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['mmconvnext'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmconvnext.ConvNeXt',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,  # a LayerNorm per output stage (norm0..norm3)
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
    ),
    neck=dict(in_channels=[96, 192, 384, 768]),
)
