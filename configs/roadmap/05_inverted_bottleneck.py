# Roadmap step 5/15, `inverted_bottleneck` (from `depthwise`): inverted bottleneck (hidden 4x).
# The paper: top-1 80.6, 4.6 GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='inverted_bottleneck',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='inverted_bottleneck'))
