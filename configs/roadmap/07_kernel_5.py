# Roadmap step 7/15, `kernel_5` (from `move_up_dwconv`): kernel 3 -> 5.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='kernel_5',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='kernel_5'))
