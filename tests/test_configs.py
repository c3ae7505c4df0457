"""Every config under configs/ builds its model, its heads agree with its backbone, and
the ADE20K configs carry the paper's hyper-parameters (docs/references.md)."""

import sys
from pathlib import Path

import pytest
from mmengine.config import Config

from mmconvnext.apis import build_model

from .conftest import ROOT, run_tool, tool_env

CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)

# arch, checkpoint (ImageNet-1K or -22K), crop, lr, layer-decay num_layers, drop path (docs/references.md §6)
ADE20K = {
    'upernet_convnext_tiny_ade20k.py': ('tiny', '1k', 512, 1e-4, 6, 0.4),
    'upernet_convnext_small_ade20k.py': ('small', '1k', 512, 1e-4, 12, 0.3),
    'upernet_convnext_base_ade20k.py': ('base', '1k', 512, 1e-4, 12, 0.4),
    'upernet_convnext_base_ade20k_640.py': ('base', '22k', 640, 1e-4, 12, 0.4),
    'upernet_convnext_large_ade20k_640.py': ('large', '22k', 640, 1e-4, 12, 0.4),
    'upernet_convnext_xlarge_ade20k_640.py': ('xlarge', '22k', 640, 8e-5, 12, 0.4),
}
# docs/references.md §6: params (M) and GFLOPs of the six UperNet models
PAPER = {
    'tiny_ade20k': (60, 939),
    'small_ade20k': (82, 1027),
    'base_ade20k': (122, 1170),
    'base_ade20k_640': (122, 1828),
    'large_ade20k_640': (235, 2458),
    'xlarge_ade20k_640': (391, 3335),
}


def test_installed_setuptools_keeps_pkg_resources_for_mmseg_and_mmdet_bases():
    """The declared pin holds in this environment, and the mmseg::/mmdet:: bases resolve through it: setuptools
    81 removed pkg_resources, which mmengine 0.10.7 imports for them."""
    from importlib.metadata import version

    declared = [ln for ln in (ROOT / 'requirements.txt').read_text().splitlines() if ln.startswith('setuptools')]
    assert declared == ['setuptools>=77,<81']
    assert int(version('setuptools').split('.')[0]) < 81
    import pkg_resources  # noqa: F401

    seg = Config.fromfile(ROOT / 'configs/upernet_convnext_tiny_ade20k.py')  # mmseg:: bases
    det = Config.fromfile(ROOT / 'configs/cascade_mask_rcnn_convnext_tiny_coco_3x.py')  # mmdet:: bases
    assert seg.model.type == 'EncoderDecoder' and det.model.type == 'CascadeRCNN'


def test_configs_are_found():
    assert {p.name for p in CONFIGS} >= set(ADE20K)


# Params (M) of the configs whose pairing has no published ConvNeXt figure: the counts stated in the README's
# configs table (get_flops.py), which a change to the model must change on purpose
STATED_PARAMS = {
    'deeplabv3plus_convnext_tiny_ade20k.py': 43.18,
    'mask2former_convnext_tiny_ade20k.py': 47.74,
    'mask2former_convnext_small_ade20k.py': 69.37,
    'mask2former_convnext_base_ade20k.py': 107.61,
    'mask2former_convnext_large_ade20k_640.py': 216.52,
    'mask2former_convnext_tiny_coco_panoptic.py': 47.74,
    'mask2former_convnext_base_coco_panoptic.py': 107.61,
    'mask2former_convnext_large_in22k_coco_panoptic.py': 216.57,
    'mask2former_convnext_tiny_coco.py': 47.72,
    'mask2former_convnext_large_in22k_coco.py': 216.55,
    'dino_convnext_tiny_coco_1x.py': 48.49,
}


