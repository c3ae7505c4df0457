"""The ConvNeXt V2 configs (docs/convnextv2.md): every one builds V2 blocks at the paper's
size (parameters within 1.5%; the FLOPs, minutes per model here, are in the doc), and holds
the recipe its header cites (V2 paper, official TRAINING.md, mmdet's
projects/ConvNeXt-V2). The layer-decay groups of the fine-tunes are checked against the
official ConvNeXt-V2 rules ('single' and 'group'), written out here independently of the
backbone's code. Models are built on the meta device: no memory, no initialisation."""

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmconvnext.analysis import default_shape
from mmconvnext.apis import build_model

from .conftest import ROOT

V2_URL = 'https://dl.fbaipublicfiles.com/convnext/convnextv2/'
DEPTHS = {
    'atto': (2, 2, 6, 2),
    'femto': (2, 2, 6, 2),
    'pico': (2, 2, 6, 2),
    'nano': (2, 2, 8, 2),
    'tiny': (3, 3, 9, 3),
    'base': (3, 3, 27, 3),
    'large': (3, 3, 27, 3),
    'huge': (3, 3, 27, 3),
}

# arch, weights (file under V2_URL), crop, UperNet params (M) and GFLOPs of the V2 paper's Table 7
ADE20K = {
    'upernet_convnextv2_base_ade20k.py': ('base', 'im1k/convnextv2_base_1k_224_ema.pt', 512, 122, 1170),
    'upernet_convnextv2_large_ade20k.py': ('large', 'im1k/convnextv2_large_1k_224_ema.pt', 512, 235, 1573),
    'upernet_convnextv2_huge_ade20k.py': ('huge', 'im1k/convnextv2_huge_1k_224_ema.pt', 512, 707, 3272),
    'upernet_convnextv2_huge_ade20k_640.py': ('huge', 'im22k/convnextv2_huge_22k_384_ema.pt', 640, 707, 5113),
}
COCO = 'mask_rcnn_convnextv2_base_fcmae_coco_lsj_3x.py'

# arch: base lr per 256 images, epochs, warm-up epochs, weight decay, official decay type and rate,
# drop path, Mixup / CutMix alphas (None: off), label smoothing, params (M) of the official README
FINETUNE = {
    'atto': (2e-4, 600, 0, 0.3, 'single', 0.9, 0.1, None, 0.2, 3.7),
    'femto': (2e-4, 600, 0, 0.05, 'single', 0.9, 0.0, (0.3, 0.3), 0.2, 5.2),
    'pico': (2e-4, 600, 0, 0.3, 'single', 0.9, 0.0, (0.3, 0.3), 0.2, 9.1),
    'nano': (2e-4, 600, 0, 0.3, 'single', 0.9, 0.1, (0.5, 0.5), 0.2, 15.6),
    'tiny': (8e-4, 300, 40, 0.05, 'single', 0.9, 0.2, (0.8, 1.0), 0.1, 28.6),
    'base': (6.25e-4, 100, 20, 0.05, 'group', 0.6, 0.1, (0.8, 1.0), 0.1, 89),
    'large': (6.25e-4, 100, 20, 0.05, 'group', 0.6, 0.2, (0.8, 1.0), 0.1, 198),
    'huge': (1.25e-3, 50, 10, 0.05, 'single', 0.75, 0.3, (0.8, 1.0), 0.1, 660),
}
FT_CONFIGS = {arch: f'convnextv2_{arch}_fcmae_ft_in1k.py' for arch in FINETUNE}
ALL = [*ADE20K, COCO, *FT_CONFIGS.values()]


def load(name: str) -> Config:
    return Config.fromfile(str(ROOT / 'configs' / name))


