"""Deformable skip connection: warp appearance features part by part, mask, max-combine.

Paper §3.2 (Eq. for the deformable skip: ``d(F) = max_h f_h(F) * M_h``) and design doc ``deformable-gan.md``
§3.6, §9.1. Shapes: B batch, P = 10 parts, C channels, h x w the level's resolution.

For each part h the appearance feature map F of the *source* is resampled with the part's affine
(target -> source, so every target location reads its source location), multiplied by the part's
target-space mask, and the 10 results are combined with a max over parts. As in the original, the mask
is multiplied *before* the max, so masked-out parts contribute 0 and the result is clipped at 0 (doc §3.6,
§8.8). Thetas come from :func:`posegan.geometry.affines_to_theta` and are valid at every level because
sampling uses ``align_corners=False`` (doc §9.1 recipe (b)).

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
        batch, channels, height, width = features.shape
        assert_shape(theta, (batch, NUM_PARTS, 2, 3), "theta")
        assert_shape(part_masks, (batch, NUM_PARTS, None, None), "part_masks")
        # The grid is built and sampled in float32 even under bf16 autocast: bf16 coordinates are off by up to
        # ~0.4 px at 128x64, the half-pixel error the design doc warns about (§8.5).
        grid = F.affine_grid(theta.reshape(batch * NUM_PARTS, 2, 3).float(),
                             [batch * NUM_PARTS, channels, height, width], align_corners=False)  # [B*P, h, w, 2]
        offsets = None
        if self.offset_head is not None:
            offsets = self.offset_head(pose_features).view(batch, NUM_PARTS, 2, height, width)
            offsets = offsets.permute(0, 1, 3, 4, 2)  # [B, P, h, w, 2]
            grid = grid + offsets.reshape(batch * NUM_PARTS, height, width, 2).float()
        repeated = features.float().repeat_interleave(NUM_PARTS, dim=0)  # [B*P, C, h, w]
        warped = F.grid_sample(repeated, grid, mode=self.mode, padding_mode="zeros", align_corners=False)
        warped = warped.to(features.dtype).view(batch, NUM_PARTS, channels, height, width)
        # Nearest resize of the masks picks the top-left pixel of each block, as TF1 did (doc §3.6).
        masks = F.interpolate(part_masks.to(features.dtype), size=(height, width), mode="nearest")  # [B, P, h, w]
        combined = (warped * masks[:, :, None]).amax(dim=1)  # [B, C, h, w]; zeros take part in the max
        return combined, masks, offsets