@pytest.mark.parametrize('path', CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config_builds_its_model(path: Path):
    cfg = Config.fromfile(str(path))
    model = build_model(cfg, 'meta')
    params = sum(p.numel() for p in model.parameters())
    assert params > 0
    if path.name in STATED_PARAMS:
        assert round(params / 1e6, 2) == STATED_PARAMS[path.name]
    backbone = getattr(model, 'backbone', None)
    if backbone is not None and hasattr(backbone, 'out_channels'):
        if hasattr(model, 'decode_head'):
            head = cfg.model.decode_head
            if isinstance(head.in_channels, int):  # one input (DeepLabV3+'s ASPP; its c1 input is checked too)
                assert head.in_channels == backbone.out_channels[head.in_index]
                if 'c1_in_channels' in head:
                    assert head.c1_in_channels == backbone.out_channels[0]
            else:
                assert list(head.in_channels) == list(backbone.out_channels)
        neck = cfg.model.get('neck')
        if neck and 'in_channels' in neck:
            assert list(neck.in_channels) == list(backbone.out_channels)
        aux = cfg.model.get('auxiliary_head')
        if aux:
            assert aux.in_channels == backbone.out_channels[aux.in_index]
        head = cfg.model.get('panoptic_head')  # mmdet's Mask2Former
        if head:
            assert list(head.in_channels) == list(backbone.out_channels)


@pytest.mark.parametrize('name', sorted(ADE20K))
def test_ade20k_configs_hold_the_papers_setup(name: str):
    arch, weights, crop, lr, num_layers, drop_path = ADE20K[name]
    cfg = Config.fromfile(str(ROOT / 'configs' / name))
    bb, head, aux = cfg.model.backbone, cfg.model.decode_head, cfg.model.auxiliary_head
    assert bb.type == 'mmconvnext.ConvNeXt' and bb.arch == arch and bb.drop_path_rate == drop_path
    assert bb.layer_scale_init_value == 1.0 and tuple(bb.out_indices) == (0, 1, 2, 3)
    assert bb.init_cfg.type == 'Pretrained' and f'convnext_{arch}_{weights}_224' in bb.init_cfg.checkpoint
    assert cfg.model.pretrained is None
    assert head.type == 'UPerHead' and head.channels == 512 and tuple(head.pool_scales) == (1, 2, 3, 6)
    assert aux.type == 'FCNHead' and aux.loss_decode.loss_weight == 0.4 and head.num_classes == aux.num_classes == 150
    assert cfg.model.test_cfg.mode == 'slide' and tuple(cfg.model.test_cfg.crop_size) == (crop, crop)
    assert tuple(cfg.model.test_cfg.stride) == ((341, 341) if crop == 512 else (426, 426))
    assert tuple(cfg.model.data_preprocessor.size) == (crop, crop)
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == lr and opt.optimizer.weight_decay == 0.05
    assert opt.constructor == 'mmconvnext.LearningRateDecayOptimizerConstructor'
    assert dict(opt.paramwise_cfg) == dict(decay_rate=0.9, decay_type='stage_wise', num_layers=num_layers)
    warmup, poly = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end, warmup.by_epoch) == ('LinearLR', 0, 1500, False)
    assert (poly.type, poly.power, poly.begin, poly.end, poly.eta_min) == ('PolyLR', 1.0, 1500, 160000, 0.0)
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16  # 8 processes x 2
    assert cfg.train_dataloader.dataset.type == 'mmconvnext.ADE20KDataset'
    assert cfg.train_dataloader.dataset.data_root == 'data/ade/ADEChallengeData2016'
    crop_t = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop')
    assert tuple(crop_t.crop_size) == (crop, crop)
    assert 'tta_model' in cfg and 'tta_pipeline' in cfg  # tools/test.py --tta


def test_get_flops_parameter_counts_of_the_six_upernets_match_the_paper():
    """All six through the tool (meta device), within 1.5% of the paper (docs/references.md §6)."""
    configs = [str(ROOT / 'configs' / n) for n in sorted(ADE20K)]
    log = run_tool([sys.executable, 'tools/analysis/get_flops.py', *configs, '--params-only'], tool_env())
    rows = {line.split('|')[1].strip(): line.split('|') for line in log.splitlines() if line.startswith('| upernet')}
    assert len(rows) == 6, log[-2000:]
    for name, row in rows.items():
        paper_params, _ = PAPER[name.removeprefix('upernet_convnext_').removesuffix('.py')]
        params = float(row[3])
        assert abs(params / paper_params - 1) <= 0.015, (name, params, paper_params)


