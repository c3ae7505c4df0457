# ConvNeXt V2's multi-scale test on ADE20K (V2 paper, section 6 and appendix A.4): each of 0.75, 0.875, 1,
# 1.125 and 1.25 of the test scale (2048x512 for 512 crops, 2560x640 for 640 crops), with and without a
# horizontal flip (mmseg's flip: the paper says nothing of flipping). tools/test.py --tta runs it. The V2
# UperNet configs take this file as a base and pick theirs, e.g.
# `tta_pipeline = {{_base_.v2_tta_pipelines.crop512}}` (mmseg's ADE20K base defines its own tta_pipeline).
v2_img_ratios = [0.75, 0.875, 1.0, 1.125, 1.25]
v2_test_scales = dict(crop512=(2048, 512), crop640=(2560, 640))
v2_tta_pipelines = {
    crop: [
        dict(type='LoadImageFromFile', backend_args=None),
        dict(
            type='TestTimeAug',
            transforms=[
                [dict(type='Resize', scale=(round(w * r), round(h * r)), keep_ratio=True) for r in v2_img_ratios],
                [
                    dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                    dict(type='RandomFlip', prob=1.0, direction='horizontal'),
                ],
                [dict(type='LoadAnnotations')],
                [dict(type='PackSegInputs')],
            ],
        ),
    ]
    for crop, (w, h) in v2_test_scales.items()
}
