"""DeepLabV3+ (mmseg's head) on ConvNeXt at output stride 16: the real config, shrunk to a tiny
backbone, builds with stride-16 features and trains a step with its own optimizer settings."""

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from ..conftest import ROOT, TINY_ARCH

CONFIG = ROOT / 'configs' / 'deeplabv3plus_convnext_tiny_ade20k.py'


def test_config_holds_output_stride_16_and_its_aspp_rates():
    cfg = Config.fromfile(str(CONFIG))
    backbone, head = cfg.model.backbone, cfg.model.decode_head
    assert backbone.type == 'mmconvnext.ConvNeXt' and backbone.output_stride == 16
    assert head.type == 'DepthwiseSeparableASPPHead' and tuple(head.dilations) == (1, 6, 12, 18)
    assert (head.in_index, head.in_channels, head.c1_in_channels) == (3, 768, 96)
    assert cfg.model.pretrained is None and 'convnext_tiny_1k_224' in backbone.init_cfg.checkpoint


def test_a_training_step_on_stride_16_features():
    cfg = Config.fromfile(str(CONFIG))
    channels = TINY_ARCH['channels']
    cfg.model.backbone.update(arch=dict(TINY_ARCH), init_cfg=None)
    cfg.model.decode_head.update(in_channels=channels[3], c1_in_channels=channels[0], channels=16, c1_channels=8)
    cfg.model.auxiliary_head.update(in_channels=channels[2], channels=8)
    cfg.model.data_preprocessor.size = (64, 64)
    init_default_scope('mmseg')
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.backbone.out_strides == (4, 8, 16, 16)
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64)))
        samples.append(s)
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)], data_samples=samples)
    features = model.extract_feat(model.data_preprocessor(data, True)['inputs'])
    assert [f.shape[-1] for f in features] == [16, 8, 4, 4]
    model.train()
    log_vars = model.train_step(data, build_optim_wrapper(model, cfg.optim_wrapper))
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(log_vars)
    assert torch.isfinite(log_vars['loss']).item()
    model.eval()
    with torch.no_grad():
        (result,) = model.test_step(dict(inputs=data['inputs'][:1], data_samples=samples[:1]))
    assert result.pred_sem_seg.data.shape == (1, 64, 64)
