# Roadmap step 10/15, `kernel_11` (from `kernel_9`): kernel 9 -> 11 (sweep; not kept).
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='kernel_11',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='kernel_11'))
