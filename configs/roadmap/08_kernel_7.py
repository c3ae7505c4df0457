# Roadmap step 8/15, `kernel_7` (from `kernel_5`): kernel 5 -> 7 (the paper keeps 7). The paper:
# top-1 80.6, 4.2 GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='kernel_7',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='kernel_7'))
