# The modernization roadmap (paper section 2): every step is trained with the same
# recipe, ConvNeXt-T's (configs/convnext_tiny_in1k.py: 300 epochs, AdamW lr 4e-3 at batch
# 4096, RandAugment, Mixup/CutMix, label smoothing, Random Erasing, stochastic depth 0.1,
# layer scale 1e-6, EMA). Only the backbone differs: mmconvnext.RoadmapNet at one step.
_base_ = ['../../convnext_tiny_in1k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmconvnext.RoadmapNet',
        step='separate_downsampling',
        drop_path_rate=0.1,
        layer_scale_init_value=1e-6,
        out_indices=-1,
        gap_before_final_norm=True,
    )
)
