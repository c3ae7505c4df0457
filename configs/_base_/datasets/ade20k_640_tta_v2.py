# ConvNeXt V2's multi-scale test on ADE20K (V2 paper, section 6 and appendix A.4): each of 0.75, 0.875, 1,
# 1.125 and 1.25 of the 2560x640 test scale, with and without a horizontal flip (mmseg's flip: the paper
# says nothing of flipping). tools/test.py --tta runs it; the V2 UperNet configs of 640 crops take it as a base
# (`tta_pipeline = {{_base_.v2_tta_pipeline}}`: mmseg's ADE20K base defines its own tta_pipeline).
v2_test_scale = (2560, 640)
v2_img_ratios = [0.75, 0.875, 1.0, 1.125, 1.25]
v2_tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=(round(v2_test_scale[0] * r), round(v2_test_scale[1] * r)), keep_ratio=True)
                for r in v2_img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
