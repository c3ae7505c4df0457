# Roadmap step 14/15, `layernorm` (from `fewer_norms`): BatchNorm -> LayerNorm. The paper: top-1
# 81.5.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='layernorm',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='layernorm'))