def official_layer_id(name: str, depths: tuple, decay_type: str) -> tuple[int, int]:
    """(group id, number of layers) of a backbone parameter by the ConvNeXt-V2 fine-tuning
    code (optim_factory.py): 'single' gives every block its own id (a downsample layer
    shares the id of the first block after it), 'group' puts stage 2 in threes over 12
    layers; parameters outside the stages (output norm, head) get num_layers + 1."""
    num_layers = sum(depths) if decay_type == 'single' else 12
    parts = name.removeprefix('backbone.').split('.')
    if parts[0] not in ('downsample_layers', 'stages') or not name.startswith('backbone.'):
        return num_layers + 1, num_layers
    stage = int(parts[1])
    if decay_type == 'single':
        block = int(parts[2]) if parts[0] == 'stages' else 0
        return sum(depths[:stage]) + block + 1, num_layers
    if parts[0] == 'downsample_layers':
        return {0: 0, 1: 2, 2: 3, 3: 12}[stage], num_layers
    return {0: 1, 1: 2, 2: 3 + int(parts[2]) // 3, 3: 12}[stage], num_layers


def param_groups(cfg: Config, model) -> dict:
    """name -> (lr, weight decay) of every parameter, by the config's optimizer constructor."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g['lr'], g['weight_decay']) for g in optimizer.param_groups for p in g['params']}


def check_groups(cfg: Config, model, depths: tuple, decay_type: str, rate: float) -> None:
    base_lr, wd = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay
    table = param_groups(cfg, model)
    assert len(table) == sum(1 for _ in model.parameters())
    for name, p in model.named_parameters():
        layer_id, num_layers = official_layer_id(name, depths, decay_type)
        lr, decay = table[name]
        assert lr == pytest.approx(base_lr * rate ** (num_layers + 1 - layer_id), rel=1e-9), name
        # no decay on biases, norms and GRN (the official optimizer skips 1-D, .bias, .gamma, .beta)
        no_decay = p.ndim == 1 or name.endswith(('.bias', '.gamma', '.beta'))
        assert decay == (0.0 if no_decay else wd), name


@pytest.mark.parametrize('name', ALL)
def test_v2_configs_build_v2_blocks_of_the_published_size(name: str):
    cfg = load(name)
    bb = cfg.model.backbone
    assert bb.type == 'mmconvnext.ConvNeXt' and bb.use_grn is True and bb.layer_scale_init_value == 0.0
    model = build_model(cfg, 'meta')
    blocks = [b for stage in model.backbone.stages for b in stage]
    assert len(blocks) == sum(DEPTHS[bb.arch]) and all(b.grn is not None and b.gamma is None for b in blocks)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    if name in ADE20K:
        expected = ADE20K[name][3]
        assert list(cfg.model.decode_head.in_channels) == list(model.backbone.out_channels)
        assert cfg.model.auxiliary_head.in_channels == model.backbone.out_channels[2]
    elif name == COCO:
        expected = 108.1  # measured here (the paper gives no parameter count); V1-B's is 107.1
        assert list(cfg.model.neck.in_channels) == list(model.backbone.out_channels)
    else:
        expected = FINETUNE[bb.arch][-1]
    assert abs(params / expected - 1) <= 0.015, (name, params, expected)


@pytest.mark.parametrize('name', sorted(ADE20K))
def test_ade20k_v2_configs_hold_the_v2_papers_setup(name: str):
    arch, weights, crop, _, _ = ADE20K[name]
    cfg = load(name)
    bb = cfg.model.backbone
    assert (bb.arch, bb.drop_path_rate, tuple(bb.out_indices), bb.gap_before_final_norm) == (
        arch,
        0.4,
        (0, 1, 2, 3),
        False,
    )
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=V2_URL + weights)
    assert cfg.model.decode_head.type == 'UPerHead' and cfg.model.auxiliary_head.loss_decode.loss_weight == 0.4
    assert tuple(cfg.model.data_preprocessor.size) == (crop, crop) == tuple(cfg.model.test_cfg.crop_size)
    assert tuple(cfg.model.test_cfg.stride) == ((341, 341) if crop == 512 else (426, 426))
    crop_t = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop')
    assert tuple(crop_t.crop_size) == (crop, crop)
    # AdamW, weight decay 0.05, 160k iterations x 16 images (paper); lr 1e-4, stage-wise 0.9 (V1's, inside its grids)
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.weight_decay) == ('AdamW', 1e-4, 0.05)
    assert dict(opt.paramwise_cfg) == dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12)
    assert cfg.train_cfg.max_iters == 160000 and [s.type for s in cfg.param_scheduler] == ['LinearLR', 'PolyLR']
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    # the paper's multi-scale test: 0.75 .. 1.25 of the test scale (2048x512 or 2560x640), with flip
    test_scale = (2048, 512) if crop == 512 else (2560, 640)
    assert next(t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize').scale == test_scale
    assert default_shape(cfg, 'mmseg') == test_scale  # tools/analysis/get_flops.py counts at the paper's size
    resizes, flips = cfg.tta_pipeline[1].transforms[:2]
    expected = [(round(test_scale[0] * r), round(test_scale[1] * r)) for r in (0.75, 0.875, 1.0, 1.125, 1.25)]
    assert [tuple(t.scale) for t in resizes] == expected and all(t.keep_ratio for t in resizes)
    assert [f.prob for f in flips] == [0.0, 1.0]


def test_mask_rcnn_v2_base_is_mmdets_lsj_recipe():
    cfg = load(COCO)
    bb = cfg.model.backbone
    assert (bb.arch, bb.drop_path_rate) == ('base', 0.4)
    assert bb.init_cfg.checkpoint == V2_URL + 'pt_only/convnextv2_base_1k_224_fcmae.pt'
    # soft-NMS in the box head only
    assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms' and cfg.model.test_cfg.rcnn.nms.iou_threshold == 0.5
    assert cfg.model.test_cfg.rpn.nms.type == 'nms'
    # LSJ at 1024
    pipe = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert list(pipe) == [
        'LoadImageFromFile',
        'LoadAnnotations',
        'RandomResize',
        'RandomCrop',
        'FilterAnnotations',
        'RandomFlip',
        'PackDetInputs',
    ]
    resize, crop = pipe['RandomResize'], pipe['RandomCrop']
    assert tuple(resize.scale) == (1024, 1024) and tuple(resize.ratio_range) == (0.1, 2.0) and resize.keep_ratio
    assert (crop.crop_type, tuple(crop.crop_size)) == ('absolute_range', (1024, 1024))
    assert crop.recompute_bbox and crop.allow_negative_crop
    assert pipe['LoadAnnotations'].with_mask and pipe['RandomFlip'].prob == 0.5
    assert tuple(pipe['FilterAnnotations'].min_gt_bbox_wh) == (1e-2, 1e-2)
    test_resize = next(t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'Resize')
    assert tuple(test_resize.scale) == (1333, 800)  # single-scale test
    # 3x: AdamW 1e-4, weight decay 0.05, layer_wise 0.95 over 12, 1000 warm-up iterations, steps 27 / 33; 8 x 4
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.weight_decay) == ('AdamW', 1e-4, 0.05)
    assert dict(opt.paramwise_cfg) == dict(decay_rate=0.95, decay_type='layer_wise', num_layers=12)
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end, warmup.by_epoch) == ('LinearLR', 0.001, 1000, False)
    assert (steps.type, list(steps.milestones), steps.gamma) == ('MultiStepLR', [27, 33], 0.1)
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 32
    assert cfg.train_dataloader.dataset.type == 'mmconvnext.CocoDataset'
    # the decay groups are mmdet's (= the official 'group' rule): 14 distinct lrs
    model = build_model(cfg, 'meta')
    check_groups(cfg, model, DEPTHS['base'], 'group', 0.95)


@pytest.mark.parametrize('arch', sorted(FINETUNE))
def test_finetune_configs_hold_the_official_recipe(arch: str):
    blr, epochs, warmup, wd, _, _, dpr, mixup, smoothing, _ = FINETUNE[arch]
    cfg = load(FT_CONFIGS[arch])
    m, bb, pre = cfg.model, cfg.model.backbone, cfg.model.data_preprocessor
    assert m.type == 'mmconvnext.ConvNeXtClassifier' and m.num_classes == 1000
    assert (bb.arch, bb.drop_path_rate, bb.gap_before_final_norm, bb.out_indices) == (arch, dpr, True, -1)
    assert bb.init_cfg == dict(
        type='Pretrained', prefix='backbone.', checkpoint=V2_URL + f'pt_only/convnextv2_{arch}_1k_224_fcmae.pt'
    )
    assert m.head_init_scale == 0.001 and m.label_smoothing == smoothing
    assert pre.rand_augment == dict(num_ops=2, magnitude=9, magnitude_std=0.5, increasing=True)
    assert pre.random_erasing == dict(prob=0.25)
    if mixup is None:
        assert pre.mixup_cutmix is None
    else:
        assert pre.mixup_cutmix == dict(mixup_alpha=mixup[0], cutmix_alpha=mixup[1], switch_prob=0.5)
    # lr = base lr x 1024 / 256 at the official batch of 1024 (32 x 32); mmengine rescales for another batch
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == pytest.approx(blr * 1024 / 256, rel=1e-12)
    assert opt.optimizer.weight_decay == wd and tuple(opt.optimizer.betas) == (0.9, 0.999)
    assert opt.constructor == 'mmconvnext.LearningRateDecayOptimizerConstructor'
    assert cfg.auto_scale_lr == dict(base_batch_size=1024, enable=True) and cfg.train_dataloader.batch_size == 32
    assert cfg.train_cfg.max_epochs == epochs
    *warm, cosine = cfg.param_scheduler
    assert (cosine.type, cosine.begin, cosine.end, cosine.by_epoch) == ('CosineAnnealingLR', warmup, epochs, True)
    assert cosine.eta_min_ratio * opt.optimizer.lr == pytest.approx(1e-6)  # the official min lr, per group
    if warmup:
        assert [(w.type, w.begin, w.end) for w in warm] == [('LinearLR', 0, warmup)]
    else:
        assert warm == []
    hooks = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert len(hooks) == 1 and hooks[0].momentum == 1e-4  # EMA decay 0.9999
    assert cfg.val_cfg.type == 'mmconvnext.RawAndEMAValLoop'
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert (crop.type, crop.scale, crop.interpolation) == ('mmconvnext.RandomResizedCrop', 224, 'bicubic')


@pytest.mark.parametrize('arch', sorted(FINETUNE))
def test_finetune_layer_decay_groups_are_the_official_ones(arch: str):
    """Per parameter: lr = base lr x rate ** (num_layers + 1 - official id), and the official weight-decay rule."""
    _, _, _, _, official, rate, _, _, _, _ = FINETUNE[arch]
    cfg = load(FT_CONFIGS[arch])
    paramwise = cfg.optim_wrapper.paramwise_cfg
    num_layers = sum(DEPTHS[arch]) if official == 'single' else 12
    decay_type = 'block_wise' if official == 'single' else 'layer_wise'
    assert dict(paramwise) == dict(decay_rate=rate, decay_type=decay_type, num_layers=num_layers)
    check_groups(cfg, build_model(cfg, 'meta'), DEPTHS[arch], official, rate)