def test_get_flops_of_upernet_tiny_at_2048x512_matches_the_paper():
    """The real count for T (about 15 s); the six are in docs/benchmarks.md."""
    log = run_tool(
        [
            sys.executable,
            'tools/analysis/get_flops.py',
            'configs/upernet_convnext_tiny_ade20k.py',
            '--shape',
            '2048',
            '512',
        ],
        tool_env(OMP_NUM_THREADS='2'),
    )
    row = next(line.split('|') for line in log.splitlines() if line.startswith('| upernet'))
    assert row[2].strip() == '2048x512'
    params, gflops = float(row[3]), float(row[5])
    assert abs(params / 60 - 1) <= 0.015 and abs(gflops / 939 - 1) <= 0.05, row


# arch, weights, lr, decay_rate, num_layers, drop path, epochs, params (M), GFLOPs @1280x800 (docs/references.md §5)
COCO = {
    'mask_rcnn_convnext_tiny_coco_1x.py': ('tiny', '1k', 1e-4, 0.95, 6, 0.4, 12, 48, 262),
    'mask_rcnn_convnext_tiny_coco_3x.py': ('tiny', '1k', 1e-4, 0.95, 6, 0.4, 36, 48, 262),
    'cascade_mask_rcnn_convnext_tiny_coco_3x.py': ('tiny', '1k', 2e-4, 0.7, 6, 0.4, 36, 86, 741),
    'cascade_mask_rcnn_convnext_small_coco_3x.py': ('small', '1k', 2e-4, 0.7, 12, 0.6, 36, 108, 827),
    'cascade_mask_rcnn_convnext_base_coco_3x.py': ('base', '1k', 2e-4, 0.8, 12, 0.7, 36, 146, 964),
    'cascade_mask_rcnn_convnext_base_in22k_coco_3x.py': ('base', '22k', 1e-4, 0.8, 12, 0.6, 36, 146, 964),
    'cascade_mask_rcnn_convnext_large_in22k_coco_3x.py': ('large', '22k', 1e-4, 0.7, 12, 0.7, 36, 255, 1354),
    'cascade_mask_rcnn_convnext_xlarge_in22k_coco_3x.py': ('xlarge', '22k', 1e-4, 0.7, 12, 0.8, 36, 407, 1898),
}


@pytest.mark.parametrize('name', sorted(COCO))
def test_coco_configs_hold_the_papers_setup(name: str):
    arch, weights, lr, decay, num_layers, drop_path, epochs, _, _ = COCO[name]
    cfg = Config.fromfile(str(ROOT / 'configs' / name))
    bb = cfg.model.backbone
    assert bb.type == 'mmconvnext.ConvNeXt' and bb.arch == arch and bb.drop_path_rate == drop_path
    assert bb.layer_scale_init_value == 1.0 and tuple(bb.out_indices) == (0, 1, 2, 3)
    assert f'convnext_{arch}_{weights}_224' in bb.init_cfg.checkpoint
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == lr and opt.optimizer.weight_decay == 0.05
    assert dict(opt.paramwise_cfg) == dict(decay_rate=decay, decay_type='layer_wise', num_layers=num_layers)
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.by_epoch) == ('LinearLR', 1000, False)
    assert cfg.train_cfg.max_epochs == epochs
    assert list(steps.milestones) == ([27, 33] if epochs == 36 else [8, 11])
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_dataloader.dataset.type == 'mmconvnext.CocoDataset'
    types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert ('RandomChoice' in types) == (epochs == 36)  # 3x: the multi-scale DETR recipe; 1x: single scale
    if cfg.model.type == 'CascadeRCNN':
        for head in cfg.model.roi_head.bbox_head:
            assert (head.type, head.num_shared_convs, head.num_shared_fcs) == ('ConvFCBBoxHead', 4, 1)
            assert head.loss_bbox.type == 'GIoULoss' and head.reg_decoded_bbox and head.norm_cfg.type == 'SyncBN'


