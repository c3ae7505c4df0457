# The ImageNet classifier of the paper: the project's ConvNeXt (global average pool ->
# LayerNorm, layer scale 1e-6) + a Linear head; soft-target cross-entropy with label
# smoothing 0.1. The batch-level augmentations of the recipe (RandAugment
# rand-m9-mstd0.5-inc1, Random Erasing 0.25, Mixup 0.8 / CutMix 1.0 switching with
# probability 0.5) run in the data preprocessor, on the model's device. Arch configs set
# arch and drop_path_rate; num_classes reaches the preprocessor from the model.
model = dict(
    type='mmconvnext.ConvNeXtClassifier',
    backbone=dict(
        type='mmconvnext.ConvNeXt',
        arch='tiny',
        drop_path_rate=0.1,
        layer_scale_init_value=1e-6,
        out_indices=-1,
        gap_before_final_norm=True,
    ),
    num_classes=1000,
    head_init_scale=1.0,
    label_smoothing=0.1,
    data_preprocessor=dict(
        type='mmconvnext.ClsDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        rand_augment=dict(num_ops=2, magnitude=9, magnitude_std=0.5, increasing=True),
        random_erasing=dict(prob=0.25),
        mixup_cutmix=dict(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5),
    ),
)
