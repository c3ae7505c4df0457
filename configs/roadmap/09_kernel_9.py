# Roadmap step 9/15, `kernel_9` (from `kernel_7`): kernel 7 -> 9 (sweep; not kept).
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='kernel_9',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='kernel_9'))
