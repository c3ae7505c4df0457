"""Mask2Former on ConvNeXt, through mmseg's (semantic) and mmdet's (panoptic, instance) own implementations:
the optimizer's lr and weight decay of every parameter against the Mask2Former recipe, through the one
layer-decay constructor; the real configs, shrunk to a tiny backbone and head, train a step and evaluate
(mIoU, PQ, mask mAP) on generated data in the datasets' real layouts through tools/train.py; the panoptic
generator's ground truth scores PQ 100 as a prediction."""

import json
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import DefaultOptimWrapperConstructor, build_optim_wrapper
from mmengine.registry import DefaultScope

from mmconvnext.apis import build_model
from mmconvnext.datasets import make_shapes_coco, make_shapes_coco_panoptic, make_shapes_dataset

from ..conftest import ROOT, run_tool, tool_env
from ..derived_configs import mask2former_det_tiny, mask2former_seg_tiny

EMBEDDINGS = ('query_embed', 'query_feat', 'level_embed')


def lr_and_decay(model, optim_wrapper_cfg, scope: str) -> dict:
    """``{parameter name: (lr, weight decay)}`` of the optimizer the config builds for ``model``."""
    with DefaultScope.overwrite_default_scope(scope):
        optimizer = build_optim_wrapper(model, optim_wrapper_cfg).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g['lr'], g['weight_decay']) for g in optimizer.param_groups for p in g['params']}


@pytest.mark.parametrize(
    'config,scope',
    [('mask2former_convnext_tiny_ade20k.py', 'mmseg'), ('mask2former_convnext_tiny_coco_panoptic.py', 'mmdet')],
)
def test_every_parameter_gets_the_recipes_lr_and_weight_decay(config, scope, tmp_path):
    """Backbone lr x0.1; weight decay 0.05 except on the query features, query and level embeddings and every
    norm, bias and other 1-D parameter. Against mmengine's constructor on mmdet's / mmseg's own paramwise_cfg:
    the same lr everywhere and the same decay but on 1-D parameters, which it decays where the recipe does not
    (the backbone's norms) or the ConvNeXt convention does not (biases, layer scales)."""
    cfg = Config.fromfile(str(ROOT / 'configs' / config))
    model = build_model(cfg, 'meta')
    ours = lr_and_decay(model, cfg.optim_wrapper, scope)
    assert len(ours) == sum(1 for _ in model.parameters())
    for name, (lr, decay) in ours.items():
        param = model.get_parameter(name)
        assert lr == pytest.approx(1e-5 if name.startswith('backbone.') else 1e-4), name
        undecayed = param.ndim == 1 or name.endswith('.bias') or any(k in name for k in EMBEDDINGS)
        assert decay == (0.0 if undecayed else 0.05), name
    assert any(k in n for n in ours for k in EMBEDDINGS)  # the keys name real parameters

    theirs_cfg = dict(cfg.optim_wrapper, paramwise_cfg=mmlab_paramwise_cfg(scope, tmp_path))
    theirs_cfg.pop('constructor')
    with DefaultScope.overwrite_default_scope(scope):
        theirs = DefaultOptimWrapperConstructor(theirs_cfg, theirs_cfg.pop('paramwise_cfg'))(model).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    reference = {names[id(p)]: (g['lr'], g['weight_decay']) for g in theirs.param_groups for p in g['params']}
    differ = {n for n in ours if ours[n] != pytest.approx(reference[n])}
    assert all(ours[n][0] == pytest.approx(reference[n][0]) for n in ours)
    # mmengine gives a parameter matching a custom key (here 'backbone') that key's decay_mult before its
    # norm rule, so the backbone's norms would decay (mmdet's/mmseg's Swin configs add a key per norm)
    assert differ and all(model.get_parameter(n).ndim == 1 and ours[n][1] == 0.0 for n in differ)
    assert any('.norm' in n or 'downsample_layers' in n for n in differ)


def mmlab_paramwise_cfg(scope: str, tmp_path) -> dict:
    """The paramwise_cfg of mmdet's / mmseg's own Mask2Former config."""
    base = {
        'mmseg': 'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
        'mmdet': 'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
    }[scope]
    path = tmp_path / 'theirs.py'
    path.write_text(f'_base_ = {base!r}\n')
    return Config.fromfile(str(path)).optim_wrapper.paramwise_cfg.to_dict()


def test_layer_decay_multiplies_the_backbone_multiplier():
    """decay_rate below 1 on top of the recipe: a backbone parameter of group i of N gets
    lr * 0.1 * 0.9 ** (N - 1 - i), the heads keep lr (the embeddings undecayed)."""
    cfg = Config.fromfile(str(ROOT / 'configs' / 'mask2former_convnext_tiny_ade20k.py'))
    cfg.optim_wrapper.paramwise_cfg.update(decay_rate=0.9, num_layers=6)
    model = build_model(cfg, 'meta')
    lrs = lr_and_decay(model, cfg.optim_wrapper, 'mmseg')
    for name, (lr, _) in lrs.items():
        if name.startswith('backbone.'):
            group, groups = model.backbone.get_layer_depth(name, 'backbone.', num_layers=6, decay_type='stage_wise')
            assert lr == pytest.approx(1e-4 * 0.1 * 0.9 ** (groups - 1 - group)), name
        else:
            assert lr == pytest.approx(1e-4), name
    assert lrs['backbone.downsample_layers.0.0.weight'][0] == pytest.approx(1e-5 * 0.9**7)


