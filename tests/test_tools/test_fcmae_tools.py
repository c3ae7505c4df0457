"""FCMAE pre-training through tools/train.py on a tiny ImageNet-layout folder (the real
config, shrunk in size and schedule): the loss falls, validation reports the masked-patch
loss and draws reconstructions, and the checkpoint initialises the V2 fine-tuning,
UperNet and Mask R-CNN configs with every backbone tensor matched (no missing key)."""

import re
import sys

import pytest
import torch
from mmengine.config import Config

from mmconvnext.apis import build_model
from mmconvnext.checkpoint import load_pretrained

from ..conftest import ROOT, load_checkpoint_file, run_tool, tool_env

SIZE = 64
DERIVED = """
_base_ = '{base}'
model = dict(decoder_embed_dim=64)
loader = dict(batch_size=8, num_workers=0, persistent_workers=False, pin_memory=False)
train_dataloader = dict(
    **loader,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='mmconvnext.RandomResizedCrop', scale={size}, crop_scale=(0.2, 1.0), interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='mmconvnext.PackClsInputs'),
    ]))
val_dataloader = dict(
    **loader,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(100_000, {size}), keep_ratio=True, interpolation='bicubic'),
        dict(type='CenterCrop', crop_size={size}),
        dict(type='mmconvnext.PackClsInputs'),
    ]))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-3))
auto_scale_lr = dict(enable=False)
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=0, end=3, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=3, val_interval=3)
default_hooks = dict(logger=dict(interval=1))
"""


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    from mmconvnext.datasets import make_shapes_imagenet

    tmp = tmp_path_factory.mktemp('fcmae')
    data = make_shapes_imagenet(str(tmp / 'data'), num_train=32, num_val=8)
    config = tmp / 'fcmae_derived.py'
    config.write_text(DERIVED.format(base=ROOT / 'configs' / 'fcmae_convnextv2_atto_in1k.py', size=SIZE))
    work = tmp / 'work'
    log = run_tool(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work), '--data-root', data],
        tool_env(),
        timeout=600,
    )
    return work, log


def test_loss_falls_and_validation_reports_and_draws(pretrained):
    work, log = pretrained
    losses = [float(v) for v in re.findall(r'Epoch\(train\).*?\bloss: ([\d.]+)', log)]
    assert len(losses) == 12, log[-3000:]  # 3 epochs x 4 iterations
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    print('FCMAE losses:', losses)
    assert last < first - 0.01, losses
    assert re.search(r'Epoch\(val\).*fcmae/loss: [\d.]+', log), log[-3000:]
    pictures = list(work.rglob('vis_image/fcmae_reconstruction_12.png'))
    assert len(pictures) == 1 and pictures[0].stat().st_size > 2000


@pytest.mark.parametrize(
    'config',
    [
        'convnextv2_atto_fcmae_ft_in1k.py',
        'upernet_convnextv2_base_ade20k.py',
        'mask_rcnn_convnextv2_base_fcmae_coco_lsj_3x.py',
    ],
)
def test_checkpoint_initialises_v2_configs_with_no_missing_backbone_key(pretrained, config):
    work, _ = pretrained
    checkpoint = work / 'epoch_3.pth'
    saved = load_checkpoint_file(checkpoint)['state_dict']
    assert 'mask_token' in saved and any(k.startswith('decoder.') for k in saved)

    cfg = Config.fromfile(str(ROOT / 'configs' / config))
    cfg.model.backbone.arch = 'atto'
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    model = build_model(cfg)
    model.init_weights()  # through the config's init_cfg
    own = model.backbone.state_dict()
    body = [k for k in own if not re.match(r'norm\d+\.', k)]  # the output norms are new in these models
    assert body and all(torch.equal(own[k], saved['backbone.' + k]) for k in body)
    missing, unexpected = load_pretrained(model.backbone, str(checkpoint), prefix='backbone.')
    assert missing == [] and unexpected == []
