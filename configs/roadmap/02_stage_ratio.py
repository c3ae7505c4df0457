# Roadmap step 2/15, `stage_ratio` (from `resnet50`): stage ratio 3-4-6-3 -> 3-3-9-3. The paper:
# top-1 79.4, 4.5 GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='stage_ratio',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='stage_ratio'))
