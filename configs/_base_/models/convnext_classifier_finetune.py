# The classifier fine-tuned from a checkpoint (ImageNet-22K -> 1K, or 1K at 224 -> 384): the
# backbone loads the `backbone.` weights of a classifier checkpoint, the new head starts
# 1000x smaller (head init scale 0.001), and Mixup/CutMix are off (RandAugment, Random
# Erasing and label smoothing stay). Arch configs set arch, drop_path_rate and
# init_cfg.checkpoint.
_base_ = './convnext_classifier.py'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', prefix='backbone.')),
    head_init_scale=0.001,
    data_preprocessor=dict(mixup_cutmix=None),
)
