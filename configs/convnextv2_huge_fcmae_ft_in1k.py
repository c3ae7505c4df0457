# ConvNeXt V2-H fine-tuned on ImageNet-1K from its FCMAE pre-training (V2 paper: 86.3
# top-1 at 224). TRAINING.md lists no V2-H command; from the paper's appendix Table 11:
# 50 epochs, 10 warm-up, base lr 1.25e-3 per 256 images, layer decay 0.75, drop path 0.3,
# otherwise the V2-B recipe (convnextv2_base_fcmae_ft_in1k.py). Appendix A.2 applies the
# 'group' decay to Base and Large only, so Huge takes the default per-block form (the
# official 'single': one lr per block, 36 blocks -> num_layers 36; mmconvnext's decay_type
# 'block_wise'). 32 images x 32 processes = 1024.
# `checkpoint`: the official FCMAE encoder, or a configs/fcmae_convnextv2_huge_in1k.py
# checkpoint of this toolkit via --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = './convnextv2_base_fcmae_ft_in1k.py'
checkpoint = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/pt_only/convnextv2_huge_1k_224_fcmae.pt'
model = dict(backbone=dict(arch='huge', drop_path_rate=0.3, init_cfg=dict(checkpoint=checkpoint)))
max_epochs = 50
warmup_epochs = 10
lr = 1.25e-3 * 1024 / 256
optim_wrapper = dict(optimizer=dict(lr=lr), paramwise_cfg=dict(decay_rate=0.75, decay_type='block_wise', num_layers=36))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / lr,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(max_epochs=max_epochs)
