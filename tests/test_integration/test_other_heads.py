"""The README's recipe for any other head, on its example: mmdet's DINO (a DETR-style detector, deformable
attention on mmcv's PyTorch path) over the backbone, from mmdet's own config with only the backbone, the neck's
input widths and the lr rule changed: it builds at the published size and trains a step, shrunk only in depth
and width."""

import copy

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmconvnext.analysis import dummy_batch
from mmconvnext.apis import build_model

from ..conftest import ROOT, TINY_ARCH

CONFIG = ROOT / 'configs' / 'dino_convnext_tiny_coco_1x.py'


def test_the_readme_names_the_example():
    readme = (ROOT / 'README.md').read_text()
    assert '## Under any other head' in readme and 'configs/dino_convnext_tiny_coco_1x.py' in readme


def test_dino_builds_with_the_backbone_and_trains_a_step():
    cfg = Config.fromfile(str(CONFIG))
    full = build_model(copy.deepcopy(cfg), 'meta')  # DINO edits its config as it builds
    assert type(full.backbone).__name__ == 'ConvNeXt' and full.backbone.out_strides == (8, 16, 32)
    assert 48e6 < sum(p.numel() for p in full.parameters()) < 49e6  # DINO-4scale R50: 47M; ConvNeXt-T ~ R50

    channels = TINY_ARCH['channels']
    cfg.model.backbone.update(arch=dict(TINY_ARCH), init_cfg=None)
    cfg.model.neck.update(in_channels=channels[1:])
    cfg.model.update(num_queries=20)
    cfg.model.encoder.update(num_layers=1)
    cfg.model.decoder.update(num_layers=2)
    cfg.model.dn_cfg.group_cfg.update(num_dn_queries=10)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    inputs, samples = dummy_batch('det', 2, 64, 96, num_classes=80)
    for s in samples:  # DINO takes boxes only
        del s.gt_instances.masks
    model.train()
    log_vars = model.train_step(dict(inputs=list(inputs), data_samples=samples), wrapper)
    assert {'loss_cls', 'loss_bbox', 'loss_iou', 'dn_loss_cls'} <= set(log_vars)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    lrs = {g['lr'] for g in wrapper.optimizer.param_groups}
    assert lrs == {1e-4, 1e-5}  # the heads, the backbone x0.1
