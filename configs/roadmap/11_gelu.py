# Roadmap step 11/15, `gelu` (from `kernel_7`): ReLU -> GELU. The paper: top-1 80.6.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='gelu',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='gelu'))
