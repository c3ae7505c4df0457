"""Self-supervised pre-training of the backbone: FCMAE (ConvNeXt V2's masked autoencoder)."""

from .fcmae import FCMAE, patchify, random_patch_mask, unpatchify

__all__ = ['FCMAE', 'patchify', 'random_patch_mask', 'unpatchify']
