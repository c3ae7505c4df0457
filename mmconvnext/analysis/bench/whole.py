"""The whole-model rows of the benchmark (``--whole-model``): training steps (forward, backward, AdamW) of the
backbone alone, UperNet-T and Mask R-CNN-T built from the project's configs (with mmconvnext's backbone and with
mmpretrain's, and with mmconvnext's forced onto the plain eager ops), with ``with_cp``, and the segmentation
demo's iteration. Each case runs in a process of its own
(:mod:`.worker`) so that its peak memory is its own."""

import os
import os.path as osp
import resource

import torch

from mmconvnext.analysis.batches import dummy_batch
from mmconvnext.analysis.timing import median_time
from mmconvnext.models.layers import path_select

__all__ = ['DEMO_CASE', 'DEMO_CONFIG', 'WHOLE_CASES', 'run_demo_step', 'run_whole_case']

#: the repository root, where the configs are
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

# ---------------------------------------------------------------------------- whole models
#: the segmentation demo's training iteration (tools/demo.py, `make demo`): its config's model, optimizer
#: (AdamW with layer decay) and batch (8 x 128x128), without the data loading the demo's s/iter also holds
DEMO_CASE = 'seg-demo/mmconvnext'
DEMO_CONFIG = 'configs/upernet_convnext_atto_shapes_demo.py'
WHOLE_CASES = (
    'backbone/mmconvnext',
    'backbone/mmconvnext+with_cp',
    'upernet/mmconvnext',
    'upernet/mmpretrain',
    'upernet/mmconvnext-plain',
    'upernet/mmconvnext+with_cp',
    'maskrcnn/mmconvnext',
    'maskrcnn/mmpretrain',
    'maskrcnn/mmconvnext-plain',
    DEMO_CASE,
)


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def run_whole_case(
    case: str, det_size: list[int], warmup: int, repeats: int, batch: int = 8, size: int = 224, arch: str = 'tiny'
) -> dict[str, float]:
    """One training-step case, in this process (the parent runs each in a subprocess)."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm

    from mmconvnext.apis import build_model

    task, variant = case.split('/')
    if case == DEMO_CASE:
        return run_demo_step(warmup, repeats)
    if task == 'backbone':  # the backbone alone at the benchmark's batch and size
        from mmconvnext.models import ConvNeXt

        torch.manual_seed(0)
        model = ConvNeXt(
            arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, with_cp=variant.endswith('with_cp')
        ).train()
        x = torch.randn(batch, 3, size, size)
        path_select.tune_model(model, x.shape, train=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def backbone_step():
            optimizer.zero_grad(set_to_none=True)
            sum(o.mean() for o in model(x)).backward()
            optimizer.step()

        before = _rss_bytes()
        seconds = median_time(backbone_step, warmup, repeats)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {'step_s': seconds, 'peak_mib': (peak - before) / 2**20, 'size': f'{size}x{size}', 'batch': batch}
    if task == 'upernet':
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'upernet_convnext_tiny_ade20k.py'))
        h, w = 512, 512
    else:
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mask_rcnn_convnext_tiny_coco_1x.py'))
        h, w = det_size
    backbone = cfg.model.backbone
    backbone.init_cfg = None
    if variant.startswith('mmpretrain'):
        import mmpretrain.models  # noqa: F401  (registers mmpretrain.ConvNeXt)

        cfg.model.backbone = dict(
            type='mmpretrain.ConvNeXt',
            arch='tiny',
            out_indices=[0, 1, 2, 3],
            drop_path_rate=backbone.drop_path_rate,
            layer_scale_init_value=1.0,
            gap_before_final_norm=False,
        )
    if variant.endswith('with_cp'):
        backbone.with_cp = True
    if variant == 'mmconvnext-plain':  # the backbone on the plain eager ops (no oneDNN, no compiled kernels)
        backbone.onednn_cpu = False
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg))  # one process: plain BN
    model.init_weights()
    model.train()
    inputs, samples = dummy_batch('seg' if task == 'upernet' else 'det', 2, h, w, 150 if task == 'upernet' else 80)
    path_select.tune_model(model, (2, 3, h, w), train=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        loss.backward()
        optimizer.step()

    before = _rss_bytes()
    seconds = median_time(step, warmup, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {'step_s': seconds, 'peak_mib': (peak - before) / 2**20, 'size': f'{h}x{w}', 'batch': 2}


def run_demo_step(warmup: int, repeats: int) -> dict[str, float]:
    """Seconds per training iteration of the segmentation demo's model as ``tools/demo.py``
    trains it (its config's model and optimizer wrapper, a synthetic batch of its shape), so
    a reader can set the demo's printed s/iter beside it: the difference is data loading."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from mmconvnext.apis import build_model

    cfg = Config.fromfile(osp.join(ROOT, DEMO_CONFIG))
    batch = cfg.train_dataloader.batch_size
    h, w = cfg.crop_size
    torch.manual_seed(0)
    model = revert_sync_batchnorm(build_model(cfg))  # as the runner does outside distributed training
    model.init_weights()
    model.train()
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    inputs, samples = dummy_batch('seg', batch, h, w, cfg.num_classes)
    path_select.tune_model(model, (batch, 3, h, w), train=True)

    def step():
        losses = model(inputs, samples, mode='loss')
        loss, _ = model.parse_losses(losses)
        wrapper.update_params(loss)  # backward, step, zero_grad: the runner's train_step

    before = _rss_bytes()
    seconds = median_time(step, warmup, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {'step_s': seconds, 'peak_mib': (peak - before) / 2**20, 'size': f'{h}x{w}', 'batch': batch}
