# Roadmap step 4/15, `depthwise` (from `patchify_stem`): ResNeXt-ify: depthwise 3x3 conv, width 64
# -> 96. The paper: top-1 80.5, 5.3 GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='depthwise',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='depthwise'))
