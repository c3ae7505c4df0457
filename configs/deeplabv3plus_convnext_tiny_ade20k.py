# DeepLabV3+ (mmseg's DepthwiseSeparableASPPHead) + ConvNeXt-T at output stride 16, ADE20K,
# 512x512, 160k iterations x 16 images. No published ConvNeXt figure for this pairing: the
# configs table states the parameter count measured here.
# The backbone's last downsampling layer runs at stride 1 and its last stage's depthwise convs
# are dilated by 2 (ConvNeXt(output_stride=16), timm's rule; the ImageNet weights load
# unchanged), so the ASPP sees stride-16 features and the decoder joins the stride-4 ones.
# ASPP rates (1, 6, 12, 18): the DeepLabV3+ paper's for output stride 16 (its 8 doubles them,
# mmseg's ResNet configs' (1, 12, 24, 36)). Schedule: the ConvNeXt paper's ADE20K recipe, as
# the UperNet configs (AdamW 1e-4, weight decay 0.05, stage-wise lr decay 0.9, poly).
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    './_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/adamw_layer_decay_160k.py',
]
custom_imports = dict(imports=['mmconvnext'], allow_failed_imports=False)
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224.pth'
crop_size = (512, 512)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='mmconvnext.ConvNeXt',
        arch='tiny',
        output_stride=16,
        out_indices=(0, 2, 3),  # what the heads read: every output norm gets a gradient (DDP needs it)
        gap_before_final_norm=False,
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
    ),
    decode_head=dict(  # in_index: of the backbone's outputs (stages 0, 2, 3); c1: the stride-4 one
        in_channels=768, in_index=2, dilations=(1, 6, 12, 18), c1_in_channels=96, c1_channels=48, num_classes=150
    ),
    auxiliary_head=dict(in_channels=384, in_index=1, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)),
)
optim_wrapper = dict(paramwise_cfg=dict(num_layers=6))
