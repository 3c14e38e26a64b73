"""Training losses of Deformable GAN (paper §4; design doc ``deformable-gan.md`` §5).

* adversarial (``loss.gan_type``): the paper's non-saturating GAN loss on patch logits ("bce": BCE with logits,
  numerically safer than sigmoid + log(.+1e-7), otherwise equal, doc §9.3), or the hinge loss (Lim & Ye 2017, as in
  SAGAN / BigGAN) or least squares (Mao et al. 2017);
* feature matching: L1 between D's inner activations on the real and the generated image (pix2pixHD);
* nearest-neighbour loss on VGG19 conv1_2 (:mod:`posegan.nn_loss`), the paper's main reconstruction term;
* perceptual loss: L1 between VGG19 features of generated and real target ("PercLoss" ablation, doc §5.2);
* style loss: L1 between Gram matrices of VGG19 features (Gatys et al.; the texture term of GFLA and DPTN);
* SSIM loss: 1 - SSIM of generated and target (Gaussian window σ 1.5, the evaluation's SSIM as a differentiable
  term; our addition, aimed at the SSIM / mask-SSIM the field reports);
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
from .utils import native_bf16


GAN_TYPES = ("bce", "hinge", "lsgan")


def _check_gan_type(gan_type: str) -> None:
    if gan_type not in GAN_TYPES:
        raise ValueError(f"gan_type must be one of {', '.join(GAN_TYPES)}, got {gan_type!r}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, gan_type: str = "bce") -> dict[str, torch.Tensor]:
    """D's loss on real and generated patch logits, each averaged over batch and patches."""
    _check_gan_type(gan_type)
    if gan_type == "hinge":
        return {"D/real": F.relu(1.0 - real_logits).mean(), "D/fake": F.relu(1.0 + fake_logits).mean()}
    if gan_type == "lsgan":
        return {"D/real": (real_logits - 1.0).square().mean(), "D/fake": fake_logits.square().mean()}
    return {"D/real": F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)),
            "D/fake": F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))}


def generator_adversarial_loss(fake_logits: torch.Tensor, gan_type: str = "bce") -> torch.Tensor:
    """G's adversarial loss: -log D(G(.)) ("bce", non-saturating), -D(G(.)) ("hinge") or (D(G(.)) - 1)^2 ("lsgan")."""
    _check_gan_type(gan_type)
    if gan_type == "hinge":
        return -fake_logits.mean()
    if gan_type == "lsgan":
        return (fake_logits - 1.0).square().mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def feature_matching_loss(real_features: list[torch.Tensor], fake_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean over D's layers of the L1 distance between its activations on real (held fixed) and generated images."""
    return sum(F.l1_loss(fake, real.detach()) for real, fake in zip(real_features, fake_features)) / len(real_features)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C] channel correlations, normalised by C*H*W (computed in float32)."""
    batch, channels, height, width = features.shape
    flat = features.float().reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


def ssim_loss(generated: torch.Tensor, target: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """1 - mean SSIM over channels and the fully covered windows, as ``skimage.metrics.structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` computes it on 8-bit images
    (:mod:`posegan.metrics.ssim`); images [B, C, H, W] in [-1, 1]."""
    radius = int(3.5 * sigma + 0.5)  # skimage's truncate=3.5: an 11x11 window at sigma 1.5
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    taps = taps / taps.sum()
    channels = generated.shape[1]
    window = (taps[:, None] * taps[None, :]).expand(channels, 1, -1, -1).to(generated.device)
    x, y = (generated.float() + 1) / 2, (target.float() + 1) / 2  # SSIM's luminance term is not shift-invariant:
    # it compares local means as they are in [0, 255] (here [0, 1]), not centred on 0

    def mean(image: torch.Tensor) -> torch.Tensor:  # local means over the windows inside the image, as skimage keeps
        return F.conv2d(image, window, groups=channels)

    mu_x, mu_y = mean(x), mean(y)
    var_x, var_y, cov = mean(x * x) - mu_x ** 2, mean(y * y) - mu_y ** 2, mean(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2  # data range 1
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return 1 - ssim_map.mean()


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
        layers = (([cfg.nn_layer] if cfg.nearest_neighbour > 0 else [])
                  + (cfg.perceptual_layers if cfg.perceptual > 0 else []) + (cfg.style_layers if cfg.style > 0 else []))
        self.vgg = VGG19Features(layers, vgg_weights) if layers else None

    def vgg_features(self, generated: torch.Tensor, target: torch.Tensor):
        """(generated, target) VGG features as float32, the target's without autograd; under bf16 autocast on the
        images' device with ``vgg_bf16`` where that device runs bf16 natively (else float32: emulated bf16 is many
        times slower)."""
        device = generated.device.type
        with torch.autocast(device, dtype=torch.bfloat16, enabled=self.cfg.vgg_bf16 and native_bf16(device)):
            fake_features = self.vgg(generated)
            with torch.no_grad():
                real_features = self.vgg(target)
        return ({n: f.float() for n, f in fake_features.items()}, {n: f.float() for n, f in real_features.items()})

    def forward(self, generated: torch.Tensor, target: torch.Tensor, offsets=()) -> dict[str, torch.Tensor]:
        cfg, losses = self.cfg, {}
        if self.vgg is not None:
            fake_features, real_features = self.vgg_features(generated, target)
            if cfg.nearest_neighbour > 0:
                losses["G/nn"] = cfg.nearest_neighbour * nearest_neighbour_loss(
                    fake_features[cfg.nn_layer], real_features[cfg.nn_layer], cfg.nn_window)
            if cfg.perceptual > 0:
                losses["G/perceptual"] = cfg.perceptual * sum(
                    F.l1_loss(fake_features[name], real_features[name]) for name in cfg.perceptual_layers)
            if cfg.style > 0:
                losses["G/style"] = cfg.style * sum(
                    F.l1_loss(gram_matrix(fake_features[name]), gram_matrix(real_features[name]))
                    for name in cfg.style_layers)
        if cfg.ssim > 0:
            losses["G/ssim"] = cfg.ssim * ssim_loss(generated, target)
        if cfg.l1 > 0:
            losses["G/l1"] = cfg.l1 * F.l1_loss(generated, target)
        if cfg.offset_smoothness > 0 and offsets:
            losses["G/offset_tv"] = cfg.offset_smoothness * offset_smoothness(list(offsets))
        return losses