def test_get_flops_parameter_counts_of_the_detectors_match_the_paper():
    configs = [str(ROOT / 'configs' / n) for n in sorted(COCO)]
    log = run_tool([sys.executable, 'tools/analysis/get_flops.py', *configs, '--params-only'], tool_env())
    rows = {line.split('|')[1].strip(): line.split('|') for line in log.splitlines() if 'rcnn' in line}
    assert len(rows) == len(COCO), log[-2000:]
    for name, row in rows.items():
        params = float(row[3])
        assert abs(params / COCO[name][7] - 1) <= 0.015, (name, params)


def test_get_flops_of_mask_rcnn_tiny_at_1280x800_matches_the_paper():
    log = run_tool(
        [sys.executable, 'tools/analysis/get_flops.py', 'configs/mask_rcnn_convnext_tiny_coco_1x.py'],
        tool_env(OMP_NUM_THREADS='2'),
    )
    row = next(line.split('|') for line in log.splitlines() if line.startswith('| mask_rcnn'))
    assert row[2].strip() == '1280x800' and abs(float(row[5]) / 262 - 1) <= 0.05, row


# arch, classes, drop path, lr, base batch, layer decay (None: none), mixup, EMA, epochs, size,
# per-process batch (docs/references.md §4 and the official training commands)
IMAGENET = {
    'convnext_tiny_in1k.py': ('tiny', 1000, 0.1, 4e-3, 4096, None, True, True, 300, 224, 128),
    'convnext_small_in1k.py': ('small', 1000, 0.4, 4e-3, 4096, None, True, True, 300, 224, 128),
    'convnext_base_in1k.py': ('base', 1000, 0.5, 4e-3, 4096, None, True, True, 300, 224, 128),
    'convnext_large_in1k.py': ('large', 1000, 0.5, 4e-3, 4096, None, True, True, 300, 224, 64),
    'convnext_base_in22k.py': ('base', 21841, 0.1, 4e-3, 4096, None, True, False, 90, 224, 32),
    'convnext_large_in22k.py': ('large', 21841, 0.1, 4e-3, 4096, None, True, False, 90, 224, 32),
    'convnext_xlarge_in22k.py': ('xlarge', 21841, 0.2, 4e-3, 4096, None, True, False, 90, 224, 32),
    'convnext_base_in22k_ft_in1k.py': ('base', 1000, 0.2, 5e-5, 512, 0.8, False, False, 30, 224, 32),
    'convnext_large_in22k_ft_in1k.py': ('large', 1000, 0.3, 5e-5, 512, 0.8, False, False, 30, 224, 32),
    'convnext_xlarge_in22k_ft_in1k.py': ('xlarge', 1000, 0.4, 5e-5, 512, 0.8, False, True, 30, 224, 16),
    'convnext_base_in22k_ft_in1k_384.py': ('base', 1000, 0.2, 5e-5, 512, 0.8, False, False, 30, 384, 16),
    'convnext_large_in22k_ft_in1k_384.py': ('large', 1000, 0.3, 5e-5, 512, 0.8, False, False, 30, 384, 16),
    'convnext_xlarge_in22k_ft_in1k_384.py': ('xlarge', 1000, 0.4, 5e-5, 512, 0.8, False, True, 30, 384, 8),
    'convnext_base_in1k_384.py': ('base', 1000, 0.8, 5e-5, 512, 0.7, False, False, 30, 384, 32),
    'convnext_large_in1k_384.py': ('large', 1000, 0.95, 5e-5, 512, 0.7, False, False, 30, 384, 32),
}


