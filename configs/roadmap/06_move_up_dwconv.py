# Roadmap step 6/15, `move_up_dwconv` (from `inverted_bottleneck`): depthwise conv moved to the
# top of the block. The paper: top-1 79.9, 4.1 GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='move_up_dwconv',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='move_up_dwconv'))
