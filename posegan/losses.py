"""Training losses of Deformable GAN (paper §4; design doc ``deformable-gan.md`` §5).

* adversarial: the non-saturating GAN loss on patch logits (BCE with logits, numerically safer than
  sigmoid + log(.+1e-7), otherwise equal, doc §9.3);
* nearest-neighbour loss on VGG19 conv1_2 (:mod:`posegan.nn_loss`), the paper's main reconstruction term;
* perceptual loss: L1 between VGG19 features of generated and real target ("PercLoss" ablation, doc §5.2);
* pixel L1; offset smoothness: total variation of the learned offset fields (our extension, not the paper's).
Weights come from :class:`~posegan.config.LossConfig`; a weight of 0 skips the term.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import LossConfig
from .networks.vgg import DEFAULT_WEIGHTS, VGG19Features
from .nn_loss import nearest_neighbour_loss


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"D/real": F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)),
            "D/fake": F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))}


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: -log D(G(.)), averaged over batch and patches."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def offset_smoothness(offsets: list[torch.Tensor]) -> torch.Tensor:
    """Mean absolute difference between neighbouring offsets, summed over levels; offsets [B, P, h, w, 2]."""
    total = torch.zeros(())
    for field in offsets:
        total = total + (field[:, :, 1:] - field[:, :, :-1]).abs().mean() + (field[:, :, :, 1:] - field[:, :, :, :-1]).abs().mean()
    return total


class ReconstructionLoss(nn.Module):
    """Weighted non-adversarial generator terms; returns {"G/<name>": weighted loss} for the terms switched on."""

    def __init__(self, cfg: LossConfig, vgg_weights=DEFAULT_WEIGHTS):
        super().__init__()
        self.cfg = cfg
        layers = ([cfg.nn_layer] if cfg.nearest_neighbour > 0 else []) + (cfg.perceptual_layers if cfg.perceptual > 0 else [])
        self.vgg = VGG19Features(layers, vgg_weights) if layers else None

    def forward(self, generated: torch.Tensor, target: torch.Tensor, offsets=()) -> dict[str, torch.Tensor]:
        cfg, losses = self.cfg, {}
        if self.vgg is not None:
            fake_features = self.vgg(generated)
            with torch.no_grad():
                real_features = self.vgg(target)
            if cfg.nearest_neighbour > 0:
                losses["G/nn"] = cfg.nearest_neighbour * nearest_neighbour_loss(
                    fake_features[cfg.nn_layer], real_features[cfg.nn_layer], cfg.nn_window)
            if cfg.perceptual > 0:
                losses["G/perceptual"] = cfg.perceptual * sum(
                    F.l1_loss(fake_features[name], real_features[name]) for name in cfg.perceptual_layers)
        if cfg.l1 > 0:
            losses["G/l1"] = cfg.l1 * F.l1_loss(generated, target)
        if cfg.offset_smoothness > 0 and offsets:
            losses["G/offset_tv"] = cfg.offset_smoothness * offset_smoothness(list(offsets))
        return losses
