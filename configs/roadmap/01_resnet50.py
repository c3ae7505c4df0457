# Roadmap step 1/15, `resnet50`: ResNet-50 trained with the modern recipe. The paper: top-1 78.8,
# 4.1 GFLOPs.
# As a dense backbone: backbone=dict(type='mmconvnext.RoadmapNet', step='resnet50',
# out_indices=(0, 1, 2, 3), gap_before_final_norm=False); see docs/roadmap.md.
_base_ = ['./_base_/roadmap_in1k.py']
model = dict(backbone=dict(step='resnet50'))
