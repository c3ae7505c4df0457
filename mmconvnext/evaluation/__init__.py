"""Metrics in the mmconvnext scope (the METRICS registry reaches this package lazily by
its location)."""

from .metrics import Accuracy, ReconstructionLoss

__all__ = ['Accuracy', 'ReconstructionLoss']
