"""Mixed precision through the real configs (``--amp``'s wrapper on a CPU: bf16 autocast,
the dispatch CUDA's AMP uses too): one training step each of the classifier (its
RandAugment / Random Erasing / Mixup / CutMix preprocessor included), UperNet, DeepLabV3+
at output stride 16, Mask2Former (semantic through mmseg, instances through mmdet: mmcv's
deformable attention on its PyTorch path), Mask R-CNN and Cascade Mask R-CNN, with and
without ``with_cp``, shrunk only in size. Every
loss is finite and every fp32 parameter gets a finite fp32 gradient; the optimizer
step keeps the parameters fp32; eval outputs under autocast are within bf16 tolerance
of fp32."""

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmconvnext.analysis import dummy_batch, fit_heads
from mmconvnext.apis import build_model, enable_amp
from mmconvnext.engine import AutocastOptimWrapper

from ..conftest import ROOT, TINY_ARCH

ARCH = {k: list(v) for k, v in TINY_ARCH.items()}
C = ARCH['channels']
CONFIGS = {
    'cls': ('convnext_tiny_in1k.py', dict(model=dict(num_classes=10))),
    'seg': ('upernet_convnext_tiny_ade20k.py', dict(model=dict(data_preprocessor=dict(size=(64, 64))))),
    'deeplab': ('deeplabv3plus_convnext_tiny_ade20k.py', dict(model=dict(data_preprocessor=dict(size=(64, 64))))),
    'm2f_seg': ('mask2former_convnext_tiny_ade20k.py', dict(model=dict(data_preprocessor=dict(size=(64, 64))))),
    'det': ('mask_rcnn_convnext_tiny_coco_1x.py', {}),
    'cascade': ('cascade_mask_rcnn_convnext_tiny_coco_3x.py', {}),
    # LSJ's fixed 1024x1024 batch pad left out: the batch keeps its 96x128 size
    'm2f_det': ('mask2former_convnext_tiny_coco.py', dict(model=dict(data_preprocessor=dict(batch_augments=None)))),
}
SIZES = {'cls': (32, 32), 'seg': (64, 64), 'deeplab': (64, 64), 'm2f_seg': (64, 64)}
#: the kind of batch (``dummy_batch``) each task takes
KIND = {'cls': 'cls', 'seg': 'seg', 'deeplab': 'seg', 'm2f_seg': 'seg'}


def shrunk(task: str, with_cp: bool) -> Config:
    name, extra = CONFIGS[task]
    cfg = Config.fromfile(str(ROOT / 'configs' / name))
    cfg.model.backbone.arch = ARCH
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.with_cp = with_cp
    fit_heads(cfg.model, C, width=16)  # narrow heads: bf16 convs are ~30x slower than fp32 on AVX2 CPUs
    cfg.merge_from_dict(extra)
    enable_amp(cfg, 'cpu')
    return cfg


def build(cfg: Config):
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg))  # one process: plain BN
    model.init_weights()
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, wrapper


def batch(task: str):
    return dummy_batch(KIND.get(task, 'det'), 2, *SIZES.get(task, (96, 128)), num_classes=10 if task == 'cls' else 80)


@pytest.mark.parametrize('with_cp', [False, True], ids=['', 'with_cp'])
@pytest.mark.parametrize('task', list(CONFIGS))
def test_one_bf16_training_step(task, with_cp):
    cfg = shrunk(task, with_cp)
    model, wrapper = build(cfg)
    assert isinstance(wrapper, AutocastOptimWrapper)
    model.train()
    inputs, samples = batch(task)
    # mmengine's BaseModel.train_step, with the gradients looked at before the step
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu') and torch.get_autocast_dtype('cpu') == torch.bfloat16
        data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
        losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values()), log_vars
    if task == 'cls':
        assert all(s.gt_score.dtype == torch.float32 for s in data['data_samples'])  # Mixup/CutMix targets
    wrapper.backward(loss)
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and p.grad is None]
    assert not missing, missing
    for name, p in params.items():
        assert p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), name
    wrapper.step()
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in params.values())


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float(), b.float()
    return ((a - b).abs().max() / a.abs().max().clamp_min(1e-12)).item()


def _outputs(model, task: str, data: dict, proposals=None):
    if task == 'cls':
        return [model(data['inputs'], mode='tensor')]
    if task in ('seg', 'deeplab'):
        return [model(data['inputs'], data['data_samples'], mode='tensor')]
    if task.startswith('m2f'):
        # The class and mask logits before the first decoder layer: the backbone and the deformable-attention
        # pixel decoder behind them. Each later layer masks its attention where a mask logit is below 0, a
        # threshold that bf16 rounding flips for logits near it: its outputs are not continuous in the input.
        head = model.decode_head if task == 'm2f_seg' else model.panoptic_head
        cls_scores, mask_preds = head(model.extract_feat(data['inputs']), data['data_samples'])
        return [cls_scores[0], mask_preds[0]]
    feats = model.extract_feat(data['inputs'])
    # the RoI heads on the same (fp32) proposals, so NMS cannot pick different boxes
    heads = model.roi_head.forward(feats, proposals, data['data_samples'])
    flat = []
    for v in heads:
        flat.extend(v if isinstance(v, (list, tuple)) else [v])
    return list(feats) + flat


@pytest.mark.parametrize('task', list(CONFIGS))
def test_eval_outputs_under_autocast_are_close_to_fp32(task):
    model, _ = build(shrunk(task, with_cp=False))
    model.eval()
    inputs, samples = batch(task)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), False)
        proposals = None
        if task in ('det', 'cascade'):
            proposals = model.rpn_head.predict(model.extract_feat(data['inputs']), data['data_samples'], rescale=False)
        ref = _outputs(model, task, data, proposals)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = _outputs(model, task, data, proposals)
            if task in ('det', 'cascade', 'm2f_det'):  # and the whole predict path (RoIAlign, NMS ...) runs
                results = model.predict(data['inputs'], data['data_samples'])
                assert all(torch.isfinite(r.pred_instances.bboxes).all() for r in results)
            if task == 'm2f_seg':
                results = model.predict(data['inputs'], data['data_samples'])
                assert all(r.pred_sem_seg.data.shape[-2:] == SIZES[task] for r in results)
    assert len(ref) == len(outs) > 0
    for i, (a, b) in enumerate(zip(ref, outs)):
        assert torch.isfinite(b).all(), i
        assert rel_err(a, b) <= 5e-2, (i, rel_err(a, b))
