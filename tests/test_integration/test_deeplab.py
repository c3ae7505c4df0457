"""DeepLabV3+ (mmseg's head) on ConvNeXt at output stride 16: the real config, shrunk to a tiny
backbone, builds with stride-16 features and trains a step with its own optimizer settings."""

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmconvnext.analysis import fit_heads

from ..conftest import ROOT, TINY_ARCH

CONFIG = ROOT / 'configs' / 'deeplabv3plus_convnext_tiny_ade20k.py'


def test_config_holds_output_stride_16_and_its_aspp_rates():
    cfg = Config.fromfile(str(CONFIG))
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    assert backbone.type == 'mmconvnext.ConvNeXt' and backbone.output_stride == 16
    assert head.type == 'DepthwiseSeparableASPPHead' and tuple(head.dilations) == (1, 6, 12, 18)
    assert tuple(backbone.out_indices) == (0, 2, 3)  # the outputs the heads read, no unused output norm
    assert (head.in_index, head.in_channels, head.c1_in_channels) == (2, 768, 96)
    assert cfg.model.pretrained is None and 'convnext_tiny_1k_224' in backbone.init_cfg.checkpoint


def test_a_training_step_on_stride_16_features():
    cfg = Config.fromfile(str(CONFIG))
    channels = TINY_ARCH['channels']
    cfg.model.backbone.update(arch=dict(TINY_ARCH), init_cfg=None)
    fit_heads(cfg.model, channels, width=8)
    cfg.model.data_preprocessor.size = (64, 64)
    init_default_scope('mmseg')
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.backbone.out_strides == (4, 16, 16)
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64)))
        samples.append(s)
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)], data_samples=samples)
    features = model.extract_feat(model.data_preprocessor(data, True)['inputs'])
    assert [f.shape[-1] for f in features] == [16, 4, 4]
    model.train()
    loss, _ = model.parse_losses(model(**model.data_preprocessor(data, True), mode='loss'))
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused  # every parameter is used: DDP would stop at one that is not
    log_vars = model.train_step(data, build_optim_wrapper(model, cfg.optim_wrapper))
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(log_vars)
    assert torch.isfinite(log_vars['loss']).item()
    model.eval()
    with torch.no_grad():
        (result,) = model.test_step(dict(inputs=data['inputs'][:1], data_samples=samples[:1]))
    assert result.pred_sem_seg.data.shape == (1, 64, 64)
