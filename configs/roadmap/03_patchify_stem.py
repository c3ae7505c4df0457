# Roadmap step 3/15, `patchify_stem` (from `stage_ratio`): stem -> 4x4 stride-4 "patchify" conv.
# The paper: top-1 79.5, 4.4 GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='patchify_stem',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='patchify_stem'))
