"""FCMAE (mmconvnext.FCMAE): the dense emulation of sparse convolution lets nothing of a
masked patch reach a visible position; loss, gradients (fp32, bf16 autocast, with_cp),
validation outputs, the metric and the picture."""

import numpy as np
import pytest
import torch

import mmconvnext  # noqa: F401  (registers)
from mmconvnext.engine.reconstruction_hook import reconstruction_grid
from mmconvnext.evaluation import ReconstructionLoss
from mmconvnext.models.selfsup import FCMAE, patchify, random_patch_mask, unpatchify
from mmconvnext.registry import MODELS

V2_ATTO = dict(arch='atto', use_grn=True, layer_scale_init_value=0.0)
# 2 images of 64x96 pixels: a 2x3 grid of 32-pixel patches each
MASK = torch.tensor([[[0, 1, 0], [1, 0, 0]], [[1, 1, 0], [0, 0, 1]]], dtype=torch.float32)


#: a small V2 for the gradient checks (bf16 convolutions are slow on CPUs without AMX)
V2_TINY = dict(arch=dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64]), use_grn=True, layer_scale_init_value=0.0)


def build(arch: dict = V2_ATTO, **kwargs) -> FCMAE:
    """An FCMAE whose GRNs are not the identity they start as (gamma = beta = 0), as after
    training: else masking their statistics would change nothing."""
    torch.manual_seed(0)
    backbone = dict(arch, **kwargs.pop('backbone', {}))
    model = MODELS.build(dict(type='mmconvnext.FCMAE', backbone=backbone, decoder_embed_dim=64, **kwargs))
    model.init_weights()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if '.grn.' in name:
                p.normal_(0.0, 0.5)
    return model


def stage_outputs(model: FCMAE, images: torch.Tensor, mask: torch.Tensor) -> list:
    outs = []
    handles = [s.register_forward_hook(lambda m, i, o: outs.append(o.detach().clone())) for s in model.backbone.stages]
    with torch.no_grad():
        model.encode(images, mask)
    for h in handles:
        h.remove()
    return outs


