"""Backbone smoke job on generated data (runs on a 2-core CPU in about a minute).

    python tools/demo.py [--iters 300] [--work-dir work_dirs/demo]

1. Prints every arch's parameter count (with a 1000-class head) beside the paper's.
2. Trains ConvNeXt-atto + a 1x1-conv head (300 iterations) to segment generated shapes, through
   mmengine's Runner and the layer-wise lr-decay constructor, and reports the
   foreground IoU on held-out images before and after (it fails below 0.5).
3. Loads the saved runner checkpoint into a fresh backbone through
   ``init_cfg=dict(type='Pretrained', ...)``: the path every task's config uses.

The full segmentation demo (UperNet on an ADE20K-layout dataset) replaces this job
once it exists.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmconvnext.models import ConvNeXt
from mmconvnext.models.backbones.convnext import ARCH_SETTINGS

PAPER_PARAMS_M = {'atto': 3.7, 'femto': 5.2, 'pico': 9.1, 'nano': 15.6, 'tiny': 28.59, 'small': 50.22,
                  'base': 88.59, 'large': 197.77, 'xlarge': 350.20}


class Shapes(Dataset):
    """Deterministic 64x64 images: textured background, one to three discs/boxes (class 1)."""

    def __init__(self, n: int, seed: int, size: int = 64):
        g = torch.Generator().manual_seed(seed)
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing='ij')
        self.images, self.masks = [], []
        for _ in range(n):
            freq = torch.rand(3, generator=g) * 0.5 + 0.1
            img = 0.5 + 0.25 * torch.sin(xx[None] * freq[:, None, None] + yy[None] * freq.flip(0)[:, None, None])
            mask = torch.zeros(size, size, dtype=torch.long)
            for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
                cx, cy, r = (torch.rand(3, generator=g) * torch.tensor([size, size, size / 5])).tolist()
                r += 5
                if torch.rand(1, generator=g) < 0.5:
                    shape = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
                else:
                    shape = ((xx - cx).abs() < r) & ((yy - cy).abs() < r * 0.6)
                mask[shape] = 1
            colour = torch.rand(3, 1, 1, generator=g)
            img = torch.where(mask.bool()[None], colour + 0.1 * torch.randn(3, size, size, generator=g), img)
            self.images.append(((img - 0.5) / 0.25).float())
            self.masks.append(mask)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {'inputs': self.images[i], 'mask': self.masks[i]}


class TinySegmenter(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ConvNeXt('atto', out_indices=(0,), gap_before_final_norm=False, layer_scale_init_value=1.0)
        self.head = torch.nn.Conv2d(self.backbone.out_channels[0], 2, 1)

    def forward(self, inputs, mask=None, mode='tensor'):
        (feat,) = self.backbone(inputs)  # (N, 40, H/4, W/4)
        logits = F.interpolate(self.head(feat), size=inputs.shape[-2:], mode='bilinear', align_corners=False)
        if mode == 'loss':
            return {'loss': F.cross_entropy(logits, mask)}
        return logits


@torch.no_grad()
def foreground_iou(model: TinySegmenter, data: Shapes) -> float:
    model.eval()
    pred = model(torch.stack(data.images)).argmax(1)
    gt = torch.stack(data.masks)
    inter = ((pred == 1) & (gt == 1)).sum().item()
    union = ((pred == 1) | (gt == 1)).sum().item()
    return inter / max(union, 1)


class HeldOutIoU(Hook):
    """Foreground IoU on held-out images right after the Runner initialised the weights
    and after training."""

    def __init__(self, data: Shapes):
        self.data, self.before, self.after = data, float('nan'), float('nan')

    def before_train(self, runner) -> None:
        self.before = foreground_iou(runner.model, self.data)

    def after_train(self, runner) -> None:
        self.after = foreground_iou(runner.model, self.data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    args = parser.parse_args()
    start = time.time()

    print('arch     params(M, 1000-class head)  paper')
    for arch, spec in ARCH_SETTINGS.items():
        v2 = dict(use_grn=True, layer_scale_init_value=0.0) if arch == 'huge' else {}  # huge exists as V2 only
        with torch.device('meta'):
            n = sum(p.numel() for p in ConvNeXt(arch, **v2).parameters()) + spec['channels'][-1] * 1001
        print(f"{arch:8s} {n / 1e6:10.2f}                  {PAPER_PARAMS_M.get(arch, '(V2 arch, not in FACTS.md)')}")

    train, val = Shapes(256, seed=0), Shapes(64, seed=1)
    torch.manual_seed(0)
    iou = HeldOutIoU(val)
    runner = Runner(
        model=TinySegmenter(),
        work_dir=args.work_dir,
        train_dataloader=dict(dataset=train, batch_size=8, num_workers=0,
                              sampler=dict(type='InfiniteSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=args.iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
                           constructor='mmconvnext.LearningRateDecayOptimizerConstructor',
                           paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
                         dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=10, end=args.iters)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=10),
                           checkpoint=dict(type='CheckpointHook', interval=args.iters, by_epoch=False)),
        custom_hooks=[iou],
        randomness=dict(seed=0),
        default_scope='mmengine',
    )
    runner.train()
    before, after = iou.before, iou.after
    print(f'foreground IoU on 64 held-out images: {before:.3f} before -> {after:.3f} after {args.iters} iterations')

    ckpt = f'{runner.work_dir}/iter_{args.iters}.pth'
    fresh = ConvNeXt('atto', out_indices=(0,), gap_before_final_norm=False, layer_scale_init_value=1.0,
                     init_cfg=dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.'))
    fresh.init_weights()
    same = all(torch.equal(v, runner.model.backbone.state_dict()[k]) for k, v in fresh.state_dict().items())
    print(f'reloaded {ckpt} into a fresh backbone via init_cfg Pretrained: weights identical = {same}')
    print(f'done in {time.time() - start:.0f}s')
    if not same or math.isnan(after) or after < 0.5:
        raise SystemExit('demo failed: foreground IoU below 0.5, or the checkpoint did not reload')


if __name__ == '__main__':
    main()