def test_semantic_trains_a_step_and_reports_miou(tmp_path):
    data = make_shapes_dataset(str(tmp_path / 'data'), num_train=4, num_val=2, size=48)
    config = tmp_path / 'm2f_seg.py'
    config.write_text(mask2former_seg_tiny(str(ROOT / 'configs' / 'mask2former_convnext_tiny_ade20k.py')))
    work = tmp_path / 'work'
    log = run_tool(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work), '--data-root', data], tool_env()
    )
    assert 'Iter(train) [1/1]' in log and 'decode.d2.loss_dice' in log and 'mIoU' in log
    assert_finite_losses(work)


@pytest.mark.parametrize('task', ['panoptic', 'instance'])
def test_coco_tasks_train_a_step_and_report_their_metric(tmp_path, task):
    """Panoptic: PQ on the generated COCO-panoptic layout (things and stuff from the config). Instances: box and
    mask mAP, the classes and Mask2Former's num_things_classes / class weights set by --data-root from the
    json (80 -> 4)."""
    panoptic = task == 'panoptic'
    make = make_shapes_coco_panoptic if panoptic else make_shapes_coco
    data = make(str(tmp_path / 'data'), num_train=4, num_val=2, size=64)
    base = 'mask2former_convnext_tiny_coco_panoptic.py' if panoptic else 'mask2former_convnext_tiny_coco.py'
    config = tmp_path / f'm2f_{task}.py'
    config.write_text(mask2former_det_tiny(str(ROOT / 'configs' / base), 'data/coco/', panoptic))
    work = tmp_path / 'work'
    log = run_tool(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work), '--data-root', data], tool_env()
    )
    assert 'Iter(train) [1/1]' in log and 'd2.loss_mask' in log
    assert ('coco_panoptic/PQ:' in log) if panoptic else ('coco/segm_mAP:' in log and 'num_things_classes=4' in log)
    assert_finite_losses(work)


def assert_finite_losses(work) -> None:
    (scalars,) = work.glob('*/vis_data/scalars.json')
    losses = {k: v for k, v in json.loads(scalars.read_text().splitlines()[0]).items() if 'loss' in k}
    assert len(losses) > 10 and all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses


def test_panoptic_ground_truth_scores_pq_100(tmp_path):
    """The generated panoptic layout is what mmdet's dataset and PQ metric read: its own ground truth, given as
    the prediction (things and stuff from each image's PNG and segments), scores PQ 100 for things and stuff."""
    pytest.importorskip('panopticapi')
    from mmdet.datasets import CocoPanopticDataset
    from mmdet.evaluation import CocoPanopticMetric
    from mmdet.utils import register_all_modules

    register_all_modules()
    root = make_shapes_coco_panoptic(str(tmp_path / 'data'), num_train=1, num_val=3, size=64)
    things, stuff = ('disc', 'box', 'triangle', 'ring'), ('background',)
    meta = dict(classes=things + stuff, thing_classes=things, stuff_classes=stuff)
    dataset = CocoPanopticDataset(
        data_root=root,
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        metainfo=meta,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
        ],
        test_mode=True,
    )
    metric = CocoPanopticMetric(
        ann_file=f'{root}/annotations/panoptic_val2017.json', seg_prefix=f'{root}/annotations/panoptic_val2017/'
    )
    metric.dataset_meta = dataset.metainfo
    samples = []
    for i in range(len(dataset)):
        item = dataset[i]
        panoptic = torch.from_numpy(item['gt_seg_map'].astype('int64'))  # stuff (and void 255) by label
        for k, (mask, label) in enumerate(zip(item['gt_masks'].masks, item['gt_bboxes_labels'])):
            panoptic[torch.from_numpy(mask.astype(bool))] = int(label) + (k + 1) * 1000  # mmdet's INSTANCE_OFFSET
        panoptic[panoptic == 255] = len(things) + len(stuff)  # void: the "no class" label
        samples.append(
            dict(
                img_id=item['img_id'],
                img_path=item['img_path'],
                ori_shape=item['ori_shape'],
                segments_info=item['segments_info'],
                seg_map_path=item['seg_map_path'],
                pred_panoptic_seg=dict(sem_seg=panoptic[None]),
            )
        )
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    assert results['coco_panoptic/PQ'] == pytest.approx(100.0)
    assert results['coco_panoptic/PQ_th'] == pytest.approx(100.0) and results['coco_panoptic/PQ_st'] == pytest.approx(
        100.0
    )