@pytest.mark.parametrize('name', sorted(IMAGENET))
def test_imagenet_configs_hold_the_papers_recipe(name: str):
    arch, classes, dpr, lr, base_batch, decay, mixup, ema, epochs, size, batch = IMAGENET[name]
    cfg = Config.fromfile(str(ROOT / 'configs' / name))
    m, bb, pre = cfg.model, cfg.model.backbone, cfg.model.data_preprocessor
    assert m.type == 'mmconvnext.ConvNeXtClassifier' and m.num_classes == classes and m.label_smoothing == 0.1
    assert (bb.arch, bb.drop_path_rate, bb.layer_scale_init_value, bb.gap_before_final_norm) == (arch, dpr, 1e-6, True)
    finetune = decay is not None
    assert m.head_init_scale == (0.001 if finetune else 1.0)
    if finetune:
        assert bb.init_cfg.type == 'Pretrained' and bb.init_cfg.prefix == 'backbone.'
        assert ('_22k_224' if 'in22k' in name else '_1k_224_ema') in bb.init_cfg.checkpoint
    # batch-level augmentations: RandAugment rand-m9-mstd0.5-inc1, Erasing 0.25, Mixup/CutMix
    assert pre.rand_augment == dict(num_ops=2, magnitude=9, magnitude_std=0.5, increasing=True)
    assert pre.random_erasing == dict(prob=0.25)
    if mixup:
        assert pre.mixup_cutmix == dict(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5)
    else:
        assert pre.mixup_cutmix is None
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == lr
    assert opt.optimizer.weight_decay == (1e-8 if finetune else 0.05)
    assert opt.constructor == 'mmconvnext.LearningRateDecayOptimizerConstructor'
    assert opt.paramwise_cfg.decay_rate == (decay or 1.0)
    if finetune:
        assert (opt.paramwise_cfg.decay_type, opt.paramwise_cfg.num_layers) == ('layer_wise', 12)
    assert cfg.auto_scale_lr == dict(base_batch_size=base_batch, enable=True)
    assert cfg.train_dataloader.batch_size == batch and cfg.train_cfg.max_epochs == epochs
    sched = cfg.param_scheduler
    assert sched[-1].type == 'CosineAnnealingLR' and sched[-1].end == epochs
    if finetune:
        assert len(sched) == 1  # no warm-up
    else:
        assert sched[0].type == 'LinearLR' and sched[0].end == (5 if classes == 21841 else 20)
    hooks = [h for h in cfg.get('custom_hooks', []) if h.type == 'EMAHook']
    assert bool(hooks) == ema and all(h.momentum == 1e-4 for h in hooks)  # decay 0.9999
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert (crop.type, crop.scale, crop.interpolation) == ('mmconvnext.RandomResizedCrop', size, 'bicubic')
    if cfg.get('val_dataloader'):
        test = cfg.val_dataloader.dataset.pipeline
        if size == 224:
            assert test[1].scale[1] == 256 and test[2].crop_size == 224  # 224 / 0.875
        else:
            assert test[1].scale == (384, 384) and not test[1].keep_ratio
        assert cfg.val_cfg.type == 'mmconvnext.RawAndEMAValLoop'


ROADMAP = sorted((ROOT / 'configs' / 'roadmap').glob('[0-9][0-9]_*.py'))


def test_roadmap_has_one_config_per_step_in_order():
    from mmconvnext.models.backbones.roadmap import ROADMAP_STEPS

    assert [p.name for p in ROADMAP] == [f'{i:02d}_{s}.py' for i, s in enumerate(ROADMAP_STEPS, 1)]


@pytest.mark.parametrize('path', ROADMAP, ids=[p.name for p in ROADMAP])
def test_roadmap_configs_are_the_tiny_recipe_with_their_step(path: Path):
    """Every step trains on ConvNeXt-T's recipe: the configs differ only in the backbone."""
    cfg = Config.fromfile(str(path)).to_dict()
    tiny = Config.fromfile(str(ROOT / 'configs' / 'convnext_tiny_in1k.py')).to_dict()
    backbone, tiny_backbone = cfg['model'].pop('backbone'), tiny['model'].pop('backbone')
    assert backbone == dict(
        type='mmconvnext.RoadmapNet',
        step=path.stem[3:],
        drop_path_rate=0.1,
        layer_scale_init_value=1e-6,
        out_indices=-1,
        gap_before_final_norm=True,
    )
    assert tiny_backbone['drop_path_rate'] == 0.1 and tiny_backbone['layer_scale_init_value'] == 1e-6
    assert cfg == tiny


