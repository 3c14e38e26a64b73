"""Deformable skip connection: warp appearance features part by part, mask, max-combine.

Paper §3.2 (Eq. for the deformable skip: ``d(F) = max_h f_h(F) * M_h``) and design doc ``deformable-gan.md``
§3.6, §9.1. Shapes: B batch, P = 10 parts, C channels, h x w the level's resolution.

For each part h the appearance feature map F of the *source* is resampled with the part's affine
(target -> source, so every target location reads its source location), multiplied by the part's
target-space mask, and the 10 results are combined with a max over parts. As in the original, the mask
is multiplied *before* the max, so masked-out parts contribute 0 and the result is clipped at 0 (doc §3.6,
§8.8). Thetas come from :func:`posegan.geometry.affines_to_theta` and are valid at every level because
sampling uses ``align_corners=False`` (doc §9.1 recipe (b)).

How it is computed (issue #14, same output as warp-each-part-then-multiply within float rounding): the P parts'
grids are stacked along the height, so one ``grid_sample`` call on the un-repeated features [B, C, h, w] gives
[B, C, P*h, w], and no per-part copy of the features exists. The masks are binary (:func:`posegan.geometry.part_masks`),
so the multiplication is folded into the sampling: a masked-out target pixel samples far outside the image, where
``padding_mode="zeros"`` gives exactly the 0 the multiplication gave (and the same zero gradients).

Optional learned offsets (our extension, not in the authors' code nor claimed for the paper; off by default): a zero-initialised 3x3 conv on the
pose-stream features of the level predicts a residual (dx, dy) per part and pixel, in normalised grid units,
that is added to the affine grid; :func:`posegan.losses.offset_smoothness` regularises it.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..geometry import NUM_PARTS
from ..utils import assert_shape

# A normalised grid coordinate whose every bilinear/nearest tap lies outside the image at any level (with
# align_corners=False, -4 is pixel -1.5 w - 0.5 <= -2): padding_mode="zeros" samples exactly 0 there.
_OUTSIDE = -4.0


class DeformableSkip(nn.Module):
    def __init__(self, pose_channels: int, mode: str = "bilinear", learned_offsets: bool = False):
        """pose_channels: width of the pose-stream features that drive the offsets (only with learned_offsets);
        mode: ``grid_sample`` interpolation, "bilinear" or "nearest" (the original)."""
        super().__init__()
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"warp mode must be 'bilinear' or 'nearest', got {mode!r}")
        self.mode = mode
        self.offset_head = None
        if learned_offsets:
            self.offset_head = nn.Conv2d(pose_channels, 2 * NUM_PARTS, 3, padding=1)
            nn.init.zeros_(self.offset_head.weight)  # starts as the pure affine warp
            nn.init.zeros_(self.offset_head.bias)

    def forward(self, features: torch.Tensor, theta: torch.Tensor, part_masks: torch.Tensor,
                pose_features: torch.Tensor | None = None):
        """features [B, C, h, w] (source space), theta [B, P, 2, 3], part_masks [B, P, H, W] (target space).

        Returns (combined [B, C, h, w], masks at this level [B, P, h, w], offsets [B, P, h, w, 2] or None).
        """
        warped, masks, offsets = self.warp_parts(features, theta, part_masks, pose_features)
        return warped.amax(dim=2).to(features.dtype), masks, offsets  # zeros take part in the max

    def warp_parts(self, features: torch.Tensor, theta: torch.Tensor, part_masks: torch.Tensor,
                   pose_features: torch.Tensor | None = None):
        """Every part's masked warp, not yet combined: ([B, C, P, h, w] float32, masks [B, P, h, w], offsets)."""
        batch, channels, height, width = features.shape
        assert_shape(theta, (batch, NUM_PARTS, 2, 3), "theta")
        assert_shape(part_masks, (batch, NUM_PARTS, None, None), "part_masks")
        # Nearest resize of the masks picks the top-left pixel of each block, as TF1 did (doc §3.6).
        masks = F.interpolate(part_masks.to(features.dtype), size=(height, width), mode="nearest")  # [B, P, h, w]
        grid, offsets = self._grid(theta, pose_features, batch, height, width)  # [B, P, h, w, 2]
        grid = torch.where(masks[..., None] > 0, grid, _OUTSIDE)  # the mask, folded into the sampling
        warped = F.grid_sample(features.float(), grid.reshape(batch, NUM_PARTS * height, width, 2), mode=self.mode,
                               padding_mode="zeros", align_corners=False)  # [B, C, P*h, w]: all parts, one call
        return warped.view(batch, channels, NUM_PARTS, height, width), masks, offsets

    def _grid(self, theta: torch.Tensor, pose_features: torch.Tensor | None, batch: int, height: int, width: int):
        """Sampling grid [B, P, h, w, 2] of every part (affine, plus the learned offsets [B, P, h, w, 2] if any).

        Built in float32 even under bf16 autocast: bf16 coordinates are off by up to ~0.4 px at 128x64, the
        half-pixel error the design doc warns about (§8.5)."""
        grid = F.affine_grid(theta.reshape(batch * NUM_PARTS, 2, 3).float(), [batch * NUM_PARTS, 1, height, width],
                             align_corners=False).view(batch, NUM_PARTS, height, width, 2)
        if self.offset_head is None:
            return grid, None
        offsets = self.offset_head(pose_features).view(batch, NUM_PARTS, 2, height, width)
        offsets = offsets.permute(0, 1, 3, 4, 2)  # [B, P, h, w, 2]
        return grid + offsets.float(), offsets
