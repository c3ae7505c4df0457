"""Global Response Normalization (ConvNeXt V2, https://arxiv.org/abs/2301.00808).

Not in mmcv or mmengine; parameter names ``gamma``/``beta`` of shape ``(C,)`` follow
mmpretrain so its checkpoints load without renaming.
"""

import torch
import torch.nn as nn


class GRN(nn.Module):
    """``gamma * (x * N(x)) + beta + x`` with ``N(x) = G(x) / mean_c G(x)``, ``G`` the
    per-channel L2 norm over the spatial dimensions.

    The norms are computed in fp32 whatever the input dtype (as autocast keeps norms in
    fp32): the sum of squares over a feature map exceeds fp16's range (65504) for
    activations of a few units over 64x64 positions. Eager PyTorch's fp16 reductions
    accumulate in fp32 internally, but a traced or exported graph need not; the explicit
    cast makes every backend compute the same. ``N(x)`` is a ratio near 1, cast back to
    the input's dtype.

    Args:
        in_channels: number of channels ``C``.
        eps: added to the denominator.
    """

    def __init__(self, in_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(in_channels))
        self.beta = nn.Parameter(torch.zeros(in_channels))

    def forward(self, x: torch.Tensor, data_format: str = 'channel_last') -> torch.Tensor:
        if data_format == 'channel_last':  # (N, H, W, C)
            gx = torch.norm(x.float(), p=2, dim=(1, 2), keepdim=True)  # (N, 1, 1, C)
            nx = (gx / (gx.mean(dim=-1, keepdim=True) + self.eps)).to(x.dtype)
            return self.gamma * (x * nx) + self.beta + x
        if data_format == 'channel_first':  # (N, C, H, W)
            gx = torch.norm(x.float(), p=2, dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
            nx = (gx / (gx.mean(dim=1, keepdim=True) + self.eps)).to(x.dtype)
            return self.gamma.view(1, -1, 1, 1) * (x * nx) + self.beta.view(1, -1, 1, 1) + x
        raise ValueError(f"data_format must be 'channel_first' or 'channel_last', got {data_format!r}")
