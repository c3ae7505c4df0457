# Roadmap step 12/15, `fewer_activations` (from `gelu`): one activation per block (between the
# 1x1s). The paper: top-1 81.3.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='fewer_activations',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='fewer_activations'))