def visible(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    h, w = like.shape[-2:]
    m = mask.repeat_interleave(h // mask.shape[1], 1).repeat_interleave(w // mask.shape[2], 2)
    return (1 - m)[:, None].bool().expand_as(like)


def leak(model: FCMAE) -> list:
    """The largest change, at visible positions of each stage's output, that new pixels in
    the masked patches cause."""
    torch.manual_seed(1)
    images = torch.randn(2, 3, 64, 96)
    noisy = images + 3 * torch.randn_like(images) * visible(1 - MASK, images)  # only masked pixels change
    a, b = stage_outputs(model, images, MASK), stage_outputs(model, noisy, MASK)
    return [float((x - y)[visible(MASK, x)].abs().max()) for x, y in zip(a, b)]


@pytest.mark.parametrize('train_mode', [False, True], ids=['eval', 'train'])
def test_masked_patches_never_reach_visible_positions_of_any_stage(train_mode):
    model = build()
    model.train(train_mode)
    assert leak(model) == [0.0, 0.0, 0.0, 0.0]


def plain_stage_outputs(model: FCMAE, images: torch.Tensor) -> list:
    """The encoder's stages without any mask (the hooks idle)."""
    model._sparse.mask = None
    outs, x = [], images
    with torch.no_grad():
        for downsample, stage in zip(model.backbone.downsample_layers, model.backbone.stages):
            x = stage(downsample(x))
            outs.append(x)
    return outs


def crop_error(model: FCMAE) -> list:
    """Sparse semantics, exactly: with the right column of patches removed, each stage's
    output over the visible part equals the unmasked encoder's on the visible crop (its
    zero padding is where the removed sites are; its GRN statistics cover the crop only)."""
    torch.manual_seed(2)
    images = torch.randn(2, 3, 64, 96)
    right_removed = torch.tensor([[0, 0, 1], [0, 0, 1]], dtype=torch.float32).expand(2, 2, 3)
    masked = stage_outputs(model, images, right_removed)
    dense = plain_stage_outputs(model, images[..., :64])
    return [float((m[..., : d.shape[-1]] - d).abs().max() / d.abs().max()) for m, d in zip(masked, dense)]


def test_visible_positions_equal_the_dense_encoder_on_the_visible_crop():
    model = build()
    model.eval()
    assert max(crop_error(model)) < 1e-5
    # each hook is needed: without the blocks' masking the 7x7 convs read the removed sites,
    # without the GRNs' masking their statistics include them
    for kind in ('block', 'grn'):
        model = build()
        model.eval()
        for handle in model._sparse.handles[kind]:
            handle.remove()
        assert max(crop_error(model)) > 1e-3, kind


def test_loss_is_on_masked_patches_with_normalised_targets():
    model = build()
    images = torch.randn(2, 3, 64, 96)
    pred, per_patch = model._forward_masked(images, MASK)
    assert pred.shape == (2, 32 * 32 * 3, 2, 3) and per_patch.shape == (2, 6)
    target, mean, std = model.targets(images)
    assert torch.allclose(target.mean(-1), torch.zeros(2, 6), atol=1e-5)
    manual = (pred.flatten(2).transpose(1, 2) - target).pow(2).mean(-1)
    assert torch.allclose(per_patch, manual)
    assert torch.equal(unpatchify(patchify(images, 32), 32, (2, 3)), images)
    out = model(images, mode='loss')
    assert set(out) == {'loss'} and out['loss'].ndim == 0 and 0.5 < float(out['loss']) < 2.0


def test_random_mask_keeps_the_ratio():
    mask = random_patch_mask(16, (7, 7), 0.6)
    assert mask.shape == (16, 7, 7)
    assert (mask.flatten(1).sum(1) == 49 - int(49 * 0.4)).all()  # 30 of 49 removed per image
    assert not torch.equal(mask[0], mask[1])


def grads(model: FCMAE, images: torch.Tensor, autocast: bool = False) -> tuple[float, dict]:
    model.zero_grad()
    torch.manual_seed(3)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        loss = model(images, mode='loss')['loss']
    loss.backward()
    return float(loss), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradients_with_cp_equal_and_under_bf16_autocast_close():
    images = torch.randn(2, 3, 64, 64)
    model = build(V2_TINY)
    model.train()
    loss, ref = grads(model, images)
    # every parameter gets a gradient (no unused ones: distributed training would refuse them)
    assert set(ref) == {n for n, _ in model.named_parameters()}
    assert ref['mask_token'].abs().sum() > 0

    cp_model = build(V2_TINY, backbone=dict(with_cp=True))
    cp_model.train()
    cp_loss, cp = grads(cp_model, images)  # the blocks replay in backward under the same mask
    assert cp_loss == pytest.approx(loss, rel=1e-6)
    for name, g in ref.items():
        assert torch.allclose(cp[name], g, rtol=1e-4, atol=1e-7), name

    bf_loss, bf = grads(model, images, autocast=True)
    assert np.isfinite(bf_loss) and bf_loss == pytest.approx(loss, rel=5e-2)
    for name in ('mask_token', 'pred.weight', 'backbone.stages.3.0.pointwise_conv2.weight'):
        g, b = ref[name], bf[name].float()
        assert torch.isfinite(b).all() and float((b - g).norm() / g.norm()) < 0.1, name


def test_predict_uses_a_fixed_mask_per_image_and_keeps_visible_patches():
    model = build()
    model.eval()
    from mmengine.structures import BaseDataElement

    images = torch.randn(3, 3, 64, 64)
    samples = [BaseDataElement(metainfo=dict(img_path=f'val/x/{i}.JPEG')) for i in range(3)]
    out = model.predict(images, samples)
    again = model.predict(images[[2, 0]], [BaseDataElement(metainfo=dict(img_path=f'val/x/{i}.JPEG')) for i in (2, 0)])
    assert torch.equal(out[2].mask, again[0].mask) and torch.equal(out[0].mask, again[1].mask)
    assert not torch.equal(out[0].mask, out[1].mask)
    for sample, image in zip(out, images):
        keep = visible(sample.mask[None], image[None])[0]
        assert torch.equal(sample.pred_img[keep], image[keep])  # visible patches come from the input
        assert not torch.equal(sample.pred_img[~keep], image[~keep])
        assert sample.loss.ndim == 0 and sample.loss > 0

    metric = ReconstructionLoss()
    metric.process({}, [s.to_dict() for s in out])
    assert metric.compute_metrics(metric.results) == {'loss': pytest.approx(float(sum(s.loss for s in out) / 3))}
    with pytest.raises(KeyError, match="no 'loss'"):
        metric.process({}, [{'pred_score': 1}])

    grid = reconstruction_grid(
        [np.zeros((64, 64, 3), np.uint8)] * 2, [out[0].mask, out[1].mask], [np.full((64, 64, 3), 9, np.uint8)] * 2
    )
    assert grid.shape == (64 * 2 + 4, 64 * 3 + 8, 3) and grid.dtype == np.uint8


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='mask_ratio'):
        build(mask_ratio=1.0)
    with pytest.raises(ValueError, match='patch_size 16 must equal'):
        build(patch_size=16)
    model = build()
    with pytest.raises(ValueError, match='not a multiple of patch_size 32'):
        model(torch.randn(1, 3, 48, 64), mode='loss')


@pytest.mark.parametrize('size', ['atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large', 'huge'])
def test_pretraining_configs_carry_the_official_recipe(size):
    """configs/fcmae_convnextv2_*_in1k.py: ConvNeXt-V2 TRAINING.md / main_pretrain.py / models/fcmae.py."""
    from mmengine.config import Config

    from ..conftest import ROOT

    cfg = Config.fromfile(str(ROOT / 'configs' / f'fcmae_convnextv2_{size}_in1k.py'))
    m = cfg.model
    assert m.type == 'mmconvnext.FCMAE' and m.backbone.arch == size
    assert m.backbone.use_grn and m.backbone.layer_scale_init_value == 0 and m.backbone.drop_path_rate == 0
    assert (m.mask_ratio, m.patch_size, m.decoder_depth, m.decoder_embed_dim, m.norm_pix_loss) == (
        0.6,
        32,
        1,
        512,
        True,
    )
    assert m.data_preprocessor.get('mixup_cutmix') is None and m.data_preprocessor.get('rand_augment') is None
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.betas == (0.9, 0.95) and opt.weight_decay == 0.05
    assert opt.lr == pytest.approx(1.5e-4 * 4096 / 256) and cfg.auto_scale_lr.base_batch_size == 4096
    assert cfg.train_dataloader.batch_size * 32 == 4096
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cosine.end, cosine.eta_min) == (40, 40, 1600, 0.0)
    assert cfg.train_cfg.max_epochs == 1600
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert crop.type == 'mmconvnext.RandomResizedCrop' and crop.crop_scale == (0.2, 1.0) and crop.scale == 224
    assert cfg.val_evaluator.type == 'mmconvnext.ReconstructionLoss'
    assert [h.type for h in cfg.custom_hooks] == ['mmconvnext.ReconstructionVisualizationHook']  # no EMA


def test_pretraining_optimizer_groups_follow_the_official_decay_rule():
    """No decay on biases and 1-D parameters (timm's add_weight_decay), except GRN's (2-D officially)."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from ..conftest import ROOT

    cfg = Config.fromfile(str(ROOT / 'configs' / 'fcmae_convnextv2_atto_in1k.py'))
    model = build(V2_TINY)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    for name, value in decay.items():
        official = 0.0 if (name.endswith('.bias') or model.get_parameter(name).ndim == 1) else 0.05
        if '.grn.' in name:
            official = 0.05
        assert value == pytest.approx(official), name
    assert decay['mask_token'] == 0.05 and decay['backbone.stages.0.0.norm.weight'] == 0.0
