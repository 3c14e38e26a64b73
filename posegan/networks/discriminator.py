"""Conditional patch discriminator of Deformable GAN (paper §4, design doc ``deformable-gan.md`` §4.4).

Input: concat(source image, source heatmap, candidate image, target heatmap) = 3 + 18 + 3 + 18 = 42 channels
at 128x64; the candidate is the real target or the generated image. Output: logits [B, 3] for 3 vertical
patches (the first conv is unpadded, so 128x64 -> 63x31 -> 31x15 -> 15x7 -> 7x3 -> 3x1); [B, 3 + 21] with the
local head.

Options beyond the paper: ``model.discriminator_spectral_norm``, spectral normalisation of every conv (Miyato et
al., ICLR 2018), which bounds D's Lipschitz constant so its gradients stay informative for G;
``model.discriminator_local_head``, a second scale: a 1x1 conv on the last inner activation gives one more logit
per 7x3 cell (its convolutions see 46x46 pixels; only the per-sample normalisation spans the image), so D also
judges local texture, as a PatchGAN does (Isola et al., CVPR 2017), beside the paper's 3 global patches.
``features=True`` also returns the activations after each stride-2 block, for the feature-matching loss of
pix2pixHD.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import ModelConfig
from ..keypoints import NUM_JOINTS
from ..utils import assert_shape
from .blocks import down_block, init_weights


class Discriminator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        widths = cfg.discriminator_channels
        in_channels = 2 * (3 + NUM_JOINTS)
        layers = [nn.Conv2d(in_channels, widths[0], 4, stride=2, padding=0, bias=True)]  # 'valid', with bias
        layers += [down_block(a, b) for a, b in zip(widths[:-1], widths[1:])]
        layers += [nn.LeakyReLU(0.2), nn.Conv2d(widths[-1], 1, 4, stride=2, padding=1, bias=False)]
        self.net = nn.Sequential(*layers)
        self.num_inner = len(widths)  # the first conv and each down block give the feature-matching activations
        self.local_head = (nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(widths[-1], 1, 1, bias=False))
                           if cfg.discriminator_local_head else None)
        init_weights(self)
        if cfg.discriminator_spectral_norm:
            for module in list(self.modules()):
                if isinstance(module, nn.Conv2d):
                    spectral_norm(module)

    def forward(self, source_image, source_heatmap, image, target_heatmap, features: bool = False):
        """Logits [B, P'] (P' = 3 patches at 128x64, + 21 with the local head) for ``image`` being a real view of the
        target pose; with ``features``, (logits, [activations after the first conv and each down block])."""
        batch, _, height, width = image.shape
        for name, t, c in (("source_image", source_image, 3), ("source_heatmap", source_heatmap, NUM_JOINTS),
                           ("image", image, 3), ("target_heatmap", target_heatmap, NUM_JOINTS)):
            assert_shape(t, (batch, c, height, width), name)
        x = torch.cat([source_image, source_heatmap, image, target_heatmap], dim=1)  # [B, 42, H, W]
        inner = []
        for index, layer in enumerate(self.net):
            x = layer(x)
            if index < self.num_inner:
                inner.append(x)
        logits = x.flatten(1)
        if self.local_head is not None:
            logits = torch.cat([logits, self.local_head(inner[-1]).flatten(1)], dim=1)
        return (logits, inner) if features else logits
