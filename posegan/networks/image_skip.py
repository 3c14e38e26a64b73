"""Image skip: the deformable skip of paper §3.2 taken down to the pixels, as an output head (our extension).

Issue #13 measured that the generator's outputs lack the texture of real photos (FID against the training set 88
where the source photos score 17), while the source photo holds exactly that texture, already aligned part by part
by the affines of the deformable skips. This head lets every output pixel take it:

    warped_k = M_k * f_k(x_a)                      the source image warped by part k's affine, masked (k = 0..P-1)
    a        = softmax_k'(logits_k'),  k' = 0..P   one logit per part and one for the generated colour (k' = P);
                                                   a part whose target mask is 0 at a pixel is not a choice there
    x_hat    = sum_k a_k warped_k + a_P rgb        rgb: the decoder's own tanh colour (the paper's output layer)

The logits come from a 3x3 conv on the decoder's last features (the same input as the RGB conv). Its weights start
at zero and the parts' biases at ``PART_BIAS`` = -1 against 0 for the generated colour, so a fine-tuned generator
starts from a blend (where the torso and one limb cover a pixel, 1 / (1 + 2 e^-1) = 58 % of it is its own colour) and
its losses move each pixel's choice from there. Started at -3 (90 % its own colour) the head hardly moved in 1,000
steps: Adam's steps of about 2e-4 barely shift a bias (``results/recipes-imageskip/``). Not in the authors' code nor
claimed for the paper; off by default (``model.image_skip``).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..geometry import NUM_PARTS
from ..utils import assert_shape
from .deformable_skip import DeformableSkip

PART_BIAS = -1.0  # initial logit of every part against 0 for the generated colour
_EXCLUDED = -1e4  # logit of a part that does not cover a pixel: exp() is exactly 0 in float32


class ImageSkip(nn.Module):
    def __init__(self, in_channels: int, mode: str = "bilinear"):
        """in_channels: width of the decoder's last features; mode: the warp's interpolation, as in the skips."""
        super().__init__()
        self.warp = DeformableSkip(0, mode)  # no learned offsets: the part warp alone, no parameters
        self.logits = nn.Conv2d(in_channels, NUM_PARTS + 1, 3, padding=1)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.logits.weight)
        with torch.no_grad():
            self.logits.bias.copy_(torch.tensor([PART_BIAS] * NUM_PARTS + [0.0]))

    def forward(self, features: torch.Tensor, rgb: torch.Tensor, source_image: torch.Tensor, theta: torch.Tensor,
                part_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features [B, C, H, W] (decoder, ReLU applied), rgb [B, 3, H, W] (generated colour in [-1, 1]),
        source_image [B, 3, H, W], theta [B, P, 2, 3], part_masks [B, P, H, W].

        Returns (image [B, 3, H, W] in [-1, 1], attention [B, P + 1, H, W]: parts first, generated last; sums to 1)."""
        batch, _, height, width = rgb.shape
        assert_shape(features, (batch, None, height, width), "features")
        assert_shape(source_image, (batch, 3, height, width), "source_image")
        warped, masks, _ = self.warp.warp_parts(source_image, theta, part_masks)  # [B, 3, P, H, W], [B, P, H, W]
        logits = self.logits(features).float()
        covered = torch.cat([masks > 0, masks.new_ones(batch, 1, height, width, dtype=torch.bool)], dim=1)
        attention = F.softmax(torch.where(covered, logits, _EXCLUDED), dim=1)  # [B, P + 1, H, W]
        image = (warped * attention[:, None, :NUM_PARTS]).sum(dim=2) + rgb.float() * attention[:, NUM_PARTS:]
        return image.to(rgb.dtype), attention
