# Roadmap step 15/15, `separate_downsampling` (from `layernorm`): separate downsampling layers (LN
# + 2x2 conv stride 2) and LN after the stem and pooling: ConvNeXt-T. The paper: top-1 82.0, 4.5
# GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='separate_downsampling',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='separate_downsampling'))
