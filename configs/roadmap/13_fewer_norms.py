# Roadmap step 13/15, `fewer_norms` (from `fewer_activations`): one norm per block (after the
# depthwise conv); layer scale keeps the last one's scale. The paper: top-1 81.4.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='fewer_norms',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='fewer_norms'))