# crop, queries, training length (iterations), dataset of each Mask2Former config (the Mask2Former paper's recipes)
MASK2FORMER = {
    'mask2former_convnext_tiny_ade20k.py': (512, 100, 160000, 'mmconvnext.ADE20KDataset'),
    'mask2former_convnext_small_ade20k.py': (512, 100, 160000, 'mmconvnext.ADE20KDataset'),
    'mask2former_convnext_base_ade20k.py': (512, 100, 160000, 'mmconvnext.ADE20KDataset'),
    'mask2former_convnext_large_ade20k_640.py': (640, 100, 160000, 'mmconvnext.ADE20KDataset'),
    'mask2former_convnext_tiny_coco_panoptic.py': (1024, 100, 368750, 'CocoPanopticDataset'),
    'mask2former_convnext_base_coco_panoptic.py': (1024, 100, 368750, 'CocoPanopticDataset'),
    'mask2former_convnext_large_in22k_coco_panoptic.py': (1024, 200, 368750, 'CocoPanopticDataset'),
    'mask2former_convnext_tiny_coco.py': (1024, 100, 368750, 'mmconvnext.CocoDataset'),
    'mask2former_convnext_large_in22k_coco.py': (1024, 200, 368750, 'mmconvnext.CocoDataset'),
}


@pytest.mark.parametrize('name', sorted(MASK2FORMER))
def test_mask2former_configs_hold_the_papers_recipe(name: str):
    """AdamW 1e-4 / 0.05, backbone lr x0.1, undecayed embeddings, gradient clipping 0.01, 9 decoder layers on
    3 levels; ADE20K: poly 0.9 over 160k iterations at 8 x 2 images; COCO: 50 epochs (368750 iterations at
    8 x 2 images) with steps at 0.9 / 0.95, 1024 large-scale jitter."""
    crop, queries, iters, dataset = MASK2FORMER[name]
    cfg = Config.fromfile(str(ROOT / 'configs' / name))
    head = cfg.model.get('decode_head') or cfg.model.panoptic_head
    assert cfg.model.backbone.type == 'mmconvnext.ConvNeXt' and cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert head.type.endswith('Mask2FormerHead') and head.num_queries == queries
    assert head.transformer_decoder.num_layers == 9 and head.num_transformer_feat_level == 3
    assert head.pixel_decoder.encoder.num_layers == 6
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.weight_decay) == ('AdamW', 1e-4, 0.05)
    assert opt.clip_grad.max_norm == 0.01 and opt.constructor == 'mmconvnext.LearningRateDecayOptimizerConstructor'
    keys = opt.paramwise_cfg.custom_keys
    assert opt.paramwise_cfg.decay_rate == 1.0 and keys.backbone.lr_mult == 0.1
    assert all(keys[k].decay_mult == 0.0 for k in ('query_embed', 'query_feat', 'level_embed'))
    assert cfg.train_cfg.max_iters == iters and cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.train_dataloader.dataset.type == dataset
    (scheduler,) = cfg.param_scheduler if isinstance(cfg.param_scheduler, list) else [cfg.param_scheduler]
    if iters == 160000:
        assert (scheduler.type, scheduler.power, scheduler.end) == ('PolyLR', 0.9, iters)
        resize, crop_t = cfg.train_pipeline[2], cfg.train_pipeline[3]
        assert (
            resize.type == 'RandomChoiceResize' and max(resize.scales) == 2 * crop and min(resize.scales) == crop // 2
        )
        assert tuple(crop_t.crop_size) == (crop, crop) and tuple(cfg.model.data_preprocessor.size) == (crop, crop)
    else:
        assert scheduler.type == 'MultiStepLR' and list(scheduler.milestones) == [327778, 355092]
        resize = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomResize')
        assert tuple(resize.scale) == (crop, crop) and tuple(resize.ratio_range) == (0.1, 2.0)
