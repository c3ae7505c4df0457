"""ConvNeXt as a feature pyramid from this package or from the implementations a user would pick instead."""

import torch

__all__ = ['PEERS', 'pyramid_backbone']

#: the implementations a user would pick instead (importable where `make peers` installed them)
PEERS = ('timm', 'mmpretrain')


def pyramid_backbone(impl: str, arch: str, **kwargs) -> torch.nn.Module:
    """ConvNeXt-``arch`` as a 4-level feature pyramid (as detection and segmentation use
    it) from ``impl``: ``'mmconvnext'`` (``kwargs`` go to its constructor), ``'timm'``
    (``features_only``) or ``'mmpretrain'``. The peers raise ImportError where absent."""
    if impl == 'mmconvnext':
        from mmconvnext.models import ConvNeXt

        return ConvNeXt(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, **kwargs)
    if impl == 'timm':
        import timm

        return timm.create_model(f'convnext_{arch}', pretrained=False, features_only=True, **kwargs)
    if impl == 'mmpretrain':
        from mmpretrain.models.backbones.convnext import ConvNeXt as MMPretrainConvNeXt

        return MMPretrainConvNeXt(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, **kwargs)
    raise ValueError(f"impl must be 'mmconvnext', 'timm' or 'mmpretrain', got {impl!r}")
