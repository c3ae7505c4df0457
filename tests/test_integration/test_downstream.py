"""The backbone inside mmdet's Mask R-CNN and mmseg's UperNet, built from their own base
configs with only ``type`` and ``custom_imports`` changed, and one training step each."""

import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmconvnext.models import ConvNeXt

from ..conftest import ROOT, TINY_ARCH

ARCH = {k: list(v) for k, v in TINY_ARCH.items()}


def backbone_cfg(**extra) -> dict:
    # exactly the arguments mmdet/mmseg configs pass to mmpretrain.ConvNeXt
    return dict(
        type='mmconvnext.ConvNeXt',
        arch=ARCH,
        out_indices=[0, 1, 2, 3],
        drop_path_rate=0.4,
        layer_scale_init_value=1.0,
        gap_before_final_norm=False,
        **extra,
    )


def write_config(tmp_path, text: str) -> Config:
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def optim(model, lr=1e-4, decay_type='layer_wise'):
    return build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05),
            constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
            paramwise_cfg=dict(decay_rate=0.9, decay_type=decay_type, num_layers=6),
        ),
    )


def test_import_is_cheap():
    code = (
        'import sys, mmconvnext; bad = [m for m in ("mmdet", "mmseg", "mmpretrain") if m in sys.modules];'
        'assert not bad, bad'
    )
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmengine'])
def test_built_by_type_from_any_scope(tmp_path, scope):
    cfg = write_config(
        tmp_path,
        f"""
custom_imports = dict(imports=['mmconvnext'], allow_failed_imports=False)
default_scope = '{scope}'
backbone = {backbone_cfg()!r}
""",
    )
    init_default_scope(cfg.default_scope)
    registry = {'mmdet': 'mmdet.registry', 'mmseg': 'mmseg.registry', 'mmengine': 'mmengine.registry'}[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    model = models.build(cfg.backbone)
    assert type(model) is ConvNeXt
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == ARCH['channels']


def test_mask_rcnn_from_mmdet_base_config_trains_a_step(tmp_path):
    ckpt = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in ConvNeXt(ARCH).state_dict().items()}}, ckpt)
    backbone = backbone_cfg(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    cfg = write_config(
        tmp_path,
        f"""
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']
custom_imports = dict(imports=['mmconvnext'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, **{backbone!r}),
    neck=dict(in_channels={ARCH['channels']!r}))
""",
    )
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs

    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone) is ConvNeXt
    data = demo_mm_inputs(
        batch_size=2, image_shapes=[(3, 128, 160), (3, 96, 128)], num_items=[2, 3], num_classes=80, with_mask=True
    )
    model.train()
    log_vars = model.train_step(data, optim(model))
    assert {'loss_rpn_cls', 'loss_bbox', 'loss_mask'} <= set(log_vars)
    assert torch.isfinite(log_vars['loss']).item()


def test_upernet_from_mmseg_base_config_trains_a_step(tmp_path):
    cfg = write_config(
        tmp_path,
        f"""
_base_ = ['mmseg::_base_/models/upernet_r50.py']
custom_imports = dict(imports=['mmconvnext'], allow_failed_imports=False)
model = dict(
    pretrained=None,  # as mmseg's own ConvNeXt configs: the base's ResNet weights do not apply
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(_delete_=True, **{backbone_cfg()!r}),
    decode_head=dict(in_channels={ARCH['channels']!r}, channels=32, num_classes=5),
    auxiliary_head=dict(in_channels={ARCH['channels'][2]}, channels=16, num_classes=5))
""",
    )
    assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'  # mmseg's base: must run in one CPU process
    init_default_scope('mmseg')
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    model = MODELS.build(cfg.model)
    model.init_weights()
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 64, 64)))
        samples.append(s)
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)], data_samples=samples)
    model.train()
    log_vars = model.train_step(data, optim(model, decay_type='stage_wise'))
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(log_vars)
    assert torch.isfinite(log_vars['loss']).item()
