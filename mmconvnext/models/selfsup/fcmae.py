"""FCMAE: ConvNeXt V2's fully convolutional masked autoencoder, without sparse convolution.

Woo et al., "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders",
CVPR 2023, https://arxiv.org/abs/2301.00808, Section 3. The official PyTorch encoder is a
MinkowskiEngine sparse network (an install many cannot get to work); the paper notes, and
the official JAX model does, that sparse convolution over the visible patches equals a
dense convolution whose input and output are masked. This module takes that route with
the project's one backbone (:class:`~mmconvnext.models.backbones.ConvNeXt`, V2: GRN, no
layer scale) as the encoder, unchanged: forward pre-hooks zero the masked positions

- of every block's input (so its 7x7 depthwise conv reads only visible positions; the
  block's other layers act per position, and the residual carries zeros), and
- of every GRN's input (so its global L2 statistics are those of the visible positions,
  as the sparse GRN's are over the active sites).

The stem (4x4, stride 4) and the downsampling convs (2x2, stride 2) tile the image without
overlap, and the mask is drawn on the last stage's 32-pixel grid, so they never mix a
masked patch into a visible one. Nothing of a masked patch reaches a visible position of
any stage (tests/test_models/test_fcmae.py changes masked pixels and compares).

No installable library has this (mmpretrain's SparK is another method; timm has no FCMAE),
so it is written here; the hooks are the only addition to the backbone, and they are
no-ops while no mask is set.

The decoder (a 1x1 projection, the mask token, ``decoder_depth`` ConvNeXt V2 blocks and a
1x1 prediction of each patch's pixels) and the loss (mean squared error over the masked
patches, per-patch normalised targets) follow the paper. Parameter names are the official
model's (``proj``, ``mask_token``, ``decoder``, ``pred``) beside the encoder's
``backbone.``, so :mod:`mmconvnext.checkpoint` loads this model's checkpoints, like the
official ``*_fcmae.pt``, into any dense or classification config's backbone.
"""

import zlib
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from mmconvnext.registry import MODELS

from ..backbones.convnext import ConvNeXt, ConvNeXtBlock
from ..layers import GRN

__all__ = ['FCMAE', 'random_patch_mask', 'patchify', 'unpatchify']


def random_patch_mask(
    n: int, grid: tuple[int, int], ratio: float, generator: Optional[torch.Generator] = None, device=None
) -> torch.Tensor:
    """(n, h, w) float mask over a patch grid, 1 = removed: ``int(h * w * (1 - ratio))``
    patches of each image are kept, chosen uniformly at random (the paper's random masking)."""
    h, w = grid
    num = h * w
    keep = int(num * (1 - ratio))
    noise = torch.rand(n, num, generator=generator, device=device if generator is None else generator.device)
    order = noise.argsort(dim=1)
    mask = torch.ones(n, num, device=noise.device)
    mask.scatter_(1, order[:, :keep], 0.0)
    return mask.view(n, h, w).to(device) if device is not None else mask.view(n, h, w)


def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, H/p * W/p, p * p * C): each patch's pixels, row-major, channels last."""
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(n, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, p: int, grid: tuple[int, int], channels: int = 3) -> torch.Tensor:
    """The inverse of :func:`patchify` for a ``grid`` of (h, w) patches."""
    n = patches.shape[0]
    h, w = grid
    x = patches.reshape(n, h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, channels, h * p, w * p)


