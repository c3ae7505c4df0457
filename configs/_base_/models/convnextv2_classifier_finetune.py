# The ConvNeXt V2 classifier fine-tuned on ImageNet-1K from FCMAE pre-training (V2 paper,
# appendix A.2; official main_finetune.py): V2 blocks (GRN after the GELU, no layer scale);
# the backbone loads the `backbone.` weights of the checkpoint (the official *_fcmae.pt
# encoder, or a checkpoint of this toolkit's FCMAE configs, whose encoder is its backbone);
# the new head starts 1000x smaller (head init scale 0.001: the official truncated normal
# of std 2e-5); RandAugment rand-m9-mstd0.5-inc1, Random Erasing 0.25, Mixup 0.8 / CutMix
# 1.0 (switching with probability 0.5) and label smoothing 0.1, from the V1 classifier.
# Size configs set arch, drop_path_rate, init_cfg.checkpoint and, for the small models,
# their own Mixup/CutMix and smoothing.
_base_ = './convnext_classifier.py'
model = dict(
    backbone=dict(use_grn=True, layer_scale_init_value=0.0, init_cfg=dict(type='Pretrained', prefix='backbone.')),
    head_init_scale=0.001,
)
