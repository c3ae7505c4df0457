from .convnext import ARCH_SETTINGS, ConvNeXt, ConvNeXtBlock

__all__ = ['ARCH_SETTINGS', 'ConvNeXt', 'ConvNeXtBlock']