def _mask_like(mask: torch.Tensor, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``mask`` (N, h, w) resized (nearest: each patch to a square of positions) to ``x``'s
    spatial size and shaped to broadcast over it: (N, 1, H, W), or (N, H, W, 1)."""
    size = x.shape[1:3] if channels_last else x.shape[2:4]
    m = mask
    if tuple(m.shape[1:]) != tuple(size):
        sh, sw = size[0] // m.shape[1], size[1] // m.shape[2]
        if sh * m.shape[1] != size[0] or sw * m.shape[2] != size[1]:
            raise ValueError(
                f'FCMAE: a {tuple(size)} feature map is no whole multiple of the {tuple(m.shape[1:])} mask'
            )
        m = m.repeat_interleave(sh, dim=1).repeat_interleave(sw, dim=2)
    m = m.to(x.dtype)
    return m.unsqueeze(-1) if channels_last else m.unsqueeze(1)


class _SparseEmulation:
    """Forward pre-hooks on an encoder's blocks and GRNs that zero the masked positions of
    their inputs while :attr:`mask` (N, h, w; 1 = removed) is set. The mask stays set
    after the forward pass on purpose: activation checkpointing (``with_cp``) replays the
    blocks in the backward pass, and the replay must see the same mask."""

    def __init__(self, encoder: nn.Module) -> None:
        self.mask: Optional[torch.Tensor] = None
        self.handles: dict[str, list] = {'block': [], 'grn': []}
        for module in encoder.modules():
            if isinstance(module, ConvNeXtBlock):
                self.handles['block'].append(module.register_forward_pre_hook(self._block_input))
            elif isinstance(module, GRN):
                self.handles['grn'].append(module.register_forward_pre_hook(self._grn_input, with_kwargs=True))

    def _visible(self, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
        return x * (1.0 - _mask_like(self.mask, x, channels_last))

    def _block_input(self, module: nn.Module, args: tuple) -> Optional[tuple]:
        if self.mask is None:
            return None
        return (self._visible(args[0], channels_last=False), *args[1:])

    def _grn_input(self, module: nn.Module, args: tuple, kwargs: dict) -> Optional[tuple]:
        if self.mask is None:
            return None
        fmt = kwargs.get('data_format', args[1] if len(args) > 1 else 'channel_last')
        x = self._visible(args[0], channels_last=fmt == 'channel_last')
        return (x, *args[1:]), kwargs


@MODELS.register_module()
class FCMAE(BaseModel):
    """Fully convolutional masked autoencoder pre-training of a ConvNeXt (V2) encoder.

    Args:
        backbone: config of the encoder, a ``mmconvnext.ConvNeXt`` (V2: ``use_grn=True``,
            ``layer_scale_init_value=0``). Its stages run without their output norms.
        decoder_depth: ConvNeXt V2 blocks in the decoder (paper: 1).
        decoder_embed_dim: the decoder's width (paper: 512).
        patch_size: side of a masked patch in pixels, the encoder's total stride (32 for
            four stages with a 4x4 stem).
        mask_ratio: fraction of the patches removed (paper: 0.6).
        norm_pix_loss: targets are each patch's pixels normalised by the patch's mean and
            variance (paper: on).
        data_preprocessor: the batch preparation; default normalises as for ImageNet
            (``mmconvnext.ClsDataPreprocessor`` without augmentations).
        val_seed: validation masks are drawn from a generator seeded with this and a
            hash of the image's path, so each image gets the same mask every validation.
        init_cfg: mmengine init config.

    ``mode='loss'`` returns ``{'loss': ...}``; ``mode='predict'`` returns one data sample
    per image with ``loss`` (its masked-patch loss), ``mask`` (h, w), ``input_img`` (the
    normalised input) and ``pred_img`` (the reconstruction in the same space, visible
    patches taken from the input), which the ``mmconvnext.ReconstructionLoss`` metric and the
    ``mmconvnext.ReconstructionVisualizationHook`` read; ``mode='tensor'`` the raw
    (N, p*p*C, h, w) prediction.
    """

    def __init__(
        self,
        backbone: dict,
        decoder_depth: int = 1,
        decoder_embed_dim: int = 512,
        patch_size: int = 32,
        mask_ratio: float = 0.6,
        norm_pix_loss: bool = True,
        data_preprocessor: Optional[dict] = None,
        val_seed: int = 0,
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='mmconvnext.ClsDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f'FCMAE: mask_ratio must be in (0, 1), got {mask_ratio!r}')
        if decoder_depth < 0 or decoder_embed_dim < 1:
            raise ValueError(
                f'FCMAE: decoder_depth must be >= 0 and decoder_embed_dim >= 1, '
                f'got {decoder_depth} and {decoder_embed_dim}'
            )
        backbone = dict(backbone)
        backbone.setdefault('type', 'mmconvnext.ConvNeXt')
        backbone.setdefault('gap_before_final_norm', False)
        self.backbone = MODELS.build(backbone)
        if not isinstance(self.backbone, ConvNeXt):
            raise TypeError(f'FCMAE: backbone must be a mmconvnext.ConvNeXt, got {type(self.backbone).__name__}')
        stride = self.backbone.downsample_layers[0][0].stride[0] * 2 ** (self.backbone.num_stages - 1)
        if patch_size != stride:
            raise ValueError(
                f"FCMAE: patch_size {patch_size} must equal the encoder's total stride {stride} "
                "(the mask is drawn on the last stage's grid)"
            )
        # the encoder runs its stages only (encode()): the output norms of a dense or classification
        # backbone would get no gradient here (distributed training refuses unused parameters)
        for i in self.backbone.out_indices:
            setattr(self.backbone, f'norm{i}', None)
        self.patch_size = patch_size
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.val_seed = val_seed
        self.in_channels = self.backbone.downsample_layers[0][0].in_channels
        self._sparse = _SparseEmulation(self.backbone)

        encoder_dim = self.backbone.channels[-1]
        self.proj = nn.Conv2d(encoder_dim, decoder_embed_dim, kernel_size=1)
        self.mask_token = nn.Parameter(torch.zeros(1, decoder_embed_dim, 1, 1))
        self.decoder = nn.Sequential(
            *[ConvNeXtBlock(decoder_embed_dim, layer_scale_init_value=0.0, use_grn=True) for _ in range(decoder_depth)]
        )
        self.pred = nn.Conv2d(decoder_embed_dim, patch_size**2 * self.in_channels, kernel_size=1)

    def init_weights(self) -> None:
        # The encoder's own init, and the same for the decoder: truncated normal (std 0.02)
        # weights, zero biases, a normal (std 0.02) mask token. (The official model re-inits
        # its dense convs and sparse linears with std 1.0 and leaves the decoder's Linear
        # layers at PyTorch's default; this model does not copy that.)
        super().init_weights()
        if self.init_cfg is None:
            for m in [self.proj, self.pred, *self.decoder.modules()]:
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
            nn.init.normal_(self.mask_token, std=0.02)

    # ------------------------------------------------------------------ pieces
    def grid(self, images: torch.Tensor) -> tuple[int, int]:
        h, w = images.shape[-2:]
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f'FCMAE: input {h}x{w} is not a multiple of patch_size {p} (crop to a multiple)')
        return h // p, w // p

    def encode(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The encoder over the visible patches: (N, C, H, W) -> (N, C_last, h, w), zero
        at the masked patches (the stages without their output norms)."""
        self._sparse.mask = mask
        x = images
        for downsample, stage in zip(self.backbone.downsample_layers, self.backbone.stages):
            x = stage(downsample(x))
        return x * (1.0 - _mask_like(mask, x, channels_last=False))

    def decode(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mask tokens at the removed patches, the decoder blocks, the pixel prediction:
        (N, p*p*C, h, w)."""
        x = self.proj(features)
        m = _mask_like(mask, x, channels_last=False)
        x = x * (1.0 - m) + self.mask_token.to(x.dtype) * m
        return self.pred(self.decoder(x))

    def targets(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, L, p*p*C) targets and each patch's mean and std (ones/zeros without norm_pix_loss)."""
        target = patchify(images.float(), self.patch_size)
        if not self.norm_pix_loss:
            return target, torch.zeros_like(target[..., :1]), torch.ones_like(target[..., :1])
        mean = target.mean(dim=-1, keepdim=True)
        std = (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
        return (target - mean) / std, mean, std

    def per_patch_loss(self, pred: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """(N, L) mean squared error of each patch (in fp32)."""
        n = pred.shape[0]
        pred = pred.float().flatten(2).transpose(1, 2)  # (N, L, p*p*C), row-major patches
        target, _, _ = self.targets(images)
        return (pred - target).pow(2).mean(dim=-1).view(n, -1)

    def _forward_masked(self, images: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pred = self.decode(self.encode(images, mask), mask)
        return pred, self.per_patch_loss(pred, images)

    # ------------------------------------------------------------------ BaseModel
    def forward(self, inputs: torch.Tensor, data_samples: Optional[Sequence] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            mask = random_patch_mask(inputs.shape[0], self.grid(inputs), self.mask_ratio, device=inputs.device)
            return self.decode(self.encode(inputs, mask), mask)
        raise RuntimeError(f'FCMAE: invalid mode {mode!r} (loss, predict or tensor)')

    def loss(self, inputs: torch.Tensor, data_samples: Optional[Sequence] = None) -> dict:
        mask = random_patch_mask(inputs.shape[0], self.grid(inputs), self.mask_ratio, device=inputs.device)
        _, loss = self._forward_masked(inputs, mask)
        flat = mask.flatten(1)
        return {'loss': (loss * flat).sum() / flat.sum()}

    def validation_masks(self, inputs: torch.Tensor, data_samples: Optional[Sequence]) -> torch.Tensor:
        """One mask per image from a generator seeded with ``val_seed`` and the image's path
        (its index in the batch without one): the same image, the same mask, every time."""
        grid = self.grid(inputs)
        masks = []
        for i in range(inputs.shape[0]):
            path = ''
            if data_samples is not None and i < len(data_samples):
                path = str(data_samples[i].metainfo.get('img_path', ''))
            gen = torch.Generator().manual_seed(self.val_seed * 1_000_003 + zlib.crc32((path or str(i)).encode()))
            masks.append(random_patch_mask(1, grid, self.mask_ratio, generator=gen))
        return torch.cat(masks).to(inputs.device)

    def pixels(self, pred: torch.Tensor, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The prediction (N, p*p*C, h, w) as an image (N, C, H, W) in the input's scale (the
        normalised targets mapped back with each patch's mean and std)."""
        _, mean, std = self.targets(inputs)
        patches = pred.float().flatten(2).transpose(1, 2) * std + mean
        return unpatchify(patches, self.patch_size, tuple(mask.shape[1:]), self.in_channels)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: Optional[Sequence] = None) -> list:
        mask = self.validation_masks(inputs, data_samples)
        pred, loss = self._forward_masked(inputs, mask)
        recon = self.pixels(pred, inputs, mask)
        full = _mask_like(mask, recon, channels_last=False)
        pasted = inputs.float() * (1.0 - full) + recon * full  # visible patches from the input
        flat = mask.flatten(1)
        results = []
        for i in range(inputs.shape[0]):
            sample = data_samples[i] if data_samples is not None else BaseDataElement()
            sample.set_field(((loss[i] * flat[i]).sum() / flat[i].sum()).cpu(), 'loss')
            sample.set_field(mask[i].cpu(), 'mask')
            sample.set_field(inputs[i].float().cpu(), 'input_img')
            sample.set_field(pasted[i].cpu(), 'pred_img')
            results.append(sample)
        return results
