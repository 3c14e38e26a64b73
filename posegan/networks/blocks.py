"""Building blocks shared by the generator and discriminator (design doc ``deformable-gan.md`` §4.1, §4.3).

Pre-activation U-Net ordering as in pix2pix: activation -> (transposed) conv 4x4 stride 2 -> norm -> dropout.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm2d(nn.Module):
    """The authors' "InstanceNormalization" (keras-contrib, axis=None): per-sample normalisation over
    (C, H, W) with one scalar gain and bias (doc §4.3, §8.10); no running statistics, so train = eval."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, 1, eps=self.eps) * self.weight + self.bias


def down_block(in_channels: int, out_channels: int, norm: bool = True) -> nn.Sequential:
    """LeakyReLU(0.2) -> Conv 4x4/2 (no bias) -> [norm]: halves H and W."""
    layers = [nn.LeakyReLU(0.2), nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)]
    if norm:
        layers.append(LayerNorm2d())
    return nn.Sequential(*layers)


def up_block(in_channels: int, out_channels: int, dropout: float = 0.0) -> nn.Sequential:
    """ReLU -> ConvTranspose 4x4/2 (no bias) -> norm -> [dropout]: doubles H and W."""
    layers = [nn.ReLU(), nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
              LayerNorm2d()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """Keras defaults, as in the original: Glorot-uniform kernels, zero biases (doc §4.1)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
