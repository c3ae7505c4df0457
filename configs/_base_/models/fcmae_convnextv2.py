# FCMAE pre-training of a ConvNeXt V2 encoder (Woo et al., CVPR 2023, Section 3; official
# models/fcmae.py and main_pretrain.py): 60% of the 32x32 patches removed at random, the
# encoder over the visible ones (sparse convolution emulated by masked dense convolution),
# a one-block decoder 512 wide, the squared error on the removed patches against each
# patch's normalised pixels. Arch configs set model.backbone.arch.
model = dict(
    type='mmconvnext.FCMAE',
    backbone=dict(
        type='mmconvnext.ConvNeXt',
        arch='base',
        use_grn=True,
        layer_scale_init_value=0.0,
        drop_path_rate=0.0,  # none in pre-training (the official sparse encoder's default)
        out_indices=-1,
    ),
    decoder_depth=1,
    decoder_embed_dim=512,
    patch_size=32,
    mask_ratio=0.6,
    norm_pix_loss=True,
    # normalisation only (no RandAugment, Erasing, Mixup/CutMix in pre-training)
    data_preprocessor=dict(
        type='mmconvnext.ClsDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True
    ),
)
