"""Nearest-neighbour loss (paper §4.2, Eq. "L_NN"; design doc ``deformable-gan.md`` §5.3, §9.2).

    L_NN(x_hat, x_b) = mean_p  min_{q in N(p)}  || Phi(x_hat)(p) - Phi(x_b)(q) ||_1

Phi = VGG19 conv1_2 after ReLU; N(p) = the n x n neighbourhood (n = 3 for Market) of p in the *real target's*
features. Each generated location searches the target's neighbourhood, never the reverse; the distance is
L1 over the channel vector, then min over offsets, then mean over batch and positions. The target is padded
with a large negative constant so out-of-image neighbours never win (doc §8.6). The weight (0.01) is
applied by the caller.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .utils import assert_shape

PAD_VALUE = -1e4


def nearest_neighbour_loss(generated: torch.Tensor, target: torch.Tensor, window: int = 3) -> torch.Tensor:
    """generated, target: feature maps [B, C, H, W]; gradients flow into ``generated`` only."""
    assert_shape(target, tuple(generated.shape), "target features")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    batch, channels, height, width = generated.shape
    radius = window // 2
    padded = F.pad(target.detach(), (radius, radius, radius, radius), value=PAD_VALUE)  # [B, C, H+2r, W+2r]
    distances = torch.stack([
        (padded[:, :, dy:dy + height, dx:dx + width] - generated).abs().sum(dim=1)  # [B, H, W]
        for dy in range(window) for dx in range(window)])  # [n*n, B, H, W]
    return distances.min(dim=0).values.mean()
